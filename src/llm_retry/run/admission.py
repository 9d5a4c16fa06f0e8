"""Admission under a key: the concurrency limit and the rate windows, one strategy for both.

`KeyAdmission` is the narrow interface the drivers (through the scope) call:

* ``admit(now, start, held)`` before an attempt: ``(0, pass)`` go; ``(delay, pass)`` ask again
  after ``delay`` seconds with the same pass (a rate window has not started, or the limit is
  full and the caller holds a place in line);
* ``settle(pass, ok)`` when the attempt ends, ``learn(pass, signal, hint, now)`` once its
  failure is classified (`llm_retry.decide.limits.signal`), ``cancel(pass)`` if it is never sent.

Callers over the limit wait in a first-in first-out line in this process, each woken as soon as
a slot frees up here (`pause`/`apause`), or after a short poll for slots freed by other
processes. No lock is held across a call. The state itself lives in a backend: `LocalLimits`
(this process) or, for a `RedisStore`, `llm_retry.stores.redis_limits.RedisLimits` (one Lua
script per admission, shared by every process), which falls back to local state while Redis
is away. The arithmetic is `llm_retry.decide.limits`.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from llm_retry.decide import limits as _limits
from llm_retry.decide.limits import COLD, IDLE_RESET, LimitSettings, Signal
from llm_retry.stores import Store

from . import clock as _clock

__all__ = [
    "Hint",
    "KeyAdmission",
    "LocalLimits",
    "Pass",
    "apause",
    "key_admission",
    "pause",
    "reset",
]

Hint = tuple["float | None", "float | None"]
"""A refusal's ``(Retry-After seconds, seconds until the requests window resets)``."""
_HEAD_POLL = (0.005, 0.25)  # how often the head of the line looks for slots other processes freed
_LINE_POLL = 1.0  # others in line are woken by the one before them; this is a safety net
_STALE = 3 * _LINE_POLL  # a place in line whose caller has not asked for this long is dropped


class Waiter:
    """A way to wake one caller in line: a thread's event, or a task's event on its loop."""

    __slots__ = ("event", "line", "loop")

    def __init__(self, line: KeyAdmission) -> None:
        self.line = line  # whose line the caller waits in (to leave it if the wait is cut)
        asyncio = sys.modules.get("asyncio")  # not loaded: no event loop is running
        self.loop: Any = None
        if asyncio is not None:
            with contextlib.suppress(RuntimeError):
                self.loop = asyncio.get_running_loop()
        self.event: Any = threading.Event() if self.loop is None else asyncio.Event()  # type: ignore[union-attr]

    def wake(self) -> None:
        """Wake the caller (from any thread)."""
        if self.loop is None:
            self.event.set()
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.event.set)


@dataclass(slots=True)
class Pass:
    """One attempt's admission: what it was admitted under, and its place in line or window."""

    epoch: int = 0  # the concurrency limit's epoch when admitted
    k: int = 0  # attempts in flight when admitted, itself included
    repoch: int = 0  # the rate windows' epoch
    window: int = COLD  # the rate window reserved (COLD: none known)
    seq: int = -1  # the place in that window (-1: none reserved)
    admitted: bool = False
    in_line: bool = False  # waiting in this process's line for a slot
    local: bool = False  # admitted by local state while the shared store was away
    sent: float = 0.0  # when the attempt was sent (the active monotonic clock)
    asked: float = 0.0  # when the caller last asked (wall clock)
    told: bool = False  # its wait was reported (a throttled event)
    waiter: Waiter | None = None


class Backend(Protocol):
    """Where a key's limit state lives."""

    def admit(self, now: float, start: float, held: Pass, cfg: LimitSettings) -> float | None:
        """0: admitted (``held`` updated); > 0: its rate window starts then; ``None``: full."""

    def release(self, ticket: Pass, ok: bool, cfg: LimitSettings) -> None:
        """An admitted attempt ended."""

    def learn(self, ticket: Pass, sig: Signal, hint: Hint, now: float, cfg: Any) -> None:
        """A refusal or an overload of an attempt admitted with ``ticket``."""

    def cancel(self, ticket: Pass) -> None:
        """A reserved window place will not be used."""

    def free(self) -> int:
        """Slots free as far as this process knows (a hint: the line wakes this many)."""

    def snapshot(self) -> dict[str, float]:
        """``limit``, ``inflight`` and ``quota`` (for tests and events)."""


