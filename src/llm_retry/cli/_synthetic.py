"""Made-up API failures, and the command-line arguments that describe one (status, header)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = [
    "SyntheticConnectionError",
    "SyntheticError",
    "SyntheticTimeout",
    "header_arg",
    "make_error",
    "status_arg",
]

_TRANSPORT = ("timeout", "connection")


class SyntheticError(Exception):
    """A made-up API failure carrying what `llm_retry.decide.adapters.error_info` reads.

    Attributes:
        status_code: the HTTP status, or ``None`` for a transport failure.
        body: ``{"error": {"code": code}}``, like an OpenAI-style error body.
        headers: the response headers.
    """

    def __init__(
        self, status: int | None, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        what = f"HTTP {status}" if status is not None else type(self).__name__
        super().__init__(f"{what} (code {code})" if code else what)
        self.status_code = status
        self.body: dict[str, Any] = {"error": {"code": code}}
        self.headers: dict[str, str] = dict(headers or {})


class SyntheticTimeout(SyntheticError, TimeoutError):
    """A made-up request timeout."""


class SyntheticConnectionError(SyntheticError, ConnectionError):
    """A made-up connection failure."""


def make_error(
    status: int | str, code: str | None = None, headers: dict[str, str] | None = None
) -> SyntheticError:
    """A synthetic failure: an HTTP status, or ``"timeout"`` / ``"connection"``."""
    if status == "timeout":
        return SyntheticTimeout(None, code, headers)
    if status == "connection":
        return SyntheticConnectionError(None, code, headers)
    return SyntheticError(int(status), code, headers)


def status_arg(text: str) -> int | str:
    """An HTTP status (100-599), ``timeout`` or ``connection``."""
    word = text.strip().lower()
    if word in _TRANSPORT:
        return word
    if word.isdigit() and 100 <= int(word) <= 599:
        return int(word)
    raise argparse.ArgumentTypeError(
        f"{text!r} is not an HTTP status (100-599), 'timeout' or 'connection'"
    )


def header_arg(text: str) -> tuple[str, str]:
    """``'Retry-After: 7'`` -> ``("Retry-After", "7")``."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not a header: write 'Name: value'")
    return name.strip(), value.strip()
