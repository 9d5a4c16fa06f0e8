"""The circuit breaker's state machine, without I/O: pure functions of a state, an event and a time.

States: ``closed`` (calls flow; failures are counted), ``open`` (calls are rejected until the
break is over), ``half_open`` (exactly ``half_open_probes`` calls are let through; a probe
failure re-opens, probe successes close). Stores apply these functions atomically, in memory
or in Redis, so one definition of the behaviour serves every process.

Times are wall-clock seconds, since a circuit shared through Redis is read by other processes
whose monotonic clocks mean nothing here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from llm_retry.errors import PolicyError
from llm_retry.policy.values import MAX_SECONDS, check_number

__all__ = [
    "Admission",
    "BreakerState",
    "CircuitSettings",
    "Outcome",
    "Transition",
    "admit",
    "force",
    "record",
]

State = Literal["closed", "open", "half_open"]
Outcome = Literal["success", "failure", "ignore", "trip"]
"""How a call's outcome counts: a success, a failure, neither, or an account-wide failure that
opens the circuit at once."""


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PolicyError(f"circuit {name} must be a whole number >= 1, not {value!r}")


def _seconds(name: str, value: object, *, positive: bool = False) -> None:
    check_number(f"circuit {name}", value, maximum=MAX_SECONDS, positive=positive)


@dataclass(frozen=True, slots=True)
class CircuitSettings:
    """When a circuit opens and for how long.

    Args:
        failures: consecutive failures that open it.
        break_duration: seconds it stays open before probes are let through.
        max_break_duration: if above ``break_duration``, each re-opening without a close in
            between doubles the break, up to this.
        half_open_probes: calls let through while half-open; all must succeed to close.
        failure_rate: also open when the failure rate over the window reaches this (0-1];
            ``None`` turns rate tracking off.
        window: the rate window's size in calls (count-based) ...
        window_seconds: ... or in seconds (time-based) when set.
        min_calls: calls the window must hold before the rate is judged.
        trip_on_account_errors: an account-wide failure (a rule marked ``circuit = "trip"``:
            401, 402, ``insufficient_quota``) opens the circuit at once.
    """

    failures: int = 5
    break_duration: float = 60.0
    max_break_duration: float | None = None
    half_open_probes: int = 1
    failure_rate: float | None = None
    window: int = 100
    window_seconds: float | None = None
    min_calls: int = 20
    trip_on_account_errors: bool = True

    def __post_init__(self) -> None:
        for name in ("failures", "half_open_probes", "window", "min_calls"):
            _positive_int(name, getattr(self, name))
        _seconds("break_duration", self.break_duration)
        if self.max_break_duration is not None:
            _seconds("max_break_duration", self.max_break_duration)
        if self.window_seconds is not None:
            _seconds("window_seconds", self.window_seconds, positive=True)
        if self.failure_rate is not None:
            check_number("circuit failure_rate", self.failure_rate, maximum=1.0, positive=True)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> CircuitSettings:
        """Settings from a preset's ``[circuit]`` section or keyword arguments."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise PolicyError(
                f"unknown circuit setting {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**values)

    def break_for(self, reopens: int) -> float:
        """The break after ``reopens`` consecutive re-openings (0 for the first opening)."""
        if self.max_break_duration is None or self.max_break_duration <= self.break_duration:
            return self.break_duration
        return min(self.max_break_duration, self.break_duration * 2.0 ** min(reopens, 64))