class LocalLimits:
    """A key's limit state in this process, behind a lock held only while numbers change."""

    def __init__(self, cfg: LimitSettings) -> None:
        self._lock = threading.Lock()
        self.limit = float(cfg.initial)
        self.inflight = 0
        self.epoch = 0
        self.grown = 1 << 30  # nothing refused yet: grow from the first success
        self.quota = 0  # rate windows off
        self.period = 1.0
        self.anchor = 0.0
        self.repoch = 0
        self.reserved: dict[int, int] = {}
        self.grown_to = -1
        self.origin = (-1, COLD)
        self.floor = 1
        self.last_refusal = 0.0
        self.cold_start = -1e300
        self.cold_sent = 0

    def admit(self, now: float, start: float, held: Pass, cfg: LimitSettings) -> float | None:
        with self._lock:
            if self.quota and now - self.last_refusal > IDLE_RESET:
                self.quota, self.repoch, self.reserved = 0, self.repoch + 1, {}
            if self.quota and cfg.pacing:
                at = self._window(start, held)
                if at > now:
                    return at - now
            if cfg.concurrency and self.inflight >= _limits.slots(self.limit):
                return None
            self.inflight += 1
            if not self.quota:
                if now - self.cold_start >= 1.0:
                    self.cold_start, self.cold_sent = now, 0
                self.cold_sent += 1
                held.repoch, held.window, held.seq = self.repoch, COLD, -1
            held.epoch, held.k, held.admitted = self.epoch, self.inflight, True
            return 0.0

    def _window(self, start: float, held: Pass) -> float:
        current = _limits.window_index(start, self.anchor, self.period)
        last = current - 1
        full = self.reserved.get(last, 0) >= self.quota
        if last >= _limits.PLATEAU and last > self.grown_to and full:
            self.grown_to, self.quota = last, self.quota + 1
        valid = held.repoch == self.repoch and held.seq >= 0 and held.window >= current
        if not (valid and held.seq < self.quota):
            for old in [w for w in self.reserved if w < current - 1]:
                del self.reserved[old]
            window = current
            while self.reserved.get(window, 0) >= self.quota:
                window += 1
            held.repoch, held.window = self.repoch, window
            held.seq = self.reserved.get(window, 0)
            self.reserved[window] = held.seq + 1
        return max(start, self.anchor + held.window * self.period)

    def release(self, ticket: Pass, ok: bool, cfg: LimitSettings) -> None:
        with self._lock:
            full = self.inflight >= _limits.slots(self.limit)
            self.inflight = max(0, self.inflight - 1)
            if ok:
                self.limit, self.grown = _limits.increased(self.limit, self.grown, full, cfg)

    def learn(self, ticket: Pass, sig: Signal, hint: Hint, now: float, cfg: Any) -> None:
        with self._lock:
            if sig == "rate":
                self._rate_refusal(ticket, hint[0], hint[1], now)
            elif sig in ("concurrency", "overload") and ticket.epoch == self.epoch:
                measured = ticket.k if sig == "concurrency" else 0  # an overload: no count
                self.limit = _limits.decreased(self.limit, measured, cfg)
                self.epoch += 1
                if sig == "concurrency":  # a measured limit: probe above it only now and then
                    self.grown = 0

    def _rate_refusal(
        self, ticket: Pass, hint: float | None, reset: float | None, now: float
    ) -> None:
        self.last_refusal = now
        if ticket.repoch != self.repoch:  # sent under the windows before: one fewer admitted
            if (ticket.repoch, ticket.window) == self.origin and self.quota:
                self.quota = max(self.floor, self.quota - 1)
            return
        come_back, period = _limits.period_for(hint, reset)
        sent = self.cold_sent if ticket.window == COLD else self.reserved.get(ticket.window, 1)
        self.origin = (self.repoch, ticket.window)
        self.quota, self.floor = _limits.measured_quota(sent, self.quota)
        self.repoch += 1
        self.period, self.anchor = period, now + come_back
        self.reserved, self.grown_to = {}, -1

    def cancel(self, ticket: Pass) -> None:
        with self._lock:
            if ticket.repoch == self.repoch and ticket.seq >= 0 and not ticket.admitted:
                count = self.reserved.get(ticket.window, 0)
                if count > 0:
                    self.reserved[ticket.window] = count - 1

    def free(self) -> int:
        return _limits.slots(self.limit) - self.inflight

    def snapshot(self) -> dict[str, float]:
        return {"limit": self.limit, "inflight": self.inflight, "quota": self.quota}


