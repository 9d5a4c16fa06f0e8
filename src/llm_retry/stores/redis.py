"""Shared state in Redis, so circuits and budgets hold across processes and hosts.

Each update is optimistic: a plain ``GET`` first (most calls change nothing), and only if the
value must change, ``WATCH``/``MULTI``/``EXEC`` around the same pure function, retried if another
process wrote in between. When Redis cannot be reached, calls go on with local state
(`MemoryStore`) and one warning event; Redis is tried again every ``retry_interval`` seconds,
and its state is used again as soon as it answers (with one event saying so).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from llm_retry.events import emit

from .base import Codec
from .memory import MemoryStore

__all__ = ["RedisStore"]

T = TypeVar("T")
R = TypeVar("R")


def _redis_errors() -> tuple[type[BaseException], ...]:
    """Every failure of Redis itself (down, read-only replica, out of memory, not Redis)."""
    import redis  # noqa: PLC0415 - an optional dependency

    return (redis.RedisError, OSError)


class RedisStore:
    """A store in Redis.

    Args:
        url_or_client: a ``redis://`` URL, or a ``redis.Redis`` client to use as it is.
        prefix: prepended to every key.
        ttl: seconds a key lives after its last write (an idle circuit is forgotten).
        retry_interval: seconds between attempts to reach Redis again after a failure.
        timeout: socket timeout for a URL-built client, so a dead server cannot stall calls.
    """

    def __init__(
        self,
        url_or_client: Any,
        *,
        prefix: str = "llm_retry:",
        ttl: float = 86_400.0,
        retry_interval: float = 5.0,
        timeout: float = 0.5,
    ) -> None:
        if isinstance(url_or_client, str):
            import redis  # noqa: PLC0415 - an optional dependency

            url_or_client = redis.Redis.from_url(
                url_or_client, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        self.client = url_or_client
        self.prefix = prefix
        self.ttl = ttl
        self.retry_interval = retry_interval
        self.local = MemoryStore()
        self._errors = _redis_errors()
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0

    @property
    def available(self) -> bool:
        """Whether the last attempt to use Redis worked."""
        return self._down_since is None

    def peek(self, key: str, codec: Codec[T]) -> T | None:
        """The value at ``key`` from Redis (or local state while Redis is away)."""
        if self._skip():
            return self.local.peek(key, codec)
        try:
            raw = self.client.get(self.prefix + key)
        except self._errors as exc:
            self._went_down(exc)
            return self.local.peek(key, codec)
        self._came_back()
        return (
            None if raw is None else codec.decode(raw.decode() if isinstance(raw, bytes) else raw)
        )

    def update(self, key: str, fn: Callable[[T], tuple[R, T]], default: T, codec: Codec[T]) -> R:
        """Apply ``fn`` atomically in Redis; on connection trouble, locally."""
        if self._skip():
            return self.local.update(key, fn, default, codec)
        try:
            result = self._update(self.prefix + key, fn, default, codec)
        except self._errors as exc:
            self._went_down(exc)
            return self.local.update(key, fn, default, codec)
        self._came_back()
        return result

    def _update(self, key: str, fn: Callable[[T], tuple[R, T]], default: T, codec: Codec[T]) -> R:
        import redis  # noqa: PLC0415 - an optional dependency

        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    old = (
                        default
                        if raw is None
                        else codec.decode(raw.decode() if isinstance(raw, bytes) else raw)
                    )
                    result, new = fn(old)
                    if new is old or new == old:
                        pipe.unwatch()
                        return result
                    pipe.multi()
                    if new == default:
                        pipe.delete(key)
                    else:
                        pipe.set(key, codec.encode(new), px=int(self.ttl * 1000))
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue

    # -- availability ------------------------------------------------------------------
    def _skip(self) -> bool:
        return self._down_since is not None and time.monotonic() < self._retry_at

    def _went_down(self, exc: BaseException) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + self.retry_interval
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        emit(
            "llm_retry.store_unavailable",
            "warning",
            store="redis",
            error=type(exc).__name__,
            message=str(exc)[:200],
            fallback="local state in this process",
            retry_in=self.retry_interval,
        )

    def _came_back(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            self.local.clear()  # Redis is the truth again; stale local state must not come back
            emit(
                "llm_retry.store_recovered",
                "info",
                store="redis",
                down_for=round(time.monotonic() - since, 3),
            )

    def clear(self) -> None:
        """Delete every key under the prefix (for tests and resets)."""
        for key in self.client.scan_iter(match=self.prefix + "*"):
            self.client.delete(key)
        self.local.clear()
