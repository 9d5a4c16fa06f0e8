"""Retry budgets: retries are allowed only while they stay a small share of calls.

This is gRPC's retry throttling, Finagle's ``RetryBudget`` and the AWS SDKs' retry quota in one
rule. Over a sliding window (10 s by default, counted in whole wall-clock seconds), a retry is
allowed while ::

    retries + 1 <= ratio * calls + min_retries_per_sec * window

Every call deposits one call when its first attempt is sent (first attempts are never refused);
every retry withdraws one. When many callers fail at once, the retries they may make together are
capped at ``ratio`` of the traffic (plus a small floor for quiet periods), so a provider that is
down is not hit by a retry storm.

The arithmetic is pure functions of a `Ledger`; a `RetryBudget` applies them through a store
(`llm_retry.stores`), in this process or shared across processes through Redis. Deposits are
counted locally and written once per second (or before a withdrawal), so a call that succeeds
never waits for the store.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from typing import Any

from llm_retry.stores import JSONCodec, Store

__all__ = ["EMPTY", "Ledger", "Limit", "RetryBudget", "Withdrawal", "deposit", "withdraw"]

Bucket = tuple[int, int, int]
"""One second of the window: (second, calls, retries)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """How many retries a budget allows.

    Args:
        ratio: retries allowed per call, over the window (0.2: one retry per five calls).
        min_retries_per_sec: retries always allowed per second of window, however few calls.
        window: the window in seconds.
    """

    ratio: float = 0.2
    min_retries_per_sec: float = 1.0
    window: float = 10.0

    def allowance(self, calls: int) -> float:
        """Retries allowed in a window that saw ``calls`` calls."""
        return self.ratio * calls + self.min_retries_per_sec * self.window


@dataclass(frozen=True, slots=True)
class Ledger:
    """Calls and retries per whole second, oldest first."""

    buckets: tuple[Bucket, ...] = ()

    def totals(self) -> tuple[int, int]:
        """Calls and retries in the window."""
        return sum(b[1] for b in self.buckets), sum(b[2] for b in self.buckets)

    def to_json(self) -> list[list[int]]:
        """The ledger as JSON-ready data."""
        return [list(b) for b in self.buckets]

    @classmethod
    def from_json(cls, data: Any) -> Ledger:
        """The ledger from `to_json`'s data."""
        return cls(tuple((int(s), int(c), int(r)) for s, c, r in data))


EMPTY = Ledger()
CODEC: JSONCodec[Ledger] = JSONCodec(Ledger.to_json, Ledger.from_json)


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """The answer to a retry's request: allowed or not, and the counts behind it."""

    allowed: bool
    retries: int
    calls: int
    allowance: float

    def explain(self, name: str, limit: Limit) -> str:
        """Why a refused retry was refused, for notes and events."""
        return (
            f"retry budget {name!r} exhausted: {self.retries} retries in the last "
            f"{limit.window:g} s, allowed {limit.min_retries_per_sec * limit.window:g} "
            f"+ {limit.ratio:.0%} of {self.calls} calls"
        )


def _add(ledger: Ledger, now: float, window: float, calls: int, retries: int) -> Ledger:
    """``ledger`` with counts added to the current second and seconds past the window dropped."""
    second = math.floor(now)
    oldest = second - math.ceil(window) + 1
    counts = {s: (c, r) for s, c, r in ledger.buckets if s >= oldest}
    if calls or retries:
        c, r = counts.get(second, (0, 0))
        counts[second] = (c + calls, r + retries)
    return replace(ledger, buckets=tuple((s, c, r) for s, (c, r) in sorted(counts.items())))


def deposit(ledger: Ledger, now: float, calls: int, window: float) -> Ledger:
    """``calls`` calls made in the second of ``now``."""
    return _add(ledger, now, window, calls, 0)


def withdraw(ledger: Ledger, now: float, limit: Limit) -> tuple[Withdrawal, Ledger]:
    """Ask for one retry at ``now``: the answer, and the ledger after it."""
    current = _add(ledger, now, limit.window, 0, 0)
    calls, retries = current.totals()
    allowance = limit.allowance(calls)
    if retries + 1 > allowance:
        return Withdrawal(False, retries, calls, allowance), current
    return Withdrawal(True, retries + 1, calls, allowance), _add(current, now, limit.window, 0, 1)


class RetryBudget:
    """The retry budget called ``name`` in ``store``: deposits and withdrawals.

    Deposits are batched per second in this process (no store access on a call that succeeds
    within the same second as the previous one); a withdrawal writes them first, so this process
    always sees its own calls.
    """

    def __init__(self, name: str, store: Store) -> None:
        self.name = name
        self.store = store
        self._key = f"budget:{name}"
        self._lock = threading.Lock()
        self._second: int | None = None
        self._pending = 0
        self._window = 10.0

    def deposit(self, now: float, window: float) -> None:
        """One call, at wall time ``now``."""
        second = math.floor(now)
        with self._lock:
            self._window = window
            if second == self._second:
                self._pending += 1
                return
            flushed = (self._second, self._pending)
            self._second, self._pending = second, 1
        if flushed[0] is not None and flushed[1]:
            self._write(float(flushed[0]), flushed[1], window)

    def withdraw(self, now: float, limit: Limit) -> Withdrawal:
        """Ask for one retry at wall time ``now``."""
        with self._lock:
            second, pending = self._second, self._pending
            self._pending = 0

        def step(ledger: Ledger) -> tuple[Withdrawal, Ledger]:
            if second is not None and pending:
                ledger = deposit(ledger, float(second), pending, limit.window)
            return withdraw(ledger, now, limit)

        return self.store.update(self._key, step, EMPTY, CODEC)

    def snapshot(self, now: float) -> tuple[int, int]:
        """Calls and retries in the window at ``now``, this process's pending calls included."""
        ledger = self.store.peek(self._key, CODEC) or EMPTY
        with self._lock:
            if self._second is not None and self._pending:
                ledger = deposit(ledger, float(self._second), self._pending, self._window)
        return _add(ledger, now, self._window, 0, 0).totals()

    def _write(self, second: float, calls: int, window: float) -> None:
        self.store.update(
            self._key, lambda ledger: (None, deposit(ledger, second, calls, window)), EMPTY, CODEC
        )
