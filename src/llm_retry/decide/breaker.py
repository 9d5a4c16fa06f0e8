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

from llm_retry.policy.settings import CircuitSettings

__all__ = [
    "BreakerState",
    "CircuitSettings",
    "Gate",
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
class Gate:
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


ADMIT = Gate(True)
PROBE_POLL = 1.0
"""Seconds a caller refused while a probe is in flight is told to wait before asking again."""


def admit(
    s: BreakerState, now: float, cfg: CircuitSettings
) -> tuple[Gate, BreakerState, Transition | None]:
    """May a call go ahead now? Moves an expired ``open`` to ``half_open`` and counts probes."""
    if s.state == "closed":
        return ADMIT, s, None
    if s.state == "open":
        if now < s.open_until:
            return (
                Gate(False, retry_in=s.open_until - now, state="open", reason=s.reason),
                s,
                None,
            )
        half = dataclasses.replace(
            s, state="half_open", probes=1, probe_successes=0, open_until=now + cfg.break_duration
        )
        change = Transition("open", "half_open", "break over: letting a probe through")
        return Gate(True, probe=True, state="half_open"), half, change
    if s.probes < cfg.half_open_probes:
        more = dataclasses.replace(s, probes=s.probes + 1)
        return Gate(True, probe=True, state="half_open"), more, None
    if now >= s.open_until:  # a probe that never reported (its process died): try another
        fresh = dataclasses.replace(s, probes=1, open_until=now + cfg.break_duration)
        return Gate(True, probe=True, state="half_open"), fresh, None
    wait = min(PROBE_POLL, s.open_until - now)  # check back soon: the probe may be done by then
    return Gate(False, retry_in=wait, state="half_open", reason="probe in flight"), s, None


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
