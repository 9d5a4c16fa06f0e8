"""Limits the way providers enforce them: a concurrency limit and rate windows, learned per key.

Pure arithmetic, no I/O and no clock: the admission strategy (`llm_retry.run.admission`) keeps
the state, in this process or in Redis (`llm_retry.stores.redis_limits`, the same rules as a
Lua script), and calls these functions.

**Which signal.** Each failed attempt's classification says what the provider meant:

* a ``429`` that carries rate headers (``x-ratelimit-*``, ``anthropic-ratelimit-*``) is a rate
  limit: requests (or tokens) per period. It feeds the **rate windows**.
* a ``429`` without rate headers is a concurrency limit (DeepSeek: "dynamically limits user
  concurrency based on server load ... immediately receive an HTTP 429"). It lowers the
  **concurrency limit**.
* a ``503``/``529`` (or an ``overloaded_error``) is an overload: it lowers the concurrency limit,
  never the rate, so that recovery is not a crawl at one request a second.
* latency is **not** a signal: an LLM call takes 0.5 s or 120 s depending on the length of its
  output, so a slow answer says nothing about queueing (Netflix's Vegas and Gradient limiters,
  which read latency, would pin the limit at its floor after one short answer).

**Concurrency limit (AIMD).** At most ``slots(limit)`` attempts are in flight under the key. A
concurrency refusal of an attempt admitted as the ``k``-th in flight sets the limit to
``min(backoff * limit, k - 1)`` (what the server was seen to hold, and at least a
multiplicative decrease; an overload, which counts nothing, is the multiplicative decrease
alone), never below ``min``; only the first refusal of attempts admitted
under the same limit counts, so one burst of refusals is one decrease. Successes raise the
limit by ``1/limit`` each (one per limit-full of successes) while the limit is in use, never
above ``max``; after a concurrency refusal, growth waits ``PROBE_AFTER`` limit-fulls of
successes, so the limit probes above what was refused only now and then (each probe costs one
refusal, and its call waits out the ``Retry-After``). After an overload the limit grows back at
once, so throughput returns within a few round trips of the provider's recovery.

**Rate windows.** After a rate refusal, at most ``quota`` attempts start per ``period`` seconds,
in windows starting when the server said to come back (its ``Retry-After``, one second without
one). The quota is measured: the attempts started in the refused window (or the second before
it) minus one, and one less for each further refusal of that window, never below ``BETA`` of the
quota before. After ``PLATEAU`` windows, each window that ended full raises it by one. When the
refusal says when the provider's requests window resets (``x-ratelimit-reset-requests``), the
windows start then instead, in step with the provider's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from llm_retry.errors import PolicyError

from .headers import parse_go_duration, parse_timestamp

__all__ = [
    "BETA",
    "COLD",
    "MAX_PERIOD",
    "PLATEAU",
    "PROBE_AFTER",
    "LimitSettings",
    "Signal",
    "decreased",
    "increased",
    "measured_quota",
    "period_for",
    "rate_headers",
    "requests_reset",
    "signal",
    "slots",
    "window_index",
]

Signal = Literal["success", "concurrency", "rate", "overload", "ignore"]
"""What an attempt's outcome says about the key's limits."""

PLATEAU = 4
"""Rate windows after a measurement before probing above it."""
PROBE_AFTER = 8
"""Limit-fulls of successes after a decrease before the concurrency limit probes above it."""
BETA = 0.7
"""The deepest one rate measurement may cut the quota (AWS adaptive mode's beta)."""
MAX_PERIOD = 60.0
"""The longest rate window, in seconds."""
COLD = -1
"""The window of an attempt started while no rate was known."""
IDLE_RESET = 60.0
"""Seconds without a rate refusal after which the rate windows stop."""
_OVERLOAD_STATUSES = frozenset({503, 529})
_RATE_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PolicyError(f"limits {name} must be a whole number >= 1, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """A key's limits (the ``[limits]`` section of a preset).

    Args:
        enabled: admission under the preset's name at all.
        concurrency: the adaptive concurrency limit.
        pacing: the rate windows learned from rate refusals.
        initial: the concurrency limit before anything is learned.
        min: the lowest it goes (at least one attempt is always let through).
        max: the highest it goes.
        backoff: the multiplicative decrease on a concurrency refusal or an overload, in
            ``[0.5, 1)``.
    """

    enabled: bool = True
    concurrency: bool = True
    pacing: bool = True
    initial: int = 10
    min: int = 1
    max: int = 200
    backoff: float = 0.9

    def __post_init__(self) -> None:
        for name in ("enabled", "concurrency", "pacing"):
            if not isinstance(getattr(self, name), bool):
                raise PolicyError(f"limits {name} must be true or false")
        low, high = _whole("min", self.min), _whole("max", self.max)
        if not low <= _whole("initial", self.initial) <= high:
            raise PolicyError(
                f"limits need min <= initial <= max, not {low}, {self.initial}, {high}"
            )
        b = self.backoff
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0.5 <= b < 1:
            raise PolicyError(f"limits backoff must be in [0.5, 1), not {b!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LimitSettings:
        """Settings from a preset's ``[limits]`` section; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise PolicyError(
                f"unknown limits setting {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**values)


# -- signals ---------------------------------------------------------------------------------
def rate_headers(headers: Mapping[str, str] | None) -> bool:
    """Whether a response reports rate limits (``x-ratelimit-*``, ``anthropic-ratelimit-*``)."""
    if not headers:
        return False
    try:  # hostile headers (a mapping that raises when read) say nothing
        return any(isinstance(k, str) and k.lower().startswith(_RATE_PREFIXES) for k in headers)
    except Exception:  # noqa: BLE001
        return False


def requests_reset(headers: Mapping[str, str] | None, now: float) -> float | None:
    """Seconds until a used-up *requests* limit resets, from the rate headers, or ``None``.

    OpenAI's ``x-ratelimit-reset-requests`` (a Go duration) or Anthropic's
    ``anthropic-ratelimit-requests-reset`` (an RFC 3339 time), when the matching ``remaining``
    header says 0: when the provider's window opens again, a better anchor for the rate
    windows than ``now + Retry-After``. Token limits are left to ``Retry-After``.
    """
    try:  # hostile headers (a mapping that raises when read) say nothing
        if not headers:
            return None
        lower = {k.lower(): str(v).strip() for k, v in headers.items() if isinstance(k, str)}
    except Exception:  # noqa: BLE001
        return None
    for remaining, reset, parse in (
        ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", parse_go_duration),
        (
            "anthropic-ratelimit-requests-remaining",
            "anthropic-ratelimit-requests-reset",
            lambda v: parse_timestamp(v) - now,
        ),
    ):
        if lower.get(remaining) == "0" and reset in lower:
            try:
                seconds = parse(lower[reset])
            except ValueError:
                continue
            if 0 <= seconds <= MAX_PERIOD:
                return seconds
    return None


def signal(
    status: int | None, code: str | None, retried: bool, headers: Mapping[str, str] | None
) -> Signal:
    """What a failed attempt says: its status and code, whether its rule retries, its headers.

    Failures no retry can fix (``insufficient_quota`` is a 429 too) and transport failures say
    nothing about the limits; a timeout may be a long answer, not an overloaded server.
    """
    if not retried:
        return "ignore"
    if status == 429:
        return "rate" if rate_headers(headers) else "concurrency"
    if status in _OVERLOAD_STATUSES or code == "overloaded_error":
        return "overload"
    return "ignore"


# -- the concurrency limit -----------------------------------------------------------------
def slots(limit: float) -> int:
    """Attempts allowed in flight under ``limit`` (rounded; always at least one)."""
    return max(1, math.floor(limit + 0.5))


def decreased(limit: float, k: int, cfg: LimitSettings) -> float:
    """The limit after a refusal of the attempt admitted as the ``k``-th in flight (0: unknown)."""
    target = limit * cfg.backoff
    if k > 0:
        target = min(target, k - 1)
    return float(min(cfg.max, max(cfg.min, target)))


def increased(limit: float, grown: int, full: bool, cfg: LimitSettings) -> tuple[float, int]:
    """After a success: ``(limit, successes since the last decrease)``.

    ``full`` says the limit was in use when the attempt ended (``slots`` in flight): a limit an
    application does not reach is not raised (Netflix's rule for app-limited callers).
    """
    grown += 1
    if full and grown >= PROBE_AFTER * slots(limit):
        limit = min(float(cfg.max), limit + 1.0 / max(limit, 1.0))
    return limit, grown


# -- rate windows --------------------------------------------------------------------------
def period_for(hint: float | None, reset: float | None = None) -> tuple[float, float]:
    """``(come back after, window length)`` for a rate refusal with server hint ``hint``.

    A short hint is the time until a token bucket frees one unit, not the provider's window,
    so windows are never shorter than a second. ``reset`` (`requests_reset`), when known, says
    when the provider's window opens again: the first window starts then.
    """
    come_back = min(MAX_PERIOD, 1.0 if hint is None else max(0.0, hint))
    period = max(1.0, come_back)
    return (come_back if reset is None else min(reset, period)), period


def measured_quota(sent: int, quota: int) -> tuple[int, int]:
    """``(new quota, floor)`` after a rate refusal of a window in which ``sent`` attempts started.

    The server admitted at most ``sent - 1``; the floor keeps one measurement from cutting the
    quota before (``quota``, 0 if none) by more than `BETA`.
    """
    floor = max(1, math.floor(BETA * quota)) if quota > 0 else 1
    return max(floor, sent - 1), floor


def window_index(start: float, anchor: float, period: float) -> int:
    """The rate window that time ``start`` falls in (0 before the first)."""
    return max(0, math.floor((start - anchor) / period))