class KeyAdmission:
    """One key's admission: its backend and this process's line of callers over the limit."""

    def __init__(self, key: str, backend: Backend) -> None:
        self.key = key
        self.backend = backend
        self._line: deque[Pass] = deque()
        self._lock = threading.Lock()
        self.rtt = 0.05

    def admit(
        self, now: float, start: float, held: Pass | None, cfg: LimitSettings
    ) -> tuple[float, Pass]:
        """``(0, pass)``: go. ``(delay, pass)``: ask again after ``delay`` with this pass."""
        ticket = held if held is not None else Pass()
        ticket.asked = now
        line = self._line
        if line and line[0] is not ticket:  # others were here first: wait for them
            with self._lock:
                if not self._may_try(ticket):
                    self._queue(ticket)
                    return _LINE_POLL, ticket
        found = self.backend.admit(now, start, ticket, cfg)
        if found is None:
            with self._lock:
                self._queue(ticket)
                head = line[0] is ticket
            poll = min(_HEAD_POLL[1], max(_HEAD_POLL[0], self.rtt / 8))
            return (poll if head else _LINE_POLL), ticket
        if found > 0:
            return found, ticket
        if ticket.in_line:
            with self._lock:
                if ticket.in_line:
                    ticket.in_line = False
                    with contextlib.suppress(ValueError):
                        line.remove(ticket)
                    self._wake_front()
        return 0.0, ticket

    def admit_now(self, now: float, cfg: LimitSettings) -> Pass | None:
        """The happy path's first ask: ``None`` if others wait in line, else a pass.

        The pass is ``admitted`` when the backend admits it now; otherwise it may hold a place
        in a rate window, and is handed to `admit` as the held pass (no second round trip to
        a shared store, and the place is kept).
        """
        if self._line:
            return None
        ticket = Pass(asked=now)
        self.backend.admit(now, now, ticket, cfg)
        return ticket

    def _may_try(self, ticket: Pass) -> bool:
        """Whether ``ticket`` is among the first in line, as many as there are free slots."""
        line = self._line
        while line and line[0] is not ticket and ticket.asked - line[0].asked > _STALE:
            line.popleft().in_line = False  # its caller stopped asking: it went away
        free = max(1, self.backend.free())
        return ticket in itertools.islice(line, free)

    def _wake_front(self) -> None:
        for ticket in itertools.islice(self._line, max(1, self.backend.free())):
            _wake(ticket)

    def _queue(self, ticket: Pass) -> None:
        if not ticket.in_line:
            if ticket.waiter is None:
                ticket.waiter = Waiter(self)
            ticket.in_line = True
            self._line.append(ticket)

    def settle(self, ticket: Pass, ok: bool, cfg: LimitSettings, took: float) -> None:
        """An admitted attempt ended after ``took`` seconds: free its slot, wake the next."""
        self.rtt = 0.8 * self.rtt + 0.2 * took
        self.backend.release(ticket, ok, cfg)
        ticket.admitted = False
        if self._line:
            with self._lock:
                self._wake_front()

    def learn(self, ticket: Pass, sig: Signal, hint: Hint, now: float, cfg: LimitSettings) -> None:
        """Apply what a failure says (`llm_retry.decide.limits.signal`); ``hint`` is the
        server's ``(Retry-After, requests reset)``, either ``None`` if not given."""
        if sig not in ("ignore", "success"):
            self.backend.learn(ticket, sig, hint, now, cfg)

    def cancel(self, ticket: Pass) -> None:
        """The caller gives up before sending: leave the line, free a reserved window place."""
        with self._lock:
            if ticket.in_line:
                ticket.in_line = False
                with contextlib.suppress(ValueError):
                    self._line.remove(ticket)
                self._wake_front()
        self.backend.cancel(ticket)


def _wake(ticket: Pass) -> None:
    if ticket.waiter is not None:
        ticket.waiter.wake()


# -- waiting in line: the drivers' pause, woken early when a slot frees -------------------
def _waiter(ticket: object) -> Waiter | None:
    waiter = ticket.waiter if isinstance(ticket, Pass) else None
    return waiter if isinstance(_clock.active(), _clock.SystemClock) else None


def pause(delay: float, ticket: object) -> None:
    """Wait ``delay`` seconds, or less if the caller holding ``ticket`` is woken."""
    waiter = _waiter(ticket)
    if waiter is None or waiter.loop is not None:
        _clock.pause(delay)
        return
    try:
        waiter.event.wait(delay)
    except BaseException:
        waiter.line.cancel(ticket)  # type: ignore[arg-type]
        raise
    waiter.event.clear()


async def apause(delay: float, ticket: object) -> None:
    """The async twin of `pause`."""
    import asyncio  # noqa: PLC0415 - only async code waits here, with asyncio loaded

    waiter = _waiter(ticket)
    if waiter is None or waiter.loop is None:
        await _clock.apause(delay)
        return
    try:
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(waiter.event.wait(), delay)
    except BaseException:  # cancelled in line: leave it, or the ones behind would wait forever
        waiter.line.cancel(ticket)  # type: ignore[arg-type]
        raise
    waiter.event.clear()


# -- one admission per (store, key) -----------------------------------------------------------
_lock = threading.Lock()
_admissions: dict[tuple[Store, str], KeyAdmission] = {}


def _backend(store: Store, key: str, cfg: LimitSettings) -> Backend:
    from llm_retry.stores.redis import RedisStore  # noqa: PLC0415 - avoid an import cycle

    if isinstance(store, RedisStore):
        from llm_retry.stores.redis_limits import RedisLimits  # noqa: PLC0415

        return RedisLimits(store, key, LocalLimits(cfg))
    return LocalLimits(cfg)


def key_admission(store: Store, key: str, cfg: LimitSettings) -> KeyAdmission:
    """The `KeyAdmission` of ``key`` in ``store`` (made with ``cfg``'s initial limit)."""
    found = _admissions.get((store, key))
    if found is None:
        with _lock:
            found = _admissions.get((store, key))
            if found is None:
                found = _admissions[(store, key)] = KeyAdmission(key, _backend(store, key, cfg))
    return found


def reset() -> None:
    """Forget every key's limits in this process (for tests)."""
    with _lock:
        _admissions.clear()
