"""The clock every wait and deadline reads: the system's, or a virtual one in tests.

``now`` (monotonic), ``wall`` (``time.time``), ``sleep`` and ``asleep`` are module attributes
rebound by `use`, so the hot path pays one attribute lookup and no indirection.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock", "VirtualClock", "asleep", "now", "sleep", "use", "wall"]


class Clock(Protocol):
    """What llm-retry needs from a clock."""

    def now(self) -> float:
        """Monotonic seconds."""

    def wall(self) -> float:
        """Wall-clock seconds since the epoch (for HTTP-date headers)."""

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""

    async def asleep(self, seconds: float) -> None:
        """Suspend for ``seconds``."""


class SystemClock:
    """The real clock."""

    now = staticmethod(time.monotonic)
    wall = staticmethod(time.time)
    sleep = staticmethod(time.sleep)

    async def asleep(self, seconds: float) -> None:
        """``asyncio.sleep``: a cancellation during the wait ends it at once."""
        import asyncio  # noqa: PLC0415 - only async code waits here, with asyncio loaded

        await asyncio.sleep(seconds)


class VirtualClock:
    """A clock that only moves when something sleeps on it or `advance` is called.

    Sleeps return at once; each is recorded in `waits`. Thread-safe.
    """

    def __init__(self, start: float = 1000.0, wall_start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._start = start
        self._now = start
        self._wall_start = time.time() if wall_start is None else wall_start
        self.waits: list[float] = []

    def now(self) -> float:
        """Virtual monotonic seconds."""
        return self._now

    def wall(self) -> float:
        """Virtual wall-clock seconds: the real time at creation plus virtual time since."""
        return self._wall_start + (self._now - self._start)

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a wait (time spent inside a call)."""
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Record the wait and move time forward; return at once."""
        with self._lock:
            self.waits.append(seconds)
            self._now += seconds

    async def asleep(self, seconds: float) -> None:
        """As `sleep`, but yields to the event loop once, so cancellation still lands."""
        self.sleep(seconds)
        import asyncio  # noqa: PLC0415 - only async code waits here, with asyncio loaded

        await asyncio.sleep(0)


_active: Clock = SystemClock()
now = _active.now
wall = _active.wall
sleep = _active.sleep
asleep = _active.asleep


def pause(seconds: float) -> None:
    """Sleep on the clock active now (read at call time, unlike a bound ``sleep``)."""
    _active.sleep(seconds)


async def apause(seconds: float) -> None:
    """Async sleep on the clock active now."""
    await _active.asleep(seconds)


def active() -> Clock:
    """The clock in use."""
    return _active


def use(clock: Clock) -> Clock:
    """Make ``clock`` the clock in use; return the previous one."""
    global _active, now, wall, sleep, asleep  # noqa: PLW0603 - rebinding is the point
    previous = _active
    _active = clock
    now, wall, sleep, asleep = clock.now, clock.wall, clock.sleep, clock.asleep
    return previous
