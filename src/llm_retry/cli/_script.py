"""The response script of ``simulate --responses``: ``'429(retry-after=2),503,200'``."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from llm_retry.cli._synthetic import SyntheticError, make_error, status_arg

__all__ = ["Scripted", "parse_responses", "responses_arg"]

_OPTION_HEADERS = {"retry-after": "Retry-After", "retry-after-ms": "retry-after-ms"}


@dataclass(frozen=True)
class Scripted:
    """One scripted response of ``simulate --responses``."""

    status: int | str
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """A 2xx response: the call returns."""
        return isinstance(self.status, int) and 200 <= self.status < 300

    def error(self) -> SyntheticError:
        """The failure this response stands for."""
        return make_error(self.status, self.code, self.headers)


_TOKEN = re.compile(r"^\s*(\d{3}|timeout|connection)\s*(?:\((.*)\))?\s*$", re.IGNORECASE)


def _split_top_level(text: str) -> Iterator[str]:
    """Split on commas outside parentheses."""
    depth, start = 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            yield text[start:index]
            start = index + 1
    yield text[start:]


def _scripted(token: str) -> Scripted:
    match = _TOKEN.match(token)
    if match is None:
        raise ValueError(
            f"{token.strip()!r} is not a response: write a status (429), 'timeout' or "
            "'connection', optionally with (retry-after=N, retry-after-ms=N, code=C)"
        )
    status = status_arg(match.group(1))
    code, headers = None, {}
    for option in filter(None, re.split(r"[,;]", match.group(2) or "")):
        key, equals, value = (part.strip() for part in option.partition("="))
        if not equals or not value:
            raise ValueError(f"{option.strip()!r} in {token.strip()!r}: write key=value")
        if key.lower() == "code":
            code = value
        elif key.lower() in _OPTION_HEADERS:
            headers[_OPTION_HEADERS[key.lower()]] = value
        else:
            raise ValueError(
                f"unknown option {key!r} in {token.strip()!r}; known: code, retry-after, "
                "retry-after-ms"
            )
    return Scripted(status, code, headers)


def parse_responses(text: str) -> list[Scripted]:
    """``'429(retry-after=2),503,200'`` -> the scripted responses, in order.

    Raises:
        ValueError: naming the part that cannot be read.
    """
    tokens = [token for token in _split_top_level(text) if token.strip()]
    if not tokens:
        raise ValueError("no responses: write e.g. '429(retry-after=2),503,200'")
    return [_scripted(token) for token in tokens]


def responses_arg(text: str) -> list[Scripted]:
    try:
        return parse_responses(text)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
