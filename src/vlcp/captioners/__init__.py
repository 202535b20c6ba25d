"""Captioners: a registry of image → text describers."""
from vlcp.captioners.base import CAPTIONERS, PAPER_PROMPT, Captioner

__all__ = ["CAPTIONERS", "PAPER_PROMPT", "Captioner"]
