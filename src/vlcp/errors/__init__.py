"""User-facing errors: the CLI prints their message and exits 2, no traceback (``vlcp.errors.boundary`` does that)."""


class VlcpError(Exception):
    """Bad input or settings; the message names the file or setting at fault."""


def warn(message: str) -> None:
    """Print ``warning: <message>`` as one line on stderr: something the user should know that does not stop
    the stage (the message names the file or setting, as an error's does)."""
    import sys

    line = " ".join(str(message).split())
    print(f"warning: {line}", file=sys.stderr, flush=True)
