"""How the ``llm-retry`` commands talk to the terminal.

The text width, JSON and aligned ``label  value`` output, keeping structlog events quiet, and
`UsageError`, which `llm_retry.cli.main` reports as a one-line usage error.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import structlog

__all__ = ["UsageError", "plural", "print_json", "print_pairs", "quiet_logs", "terminal_width"]


class UsageError(Exception):
    """A command-line argument that cannot be used; exit status 2."""


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
