"""Adaptive pacing for one key: learn how many requests the provider admits, and send no more.

A `Pacer` is opt-in (``@budget(..., pace=True)``) and lives in this process. It has two phases.

**Slow start.** Until the first throttle (429/503) nothing is known about the limit, so at most
``cwnd`` attempts are in flight at once; ``cwnd`` starts at 10 (TCP's initial window, RFC 6928)
and grows by one with each success, doubling every round trip. Calls over the window take a
place in line and sleep about one round trip per window-full of calls ahead of them, then ask
again (so wake-ups stay near ``cwnd`` per round trip however many wait). A burst of a hundred
calls therefore finds the limit in a few round trips instead of sending a hundred requests of
which most are refused.

**Windows.** The first throttle ends the slow start. The pacer then admits at most ``quota``
sends per ``period``, in windows starting when the server said to come back (its hint; one second
without one). The period is the hint too, but never shorter than a second: a short hint is the
time until the next unit of a token bucket frees up, not the length of the provider's window.
The quota is measured, not guessed: the sends in the refused window (or the last period of slow
start) minus every refusal that window collects, which is what the server admitted. That is the
multiplicative decrease, by the share the server refused, but never below 0.7 of the quota
before (AWS's beta), so one window the server refused for another reason cannot collapse it.
After four windows at a measured quota, each window that ends full raises it by one (additive
increase, with a plateau first, as CUBIC flattens near the last maximum), until a refusal
measures it again.
Senders reserve a place in the first window with room, so they go in order, and a reservation
made before the quota shrank is re-examined when its window comes.

All times are wall-clock seconds. Methods take the time as an argument and never sleep: the
drivers do. A lock guards the state but is never held across a call.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, replace

__all__ = ["COLD", "Pacer", "Ticket"]

COLD = -1
"""The window of a ticket issued during slow start."""
_INITIAL_WINDOW = 10
_PLATEAU = 4  # windows at a measured quota before probing above it
_BETA = 0.7  # the deepest one measurement may cut the quota (AWS adaptive mode's beta)
_MIN_POLL, _MAX_POLL, _FIRST_POLL = 0.005, 1.0, 0.01
_MIN_PERIOD, _MAX_PERIOD = 1.0, 60.0  # window lengths: a second up to a minute
_IDLE_RESET = 60.0  # seconds without a throttle after which the limit is learned again


@dataclass(frozen=True, slots=True)
class Ticket:
    """A place to send: in ``window`` (or `COLD`) of ``epoch``, ``seq``-th in that window."""

    epoch: int
    window: int
    seq: int
    sent: float = 0.0
    admitted: bool = False


class Pacer:
    """AIMD pacing of the sends under one key, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.epoch = 0
        self.quota: int | None = None  # sends per period once learned; None during slow start
        self.period = 1.0
        self.anchor = 0.0  # wall time window 0 of the epoch starts
        self._reserved: dict[int, int] = {}
        self._grown_to = -1
        self._origin: tuple[int, int] | None = None  # (epoch, window) the quota was measured on
        self._floor = 1  # the lowest the current measurement may take the quota
        self._cold_sends: deque[float] = deque()
        self._queued = 0  # places in line handed out during slow start
        self._admitted = 0  # slow-start sends admitted
        self.cwnd = _INITIAL_WINDOW
        self.inflight = 0
        self.rtt: float | None = None
        self._last_throttle = -math.inf

    # -- admission -----------------------------------------------------------------------
    def admit(
        self, now: float, not_before: float, held: Ticket | None
    ) -> tuple[float, Ticket | None]:
        """``(0, ticket)``: send now. ``(delay, ticket or None)``: ask again after ``delay``."""
        with self._lock:
            if self.quota is not None and now - self._last_throttle > _IDLE_RESET:
                self._restart()
            start = max(now, not_before)
            if self.quota is None:
                return self._admit_cold(now, start, held)
            return self._admit_window(now, start, held)

    def _admit_cold(
        self, now: float, start: float, held: Ticket | None
    ) -> tuple[float, Ticket | None]:
        if held is not None and held.epoch == self.epoch and held.window == COLD:
            place = held
        else:
            place = Ticket(self.epoch, COLD, self._queued)
            self._queued += 1
        if start > now:
            return start - now, place
        free = self.cwnd - self.inflight
        ahead = max(0, place.seq - self._admitted)
        if free <= 0 or ahead >= free:
            rounds = 1 + max(0, ahead - free) // self.cwnd
            return min(_MAX_POLL, self.poll_interval() * rounds), place
        self.inflight += 1
        self._admitted += 1
        self._cold_sends.append(now)
        while self._cold_sends and self._cold_sends[0] < now - _MAX_PERIOD:
            self._cold_sends.popleft()
        return 0.0, replace(place, sent=now, admitted=True)

    def _admit_window(
        self, now: float, start: float, held: Ticket | None
    ) -> tuple[float, Ticket | None]:
        quota = self.quota
        assert quota is not None  # noqa: S101 - only called once a quota is known
        current = max(0, math.floor((start - self.anchor) / self.period))
        quota = self._grow(current, quota)
        ticket = held if self._still_valid(held, quota, current) else None
        if ticket is None:
            ticket = self._reserve(current, quota, now)
        at = max(start, self.anchor + ticket.window * self.period)
        if at > now:
            return at - now, ticket
        self.inflight += 1
        return 0.0, replace(ticket, sent=now, admitted=True)

    def _still_valid(self, held: Ticket | None, quota: int, current: int) -> bool:
        return (
            held is not None
            and held.epoch == self.epoch
            and held.window >= current
            and held.seq < quota
        )

    def _grow(self, current: int, quota: int) -> int:
        """Additive increase: the window before ``current`` ended full, past the plateau."""
        last = current - 1
        if last >= _PLATEAU and last > self._grown_to and self._reserved.get(last, 0) >= quota:
            self._grown_to = last
            self.quota = quota = quota + 1
        return quota

    def _reserve(self, current: int, quota: int, now: float) -> Ticket:
        for old in [k for k in self._reserved if k < current - 1]:
            del self._reserved[old]
        window = current
        while self._reserved.get(window, 0) >= quota:
            window += 1
        seq = self._reserved.get(window, 0)
        self._reserved[window] = seq + 1
        return Ticket(self.epoch, window, seq, now)

    def poll_interval(self) -> float:
        """How long a sender held back by slow start waits before asking again.

        Half a round trip, so that senders follow completions closely (TCP's ACK clocking)
        without a wake-up per completion.
        """
        if self.rtt is None:
            return _FIRST_POLL
        return min(_MAX_POLL, max(_MIN_POLL, self.rtt / 2))

    # -- outcomes ------------------------------------------------------------------------
    def cancel(self, ticket: Ticket | None) -> None:
        """A reserved place will not be used (the caller gave up before sending)."""
        if ticket is None or ticket.admitted:
            return
        with self._lock:
            if ticket.epoch == self.epoch and self._reserved.get(ticket.window, 0) > 0:
                self._reserved[ticket.window] -= 1

    def settle(self, ticket: Ticket | None, ok: bool, now: float) -> None:
        """An admitted send finished; a success grows the slow-start window."""
        if ticket is None or not ticket.admitted:
            return
        with self._lock:
            self.inflight = max(0, self.inflight - 1)
            sample = max(0.0, now - ticket.sent)
            self.rtt = sample if self.rtt is None else 0.8 * self.rtt + 0.2 * sample
            if ok and self.quota is None and ticket.epoch == self.epoch:
                self.cwnd += 1

    def throttled(self, ticket: Ticket | None, hint: float | None, now: float) -> None:
        """A send admitted with ``ticket`` was refused (429/503), with the server's hint if any."""
        with self._lock:
            self._last_throttle = now
            if ticket is None or not ticket.admitted:
                return
            if ticket.epoch != self.epoch:  # sent under the previous regime
                if (ticket.epoch, ticket.window) == self._origin and self.quota is not None:
                    self.quota = max(self._floor, self.quota - 1)  # the window's next refusal
                return
            come_back = min(_MAX_PERIOD, hint if hint is not None else 1.0)
            period = max(_MIN_PERIOD, come_back)
            sent = self._sent_in(ticket.window, now, period)
            self._origin = (self.epoch, ticket.window)
            self._floor = max(1, math.floor(_BETA * self.quota)) if self.quota else 1
            self.epoch += 1
            self.quota = max(self._floor, sent - 1)
            self.period = period
            self.anchor = now + come_back
            self._reserved = {}
            self._grown_to = -1

    def _sent_in(self, window: int, now: float, period: float) -> int:
        if window != COLD:
            return self._reserved.get(window, 1)
        since = now - period
        return sum(1 for t in self._cold_sends if t >= since) or 1

    def _restart(self) -> None:
        """Nothing was refused for a minute: stop pacing and learn the limit again.

        The slow start resumes from the last quota as its window, not from scratch, so a quiet
        minute does not cost a ramp-up from four calls in flight.
        """
        self.epoch += 1
        self.cwnd = max(_INITIAL_WINDOW, self.quota or 0)
        self.quota = None
        self._reserved = {}
        self._cold_sends.clear()
        self._queued = self._admitted = 0
        self.inflight = 0