@dataclass(frozen=True, slots=True)
class BreakerState:
    """One circuit's state. Immutable: every change is a new state."""

    state: State = "closed"
    failures: int = 0
    open_until: float = 0.0  # open: when probes may start; half-open: when a silent probe is stale
    reopens: int = 0
    probes: int = 0
    probe_successes: int = 0
    window: tuple[tuple[float, bool], ...] = field(default=())
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for shared stores)."""
        data = dataclasses.asdict(self)
        data["window"] = [list(item) for item in self.window]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BreakerState:
        """The state a `to_json` dict describes."""
        window = tuple((float(t), bool(ok)) for t, ok in data.get("window", ()))
        return cls(**{**data, "window": window})


CLOSED = BreakerState()


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a call may go ahead: as an ordinary call, as a probe, or not (and for how long)."""

    allowed: bool
    probe: bool = False
    retry_in: float | None = None
    state: State = "closed"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of state, for events: from, to, and why."""

    before: State
    after: State
    reason: str
    failures: int = 0
    break_duration: float = 0.0


ADMIT = Admission(True)
PROBE_POLL = 1.0
"""Seconds a caller refused while a probe is in flight is told to wait before asking again."""


def admit(
    s: BreakerState, now: float, cfg: CircuitSettings
) -> tuple[Admission, BreakerState, Transition | None]:
    """May a call go ahead now? Moves an expired ``open`` to ``half_open`` and counts probes."""
    if s.state == "closed":
        return ADMIT, s, None
    if s.state == "open":
        if now < s.open_until:
            return (
                Admission(False, retry_in=s.open_until - now, state="open", reason=s.reason),
                s,
                None,
            )
        half = dataclasses.replace(
            s, state="half_open", probes=1, probe_successes=0, open_until=now + cfg.break_duration
        )
        change = Transition("open", "half_open", "break over: letting a probe through")
        return Admission(True, probe=True, state="half_open"), half, change
    if s.probes < cfg.half_open_probes:
        more = dataclasses.replace(s, probes=s.probes + 1)
        return Admission(True, probe=True, state="half_open"), more, None
    if now >= s.open_until:  # a probe that never reported (its process died): try another
        fresh = dataclasses.replace(s, probes=1, open_until=now + cfg.break_duration)
        return Admission(True, probe=True, state="half_open"), fresh, None
    wait = min(PROBE_POLL, s.open_until - now)  # check back soon: the probe may be done by then
    return Admission(False, retry_in=wait, state="half_open", reason="probe in flight"), s, None


def _window(
    s: BreakerState, now: float, ok: bool, cfg: CircuitSettings
) -> tuple[tuple[float, bool], ...]:
    if cfg.failure_rate is None:
        return ()
    items = (*s.window, (now, ok))
    if cfg.window_seconds is not None:
        start = now - cfg.window_seconds
        return tuple(item for item in items if item[0] > start)
    return items[-cfg.window :]


def _rate_exceeded(window: tuple[tuple[float, bool], ...], cfg: CircuitSettings) -> bool:
    if cfg.failure_rate is None or len(window) < cfg.min_calls:
        return False
    failed = sum(1 for _, ok in window if not ok)
    return failed / len(window) >= cfg.failure_rate


def _open(
    s: BreakerState, now: float, cfg: CircuitSettings, reason: str, reopen: bool
) -> tuple[BreakerState, Transition]:
    reopens = s.reopens + 1 if reopen else 0
    duration = cfg.break_for(reopens)
    opened = BreakerState("open", s.failures, now + duration, reopens, reason=reason)
    return opened, Transition(s.state, "open", reason, s.failures, float(duration))


def _record_closed(
    s: BreakerState, outcome: Outcome, now: float, cfg: CircuitSettings, reason: str
) -> tuple[BreakerState, Transition | None]:
    if outcome == "ignore":
        return s, None
    if outcome == "trip" and cfg.trip_on_account_errors:
        return _open(
            dataclasses.replace(s, failures=s.failures + 1), now, cfg, reason, reopen=False
        )
    ok = outcome == "success"
    window = _window(s, now, ok, cfg)
    failures = 0 if ok else s.failures + 1
    if not ok and failures >= cfg.failures:
        why = f"{failures} consecutive failures; last: {reason}"
        return _open(dataclasses.replace(s, failures=failures), now, cfg, why, reopen=False)
    if not ok and _rate_exceeded(window, cfg):
        failed = sum(1 for _, good in window if not good)
        why = f"failure rate {failed}/{len(window)} reached {cfg.failure_rate:g}; last: {reason}"
        return _open(dataclasses.replace(s, failures=failures), now, cfg, why, reopen=False)
    if failures == s.failures and window == s.window:
        return s, None
    return dataclasses.replace(s, failures=failures, window=window), None


def _record_probe(
    s: BreakerState, outcome: Outcome, now: float, cfg: CircuitSettings, reason: str
) -> tuple[BreakerState, Transition | None]:
    if outcome == "ignore":
        return dataclasses.replace(s, probes=max(0, s.probes - 1)), None
    if outcome in ("failure", "trip"):
        return _open(s, now, cfg, f"probe failed: {reason}", reopen=True)
    successes = s.probe_successes + 1
    if successes >= cfg.half_open_probes:
        return CLOSED, Transition("half_open", "closed", f"{successes} probe(s) succeeded")
    return dataclasses.replace(s, probe_successes=successes), None


def record(
    s: BreakerState,
    outcome: Outcome,
    *,
    probe: bool,
    now: float,
    cfg: CircuitSettings,
    reason: str = "",
) -> tuple[BreakerState, Transition | None]:
    """Count one finished call. ``probe`` says whether it was admitted as a half-open probe.

    Results of calls admitted before the circuit changed state (still in flight when it
    opened, or ordinary calls finishing while probes run) do not move it.
    """
    if probe:
        return _record_probe(s, outcome, now, cfg, reason) if s.state == "half_open" else (s, None)
    if s.state == "closed":
        return _record_closed(s, outcome, now, cfg, reason)
    return s, None


def force(
    s: BreakerState,
    action: Literal["open", "close", "reset"],
    now: float,
    cfg: CircuitSettings,
    reason: str,
) -> tuple[BreakerState, Transition | None]:
    """A manual change: ``open`` for one break, ``close`` or ``reset`` (forget everything)."""
    if action == "open":
        return _open(s, now, cfg, reason, reopen=False)
    if s == CLOSED:
        return s, None
    return CLOSED, Transition(s.state, "closed", reason)
