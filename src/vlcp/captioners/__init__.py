"""Captioners: a registry of image → text describers (``attributes`` offline; ``llava`` via transformers)."""
from vlcp.captioners.base import CAPTIONERS, PAPER_PROMPT, Captioner
from vlcp.captioners import attributes  # noqa: F401  (registers "attributes")
from vlcp.captioners import llava  # noqa: F401  (registers "llava"; transformers is imported when one is built)

__all__ = ["CAPTIONERS", "PAPER_PROMPT", "Captioner"]
