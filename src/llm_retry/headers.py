"""Read the server's wait hint from response headers, the way the SDKs do.

``retry-after-ms`` is read first (milliseconds), then ``Retry-After`` as seconds (integer or
float) or as an HTTP date. A header that cannot be read, or is negative, is ignored and the
reason is kept so the event can say why. The result is never capped here: capping is a policy
decision (see `llm_retry.waits`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["ServerHint", "parse_delay", "server_hint"]


@dataclass(frozen=True, slots=True)
class ServerHint:
    """What the headers ask for: ``seconds`` to wait (or ``None``), and from which header."""

    seconds: float | None = None
    source: str | None = None
    ignored: tuple[str, ...] = ()


NO_HINT = ServerHint()


def parse_delay(value: str, *, now: float, milliseconds: bool = False) -> float:
    """Seconds to wait for a ``Retry-After``-style header value.

    Args:
        value: the header value: seconds (``"7"``, ``"1.5"``) or an HTTP date.
        now: the current wall-clock time (``time.time()``), to turn a date into a delay.
        milliseconds: the value is in milliseconds (``retry-after-ms``); dates are not accepted.

    Raises:
        ValueError: with the reason when the value is not a usable delay.
    """
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a finite number")
        if number < 0:
            raise ValueError(f"{text!r} is negative")
        return number / 1000 if milliseconds else number
    if milliseconds:
        raise ValueError(f"{text!r} is not a number of milliseconds")
    return _date_delay(text, now)


def _date_delay(text: str, now: float) -> float:
    """Seconds from ``now`` until the HTTP date ``text`` (0 for a date in the past)."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        when = None
    if when is None or when.tzinfo is None:
        raise ValueError(f"{text!r} is neither a number of seconds nor an HTTP date")
    return max(0.0, when.timestamp() - now)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works on plain dicts too."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, item in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return item
    return None


def server_hint(headers: Mapping[str, str] | None, *, now: float) -> ServerHint:
    """The server's wait hint from ``retry-after-ms`` or ``Retry-After``, with ignored reasons."""
    if not headers:
        return NO_HINT
    ignored: list[str] = []
    for name, millis in (("retry-after-ms", True), ("retry-after", False)):
        raw = _header(headers, name)
        if raw is None:
            continue
        try:
            seconds = parse_delay(str(raw), now=now, milliseconds=millis)
        except ValueError as exc:
            ignored.append(f"{name} ignored: {exc}")
            continue
        return ServerHint(seconds, name, tuple(ignored))
    return ServerHint(None, None, tuple(ignored)) if ignored else NO_HINT
