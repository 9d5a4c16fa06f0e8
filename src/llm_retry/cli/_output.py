"""How the ``llm-retry`` commands talk to the terminal.

The text width, colour, JSON and aligned ``label  value`` output, keeping structlog events
quiet, and `UsageError`, which `llm_retry.cli.main` reports as a one-line usage error.

Colour is on when the stream is a terminal, and off in a pipe, in a file, under ``TERM=dumb``
and whenever ``NO_COLOR`` is set to anything but the empty string (https://no-color.org).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

import structlog

__all__ = [
    "UsageError",
    "colour_on",
    "paint",
    "plural",
    "print_json",
    "print_pairs",
    "quiet_logs",
    "terminal_width",
]

_STYLES = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "dim": "2"}


class UsageError(Exception):
    """A command-line argument that cannot be used; exit status 2."""


def colour_on(stream: TextIO | None = None) -> bool:
    """Whether to colour what goes to ``stream`` (default: standard output)."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, style: str, stream: TextIO | None = None) -> str:
    """``text`` in ``style`` (``"red"``, ``"green"``, ``"yellow"``, ``"bold"``, ``"dim"``) when
    ``stream`` takes colour, else ``text`` unchanged."""
    if not colour_on(stream):
        return text
    return f"\x1b[{_STYLES[style]}m{text}\x1b[0m"


def terminal_width() -> int:
    """The terminal width to wrap to, kept between 60 and 120 columns."""
    return max(60, min(120, shutil.get_terminal_size((100, 24)).columns))


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


def print_pairs(pairs: Sequence[tuple[str, str]], indent: str = "  ") -> None:
    """Print ``label  value`` lines, values aligned and wrapped."""
    label_width = max(len(label) for label, _ in pairs)
    hanging = indent + " " * (label_width + 2)
    text_width = max(30, terminal_width() - len(hanging))
    for label, value in pairs:
        wrapped = textwrap.wrap(value, text_width, break_on_hyphens=False) or [""]
        print(f"{indent}{label.ljust(label_width)}  {wrapped[0]}")
        for line in wrapped[1:]:
            print(hanging + line)


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Keep llm-retry's structlog events off the terminal: the commands print their own form.

    structlog's configuration is restored afterwards (a command may run inside a program).
    """
    configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    try:
        yield
    finally:
        if configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
