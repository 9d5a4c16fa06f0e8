"""Calls by outcome, counted where they end, collected only when a backend asks.

Every function decorated with `llm_retry` has one `CallCounter` (shared by functions with the
same qualified name). A first attempt that succeeds costs one ``counter.first_time += 1``: no
event, no lock, no label lookup. Every other ending is rare and goes through
`CallCounter.ended`. The Prometheus and OpenTelemetry backends read the counters when they are
scraped or collected (``llm_retry_calls_total{callable, outcome}``, ``llm_retry.calls``), so a
program without a metrics backend pays nothing more.

The pipeline (`llm_retry.run`) does, for each call::

    counter = call_counter(name)          # once, when the retry segment is built
    ...
    result = wrapped(*args, **kwargs)     # the first attempt
    counter.first_time += 1               # it succeeded: the only work on the happy path
    ...
    counter.ended(error, attempts)        # any other ending (`RetryRun.failed`/`succeeded`)

and, where no counter is at hand (the drivers, the blocks), `counted_first_time` and
`counted_refusal` around the result or the `BudgetExhaustedError` of a call never made.

The increment is a plain attribute update, not a locked one: with the GIL, CPython does not
switch threads between its few bytecodes except in rare cases (a garbage collection running a
finalizer there), and on a free-threaded build racing increments may lose a count. That is the
price of a happy path that stays nearly free; every other outcome is counted under a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TypeVar

from llm_retry.errors import BudgetExhaustedError, CircuitOpenError

__all__ = [
    "CALLS_DESCRIPTION",
    "OUTCOMES",
    "CallCounter",
    "call_counter",
    "call_counts",
    "counted_first_time",
    "counted_refusal",
    "outcome_of",
]

OUTCOMES = (
    "succeeded_first_time",
    "succeeded_after_retries",
    "failed_not_retried",
    "failed_after_retries",
    "refused_by_circuit",
    "refused_by_budget",
)
"""The values of the ``outcome`` label of ``llm_retry_calls_total``."""
CALLS_DESCRIPTION = "Calls of functions decorated with llm_retry, by outcome"

_T = TypeVar("_T")
_lock = threading.Lock()
_counters: dict[str, CallCounter] = {}


def outcome_of(error: BaseException | None, attempts: int) -> str:
    """The outcome of a call that ended with ``error`` (``None``: a result) after ``attempts``."""
    if error is None:
        return "succeeded_first_time" if attempts <= 1 else "succeeded_after_retries"
    if isinstance(error, CircuitOpenError):
        return "refused_by_circuit"
    if isinstance(error, BudgetExhaustedError):
        return "refused_by_budget"
    return "failed_not_retried" if attempts <= 1 else "failed_after_retries"


class CallCounter:
    """The calls of one decorated function, by outcome.

    Attributes:
        callable: the function's qualified name (the ``callable`` label).
        first_time: calls whose first attempt succeeded; the wrapper adds 1 itself.
    """

    __slots__ = ("_ended", "callable", "first_time")

    def __init__(self, name: str) -> None:
        self.callable = name
        self.first_time = 0
        self._ended = dict.fromkeys(OUTCOMES[1:], 0)

    def ended(self, error: BaseException | None, attempts: int) -> None:
        """Count a call that did not succeed at its first attempt."""
        outcome = outcome_of(error, attempts)
        with _lock:
            if outcome == "succeeded_first_time":
                self.first_time += 1
            else:
                self._ended[outcome] += 1

    def counts(self) -> dict[str, int]:
        """Every outcome with its count so far."""
        with _lock:
            return {"succeeded_first_time": self.first_time, **self._ended}

    def __repr__(self) -> str:
        return f"CallCounter({self.callable!r}, {self.counts()})"


def call_counter(name: str) -> CallCounter:
    """The counter of the decorated function called ``name``, made on first use."""
    counter = _counters.get(name)
    if counter is not None:
        return counter
    with _lock:
        return _counters.setdefault(name, CallCounter(name))


def call_counts() -> Iterator[tuple[str, str, int]]:
    """``(callable, outcome, count)`` for every counter and outcome: what a scrape reports."""
    with _lock:
        counters = list(_counters.values())
    for counter in counters:
        for outcome, count in counter.counts().items():
            yield counter.callable, outcome, count


def counted_first_time(name: str, result: _T) -> _T:
    """Count a first-attempt success of ``name`` where no counter is at hand; return ``result``."""
    call_counter(name).ended(None, 1)
    return result


def counted_refusal(name: str, error: BaseException) -> BaseException:
    """Count a call of ``name`` refused before its first attempt; return ``error`` to raise."""
    call_counter(name).ended(error, 1)
    return error
