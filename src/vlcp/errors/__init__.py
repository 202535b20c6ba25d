"""User-facing errors: the CLI prints their message and exits 2, no traceback (``vlcp.errors.boundary`` does that)."""


class VlcpError(Exception):
    """Bad input or settings; the message names the file or setting at fault."""
