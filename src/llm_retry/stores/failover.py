"""What a shared store does when its server is away or busy: go on with the last known state.

`Failover` remembers, per key, the last value this process read from or wrote to the server
(bounded: the least recently used of ``max_keys`` keys is forgotten first). When the server
fails, nothing learnt is forgotten:

- **Down** (refused, reset, timed out, read-only, out of memory): calls go on with the last
  known state, updated locally (an open circuit stays open, a block keeps blocking), with one
  warning event; the server is tried again every ``retry_interval`` seconds. When it answers,
  the keys changed locally meanwhile are dropped (the server is the truth again), and one event
  says so.
- **Busy** (no connection free in the pool within its wait, or an update that lost the race to
  other writers too many times): the server is fine, so it is not skipped. This one call is
  answered from the last known state and writes nothing to the server (the change is kept
  locally until the next read replaces it, so a probe let through still counts against the
  next callers of this process); one event per ``retry_interval`` says how often that happened.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from llm_retry.events import emit

from .base import Codec
from .memory import MemoryStore

__all__ = ["Contended", "Failover", "is_busy"]

T = TypeVar("T")
R = TypeVar("R")


class Contended(Exception):
    """An update lost the race to other writers more times than the store allows."""


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says the server is busy (a full pool, a contended key), not down.

    redis-py raises `MaxConnectionsError` from a plain pool at its limit, and a
    ``ConnectionError("No connection available.")`` from a ``BlockingConnectionPool`` whose wait
    ran out; a refused or broken connection is also a ``ConnectionError``, with another message.
    """
    if isinstance(exc, Contended):
        return True
    import redis  # noqa: PLC0415 - an optional dependency

    if isinstance(exc, redis.exceptions.MaxConnectionsError):
        return True
    return type(exc) is redis.ConnectionError and str(exc) == "No connection available."


class Failover:
    """The last known state of a shared store's keys, and whether its server answers."""

    def __init__(self, store: str, retry_interval: float, *, max_keys: int = 10_000) -> None:
        self.store = store
        self.retry_interval = retry_interval
        self.known = MemoryStore(max_keys=max_keys)
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._changed: set[str] = set()  # keys updated locally while the server was down
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._busy = 0
        self._busy_reported = -math.inf
        self.busy_calls = 0
        """Calls answered as busy since the store was made (each wrote nothing to the server)."""

    @property
    def available(self) -> bool:
        """Whether the last attempt to use the server worked."""
        return self._down_since is None

    def skip(self) -> bool:
        """Whether to use local state without trying the server (it was down a moment ago)."""
        return self._down_since is not None and time.monotonic() < self._retry_at

    # -- what the server said ------------------------------------------------------------
    def seen(self, key: str, value: Any, default: Any) -> None:
        """The server holds ``value`` at ``key`` (``None``: nothing); it answers again."""
        if self._down_since is not None:
            self._came_back()
        self.known.put(key, default if value is None else value, default)

    # -- when it does not answer ---------------------------------------------------------
    def peek(self, key: str, codec: Codec[T], exc: BaseException | None) -> T | None:
        """The last known value at ``key``, after the failure ``exc`` (``None``: skipped)."""
        if exc is not None:
            self.failed(exc)
        return self.known.peek(key, codec)

    def update(
        self,
        key: str,
        fn: Callable[[T], tuple[R, T]],
        default: T,
        codec: Codec[T],
        exc: BaseException | None,
    ) -> R:
        """``fn`` applied to the last known value at ``key``, after the failure ``exc``.

        The new value is kept locally either way, so that the calls that follow in this process
        see it (a probe let through counts against the others). While the server is down that
        state goes on being used; while it is only busy, the server is not written and the next
        value read from it replaces the local one.
        """
        if exc is not None and is_busy(exc):
            self._was_busy(exc)
            return self.known.update(key, fn, default, codec)
        if exc is not None:
            self.failed(exc)
        with self._lock:
            if len(self._changed) <= self._max_keys:
                self._changed.add(key)
        return self.known.update(key, fn, default, codec)

    def failed(self, exc: BaseException) -> None:
        """The server failed with ``exc``: busy (counted), or down (skipped for a while)."""
        if is_busy(exc):
            self._was_busy(exc)
            return
        with self._lock:
            self._retry_at = time.monotonic() + self.retry_interval
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        emit(
            "llm_retry.store_unavailable",
            "warning",
            store=self.store,
            error=type(exc).__name__,
            message=str(exc)[:200],
            fallback="last known state, kept in this process",
            retry_in=self.retry_interval,
        )

    def _was_busy(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self._busy += 1
            self.busy_calls += 1
            if now - self._busy_reported < self.retry_interval:
                return
            self._busy_reported, count, self._busy = now, self._busy, 0
        emit(
            "llm_retry.store_busy",
            "warning",
            store=self.store,
            error=type(exc).__name__,
            message=str(exc)[:200],
            calls=count,
            fallback="last known state, nothing written",
        )

    def _came_back(self) -> None:
        with self._lock:
            since, self._down_since = self._down_since, None
            changed, self._changed = self._changed, set()
        if since is None:
            return
        if len(changed) > self._max_keys:
            self.known.clear()
        for key in changed:  # the server is the truth again: local changes must not come back
            self.known.forget(key)
        emit(
            "llm_retry.store_recovered",
            "info",
            store=self.store,
            down_for=round(time.monotonic() - since, 3),
        )

    def clear(self) -> None:
        """Forget every known value."""
        with self._lock:
            self._changed.clear()
        self.known.clear()
