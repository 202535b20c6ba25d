"""Progress and log output of every stage.

* ``--progress/--no-progress`` (:func:`add_progress_flag`) is the one flag family of every stage.
* :func:`progress_bar` is a tqdm bar when stderr is a terminal, else a plain line every
  ``LINE_EVERY_S`` seconds (no ``\\r`` or cursor codes in log files); only the main process of an
  ``accelerate launch`` reports.
* :func:`quiet_third_party` silences library chatter that says nothing to the user at its source,
  through the libraries' loggers (never by filtering all warnings).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterable

LINE_EVERY_S = 30.0

# loggers whose INFO/WARNING output is noise for a vlcp user: weight loading reports, "modules that
# should be kept in float32: []", "image processors require torchvision", and the like
NOISY_LOGGERS = ("transformers", "diffusers", "accelerate", "huggingface_hub", "sentence_transformers", "peft")


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    """``--progress/--no-progress`` (default: on; bars on a terminal, periodic lines otherwise)."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                        help="report progress: bars on a terminal, a plain line every "
                             f"{LINE_EVERY_S:.0f} s otherwise (default: on)")


def is_main_process() -> bool:
    """False on every process but the first of a multi-process launch (accelerate, torchrun)."""
    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) in ("0", "")


class LineProgress:
    """tqdm's interface, printing ``desc: n/total unit`` on its own line at most every ``every`` seconds."""

    def __init__(self, iterable: Iterable | None = None, desc: str = "", total: int | None = None,
                 unit: str = "it", disable: bool = False, every: float = LINE_EVERY_S, **_: Any) -> None:
        self.iterable, self.desc, self.unit, self.disable, self.every = iterable, desc, unit, disable, every
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.n, self.postfix, self.start = 0, "", time.monotonic()
        self.last = self.start

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last >= self.every:
            self._print()

    def set_postfix(self, **kw: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def close(self) -> None:
        if self.n and self.last == self.start:  # said nothing yet: one closing line
            self._print()

    def _print(self) -> None:
        if self.disable:
            return
        self.last = time.monotonic()
        total = f"/{self.total}" if self.total is not None else ""
        extra = f" ({self.postfix})" if self.postfix else ""
        print(f"{self.desc}: {self.n}{total} {self.unit}, {self.last - self.start:.0f} s{self._left()}{extra}",
              file=sys.stderr, flush=True)

    def _left(self) -> str:
        """``, about 3 min left`` at the rate so far (empty before the first step or without a total)."""
        if not self.total or not self.n or self.n >= self.total:
            return ""
        return f", about {duration((self.last - self.start) / self.n * (self.total - self.n))} left"


def duration(seconds: float) -> str:
    """``45 s``, ``3 min``, ``1 h 05 min``: a time span as a person says it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def progress_bar(iterable: Iterable | None = None, *, disable: bool = False, **kw: Any):
    """A tqdm bar on a terminal, else a :class:`LineProgress`; silent off the main process."""
    disable = disable or not is_main_process()
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(iterable, disable=disable, **kw)
    return LineProgress(iterable, disable=disable, **kw)


@contextmanager
def quiet_loading(*names: str):
    """The libraries' loggers (default: diffusers, transformers) silenced while a model loads: diffusers logs
    its expected fall-back from a missing ``.safetensors`` file to a ``.bin`` one at ERROR level; whatever
    really fails raises, and vlcp reports it in one line."""
    loggers = [logging.getLogger(n) for n in (names or ("diffusers", "transformers"))]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def quiet_third_party() -> None:
    """Silence the libraries' informational chatter at its source: their verbosity settings (environment
    variables read when they first log, which a user may set otherwise) and their loggers; errors still show."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bars follow it
    for name in NOISY_LOGGERS:
        if os.environ.get(f"{name.upper()}_VERBOSITY") in (None, "error"):
            logging.getLogger(name).setLevel(logging.ERROR)
    for name in ("transformers", "diffusers"):  # already imported (they read the variables once): tell them too
        lib = sys.modules.get(f"{name}.utils.logging")
        if lib is not None and os.environ[f"{name.upper()}_VERBOSITY"] == "error":
            lib.set_verbosity_error()
            lib.disable_progress_bar()
