"""The report's HTML pieces: escaping, notes, scroll boxes, embedded PNGs, titled sections and the page.

The page's style sheet is package data (``report.css`` beside this module, read with ``importlib.resources``);
the page loads nothing from anywhere and needs no script.
"""
from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any, Sequence

THUMB = 128  # images with a larger side are downscaled to this before embedding


def e(x: Any) -> str:
    """``x`` as escaped HTML text (quotes too: safe in attributes)."""
    return escape(str(x), quote=True)


def note(text: str) -> str:
    """A short note in the page (a missing or unreadable artifact, a caveat)."""
    return f'<p class="note">{e(text)}</p>'


def scroll(table: str) -> str:
    """A wide table scrolls inside its own box instead of widening the page."""
    return f'<div class="scroll">{table}</div>'


@dataclass(frozen=True)
class Section:
    """One titled fragment of the page; an empty ``title`` is a bare fragment (the summary paragraph)."""

    title: str
    body: str

    def html(self) -> str:
        """The fragment as HTML: ``<section>`` with its ``<h2>`` title, or the body alone."""
        if not self.title:
            return self.body
        return f"<section>\n<h2>{e(self.title)}</h2>\n{self.body}\n</section>"


def png_uri(data: bytes) -> str:
    """PNG bytes as a data URI."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def image_bytes(path: Path) -> bytes:
    """The PNG's bytes, downscaled (nearest, to keep pixels crisp) when larger than THUMB."""
    from PIL import Image

    with Image.open(path) as im:
        if max(im.size) <= THUMB and im.format == "PNG":
            return path.read_bytes()
        im = im.copy()
    im.thumbnail((THUMB, THUMB))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def img(path: Path, title: str, zoom: bool = False) -> str:
    """The image embedded; ``zoom``: focusable, so a click shows it enlarged over the page (CSS only)."""
    try:
        uri = png_uri(image_bytes(path))
    except OSError:
        return f'<span class="note" title="{e(path.name)}">unreadable</span>'
    tag = f'<img src="{uri}" alt="{e(title)}" title="{e(title)}">'
    return f'<span class="zoom" tabindex="0">{tag}</span>' if zoom else tag


def natural_key(s: str) -> list:
    """Sort key that orders "2.png" before "10.png"."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


@lru_cache(maxsize=1)
def css() -> str:
    """The page's style sheet (package data ``vlcp/report/report.css``)."""
    return files("vlcp.report").joinpath("report.css").read_text("utf-8")


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole self-contained page: viewport, inline style sheet, title, subtitle and the sections."""
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>", f"<style>\n{css()}</style>", "</head>", "<body>",
        f"<h1>{e(title)}</h1>", f'<p class="sub">{e(subtitle)}</p>', *(s.html() for s in sections),
        "</body>", "</html>", ""])
