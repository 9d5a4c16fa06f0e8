"""Read the server's wait hint from response headers, the way the SDKs do.

``retry-after-ms`` is read first (milliseconds), then ``Retry-After`` as seconds (integer or
float) or as an HTTP date. A header that cannot be read, or is negative, is ignored and the
reason is kept so the event can say why. The result is never capped here: capping is a policy
decision (see `llm_retry.waits`).

When neither header is there, the rate-limit headers give a softer hint: for each limit the
response reports as used up (``remaining`` is 0), the time until it resets. OpenAI sends
``x-ratelimit-{remaining,reset}-{requests,tokens}`` with Go durations (``"6m0s"``, ``"12ms"``);
Anthropic ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{remaining,reset}``
with RFC 3339 timestamps. Such a hint is ``soft``: a reset is when the limit refills completely,
an upper bound on when capacity returns, so a long one is clamped to the policy's cap rather than
read as "give up".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

__all__ = ["ServerHint", "parse_delay", "parse_go_duration", "parse_timestamp", "server_hint"]


@dataclass(frozen=True, slots=True)
class ServerHint:
    """What the headers ask for: ``seconds`` to wait (or ``None``), and from which header.

    ``soft`` marks a hint read from a rate-limit reset header rather than from ``Retry-After``:
    a floor like any hint, but clamped to the policy's cap instead of ending the call.
    """

    seconds: float | None = None
    source: str | None = None
    ignored: tuple[str, ...] = ()
    soft: bool = False


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
    number = _number(text)
    if number is not None:
        return number / 1000 if milliseconds else number
    if milliseconds:
        raise ValueError(f"{text!r} is not a number of milliseconds")
    return _date_delay(text, now)


def _number(text: str) -> float | None:
    """The number ``text`` holds, or ``None`` when it is no number at all.

    Raises:
        ValueError: when it is a number but not a usable delay (negative, infinite, NaN).
    """
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    if number < 0:
        raise ValueError(f"{text!r} is negative")
    return number


def _date_delay(text: str, now: float) -> float:
    """Seconds from ``now`` until the HTTP date ``text`` (0 for a date in the past)."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        when = None
    if when is None or when.tzinfo is None:
        raise ValueError(f"{text!r} is neither a number of seconds nor an HTTP date")
    return max(0.0, when.timestamp() - now)


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3}
_GO_UNITS |= {"s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_GO_DURATION = re.compile(rf"(?:{_GO_PART.pattern})+")


def parse_go_duration(value: str) -> float:
    """Seconds in a Go duration such as ``"6m0s"``, ``"1.5s"`` or ``"12ms"`` (OpenAI's resets).

    A plain non-negative number is read as seconds.

    Raises:
        ValueError: with the reason when the value is not a usable duration.
    """
    text = value.strip()
    number = _number(text)
    if number is not None:
        return number
    if text.startswith("-"):
        raise ValueError(f"{text!r} is negative")
    if not _GO_DURATION.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration such as '1s', '6m0s' or '250ms'")
    total = sum(float(amount) * _GO_UNITS[unit] for amount, unit in _GO_PART.findall(text))
    if not math.isfinite(total):
        raise ValueError(f"{text!r} is not a finite duration")
    return total


_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def parse_timestamp(value: str) -> float:
    """The POSIX time of an RFC 3339 timestamp (Anthropic's resets: ``2026-11-22T04:05:06Z``).

    Raises:
        ValueError: with the reason when the value is not an RFC 3339 timestamp with a zone.
    """
    text = value.strip()
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z")
    day, clock, fraction, _, sign, hours, minutes = match.groups()
    try:
        offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
        zone = timezone(-offset if sign == "-" else offset)
        when = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=zone)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid timestamp: {exc}") from None
    return when.timestamp() + float(fraction or 0)


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
    """The server's wait hint, with the reasons any unreadable header was ignored.

    ``retry-after-ms``, then ``Retry-After``; failing both, the longest reset among the rate
    limits the response reports as used up (a ``soft`` hint).
    """
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
    return _reset_hint(headers, now, ignored)


def _openai_reset(value: str, now: float) -> float:
    return parse_go_duration(value)


def _anthropic_reset(value: str, now: float) -> float:
    return max(0.0, parse_timestamp(value) - now)


_RateLimitFamily = tuple[str, str, tuple[str, ...], Callable[[str, float], float]]
_RATE_LIMITS: tuple[_RateLimitFamily, ...] = (
    ("x-ratelimit-remaining-{}", "x-ratelimit-reset-{}", ("requests", "tokens"), _openai_reset),
    (
        "anthropic-ratelimit-{}-remaining",
        "anthropic-ratelimit-{}-reset",
        ("requests", "tokens", "input-tokens", "output-tokens"),
        _anthropic_reset,
    ),
)


def _used_up(headers: Mapping[str, str], name: str) -> bool:
    raw = _header(headers, name)
    return raw is not None and str(raw).strip() == "0"


def _reset_hint(headers: Mapping[str, str], now: float, ignored: list[str]) -> ServerHint:
    """The longest reset among the used-up rate limits, as a soft hint."""
    best: tuple[float, str] | None = None
    for remaining, reset, limits, parse in _RATE_LIMITS:
        for limit in limits:
            name = reset.format(limit)
            raw = _header(headers, name) if _used_up(headers, remaining.format(limit)) else None
            if raw is None:
                continue
            try:
                seconds = parse(str(raw), now)
            except ValueError as exc:
                ignored.append(f"{name} ignored: {exc}")
                continue
            if best is None or seconds > best[0]:
                best = (seconds, name)
    if best is not None:
        return ServerHint(best[0], best[1], tuple(ignored), soft=True)
    return ServerHint(None, None, tuple(ignored)) if ignored else NO_HINT
