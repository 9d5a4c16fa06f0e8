"""Which metrics an event moves, without I/O: one table, read by every backend.

Each event counts once in ``events`` (by name). Some also move a specific metric: failed
attempts by classification and rule, retries and the time waited by source, give-ups,
recoveries, billed attempts, and circuit transitions, rejections and state.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CIRCUIT_STATES", "METRICS", "Measure", "Metric", "measures"]

CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}
"""The value of the circuit state gauge for each state."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric: its kind, what it counts, and its labels."""

    kind: Literal["counter", "gauge"]
    description: str
    labels: tuple[str, ...]
    unit: str = ""
    otel: str = ""  # the OpenTelemetry name after ``llm_retry.``, when not the key (no unit in it)

    def otel_name(self, key: str) -> str:
        """The OpenTelemetry name: ``llm_retry.wait`` (its unit ``s`` says the rest)."""
        return f"llm_retry.{self.otel or key}"


METRICS: Mapping[str, Metric] = {
    "events": Metric("counter", "llm-retry events, by name", ("event",)),
    "attempts_failed": Metric(
        "counter",
        "Attempts that failed (or returned a rejected result)",
        ("callable", "policy", "classification", "rule"),
    ),
    "retries": Metric("counter", "Retries scheduled", ("callable", "policy", "source")),
    "wait_seconds": Metric(
        "counter", "Seconds waited before retries", ("callable", "policy", "source"), "s", "wait"
    ),
    "give_ups": Metric("counter", "Calls that ended with an error", ("callable", "policy")),
    "recoveries": Metric(
        "counter", "Calls that succeeded after failed attempts", ("callable", "policy")
    ),
    "billed_attempts": Metric(
        "counter",
        "Failed attempts that billed (billed) or may have (may_bill)",
        ("callable", "policy", "billing"),
    ),
    "circuit_transitions": Metric(
        "counter", "Circuit state changes, by the new state", ("circuit", "state")
    ),
    "circuit_rejections": Metric("counter", "Calls refused by an open circuit", ("circuit",)),
    "circuit_state": Metric("gauge", "Circuit state: 0 closed, 1 half-open, 2 open", ("circuit",)),
}


@dataclass(frozen=True, slots=True)
class Measure:
    """Add ``value`` to (or, for a gauge, set) ``metric`` at ``labels``."""

    metric: str
    labels: tuple[tuple[str, str], ...]
    value: float


def _measure(metric: str, record: Mapping[str, Any], value: float = 1.0) -> Measure:
    labels = tuple([(n, str(record.get(n, ""))) for n in METRICS[metric].labels])
    return Measure(metric, labels, value)


def _circuit(record: Mapping[str, Any], state: str) -> Iterator[Measure]:
    if state == "rejected":
        yield _measure("circuit_rejections", record)
    elif state in CIRCUIT_STATES:
        yield _measure("circuit_transitions", {**record, "state": state})
        yield _measure("circuit_state", record, CIRCUIT_STATES[state])


def measures(record: Mapping[str, Any]) -> Iterator[Measure]:
    """The metric updates for one event dict (as `capture_events` sees it)."""
    event = str(record.get("event", ""))
    yield _measure("events", record)
    short = event.removeprefix("llm_retry.")
    if short == "attempt_failed":
        yield _measure("attempts_failed", record)
        if record.get("billing"):
            yield _measure("billed_attempts", record)
    elif short == "retry_scheduled":
        yield _measure("retries", record)
        yield _measure("wait_seconds", record, float(record.get("wait", 0.0)))
    elif short == "gave_up":
        yield _measure("give_ups", record)
    elif short == "recovered":
        yield _measure("recoveries", record)
    elif short.startswith("circuit_"):
        yield from _circuit(record, short.removeprefix("circuit_"))
