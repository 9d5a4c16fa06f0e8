"""Read the server's wait hint from response headers, the way the SDKs do.

``retry-after-ms`` is read first (milliseconds), then ``Retry-After`` as seconds (integer or
float) or as an HTTP date. A header that cannot be read, or is negative, is ignored and the
reason is kept so the event can say why. The result is never capped here: capping is a policy
decision (see `llm_retry.decide.waits`, and `llm_retry.decide.classify` for the soft hints below).

When neither header is there, the rate-limit headers give a softer hint: for each limit the
response reports as used up (``remaining`` is 0), the time until it has room again. OpenAI sends
``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` with Go durations (``"6m0s"``,
``"12ms"``); Anthropic ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-``
``{limit,remaining,reset}`` with RFC 3339 timestamps. Such a hint is ``soft``: it is the server's
state, not a request to stay away, so one past the policy's cap is dropped for the backoff (as
Envoy does with its reset headers) rather than read as "give up".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["ServerHint", "parse_delay", "parse_go_duration", "parse_timestamp", "server_hint"]


@dataclass(frozen=True, slots=True)
class ServerHint:
    """What the headers ask for: ``seconds`` to wait (or ``None``), and from which header.

    ``soft`` marks a hint read from a rate-limit reset header rather than from ``Retry-After``:
    a floor like any hint, but one past the policy's cap is dropped instead of ending the call.
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
        raise ValueError(f"{_shown(text)} is not a number of milliseconds")
    return _date_delay(text, now)


def _shown(text: str, limit: int = 40) -> str:
    """``text`` quoted for a reason, cut short: a hostile header must not bloat the events."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} chars)"


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
        raise ValueError(f"{_shown(text)} is not a finite number")
    if number < 0:
        raise ValueError(f"{_shown(text)} is negative")
    return number


def _date_delay(text: str, now: float) -> float:
    """Seconds from ``now`` until the HTTP date ``text`` (0 for a date in the past)."""
    try:
        from email.utils import parsedate_to_datetime  # noqa: PLC0415 - rare: an HTTP date

        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        when = None
    if when is None or when.tzinfo is None:
        raise ValueError(f"{_shown(text)} is neither a number of seconds nor an HTTP date")
    return max(0.0, when.timestamp() - now)


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3}
_GO_UNITS |= {"s": 1.0, "m": 60.0, "h": 3600.0}
# Each number has one way to match (digits, then an optional fraction), so a long garbage value
# fails in linear time; ``\d+\.?\d*`` would backtrack exponentially over "111s111s...x".
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
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
        raise ValueError(f"{_shown(text)} is negative")
    if not _GO_DURATION.fullmatch(text):
        raise ValueError(f"{_shown(text)} is not a duration such as '1s', '6m0s' or '250ms'")
    total = sum(float(amount) * _GO_UNITS[unit] for amount, unit in _GO_PART.findall(text))
    if not math.isfinite(total):
        raise ValueError(f"{_shown(text)} is not a finite duration")
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
        raise ValueError(
            f"{_shown(text)} is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z"
        )
    day, clock, fraction, _, sign, hours, minutes = match.groups()
    try:
        from datetime import datetime, timedelta, timezone  # noqa: PLC0415 - after a failure

        offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
        zone = timezone(-offset if sign == "-" else offset)
        when = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=zone)
    except ValueError as exc:
        raise ValueError(f"{_shown(text)} is not a valid timestamp: {exc}") from None
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


@dataclass(frozen=True, slots=True)
class _RateLimits:
    """One provider's rate-limit headers: ``pattern`` with ``{field}`` and ``{kind}`` in it."""

    pattern: str
    kinds: tuple[str, ...]
    parse_reset: Callable[[str, float], float]

    def get(self, headers: Mapping[str, str], field: str, kind: str) -> str | None:
        raw = _header(headers, self.pattern.format(field=field, kind=kind))
        return None if raw is None else str(raw).strip()


_RATE_LIMITS = (
    _RateLimits(
        "x-ratelimit-{field}-{kind}", ("requests", "tokens"), lambda v, now: parse_go_duration(v)
    ),
    _RateLimits(
        "anthropic-ratelimit-{kind}-{field}",
        ("requests", "tokens", "input-tokens", "output-tokens"),
        lambda v, now: max(0.0, parse_timestamp(v) - now),
    ),
)


def _capacity(text: str | None) -> int:
    """The limit's size from its ``limit`` header; 1 (the whole reset) when absent or unreadable."""
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 18:
        return 1  # absent, not a count, or longer than any real limit (int() would refuse it)
    return max(1, int(text))


def _reset_hint(headers: Mapping[str, str], now: float, ignored: list[str]) -> ServerHint:
    """When capacity returns to the used-up rate limits (the longest wait), as a soft hint.

    The reset header says when a limit is full again. OpenAI and Anthropic refill continuously,
    so with the limit's size known, one unit is back after ``reset / limit``; without it, the
    whole reset is the wait (a fixed window, as ``X-RateLimit-Reset`` means elsewhere).
    """
    best: tuple[float, str] | None = None
    for family in _RATE_LIMITS:
        for kind in family.kinds:
            raw = family.get(headers, "reset", kind)
            if raw is None or family.get(headers, "remaining", kind) != "0":
                continue
            name = family.pattern.format(field="reset", kind=kind)
            try:
                until_full = family.parse_reset(raw, now)
            except ValueError as exc:
                ignored.append(f"{name} ignored: {exc}")
                continue
            seconds = until_full / _capacity(family.get(headers, "limit", kind))
            if best is None or seconds > best[0]:
                best = (seconds, name)
    if best is not None:
        return ServerHint(best[0], best[1], tuple(ignored), soft=True)
    return ServerHint(None, None, tuple(ignored)) if ignored else NO_HINT
