"""Shared state in Redis, so circuits and budgets hold across processes and hosts.

An update reads the value with a plain ``GET`` (most calls change nothing, and stop there), runs
the pure function, and writes with a compare-and-set script (`register_script`): the new value
is written only if the key still holds what was read, else the script answers with what it holds
now and the function runs again on that. Each round costs one round trip, one writer wins every
round; a writer that lost twice steps aside for a random moment (up to a few milliseconds)
before it reads again, and one that loses ``max_tries`` rounds in a row stops trying (see
below). Writers of one key in one process take turns, so the race is only with other processes.

Sync callers use a ``redis.Redis`` client; async callers (`apeek`, `aupdate`) a
``redis.asyncio`` client of the same server, made on first use in each event loop, so the loop
never waits on a socket. A URL-built store gives both a ``BlockingConnectionPool``: a call that
finds every connection in use waits up to ``pool_timeout`` seconds for one to come back, instead
of failing at once.

When Redis fails, `llm_retry.stores.failover` answers with the last known state: an open
circuit stays open. A full pool or a lost race is "busy", not an outage: that call is answered
from the last known state, and Redis is used again by the next.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from .base import Codec
from .failover import Contended, Failover
from .loops import LoopClients

__all__ = ["RedisStore"]

T = TypeVar("T")
R = TypeVar("R")

# KEYS[1]: the key. ARGV: was-present ("0"/"1"), the text read, "set"/"del", new text, ttl ms.
# Writes if the key still holds what was read and answers {1}; else answers {0, what it holds}.
_CAS = """
local now = redis.call('GET', KEYS[1])
if (ARGV[1] == '0' and now == false) or (ARGV[1] == '1' and now == ARGV[2]) then
  if ARGV[3] == 'del' then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
  end
  return {1}
end
if now == false then
  return {0}
end
return {0, now}
"""
_STRIPES = 64
_ASYNC_KWARGS = (
    "host",
    "port",
    "db",
    "username",
    "password",
    "socket_timeout",
    "socket_connect_timeout",
    "client_name",
    "decode_responses",
    "encoding",
)


def _redis_errors() -> tuple[type[BaseException], ...]:
    """Every failure of Redis itself (down, read-only replica, out of memory, not Redis)."""
    import redis  # noqa: PLC0415 - an optional dependency

    return (redis.RedisError, OSError)


def _in_event_loop() -> bool:
    """Whether this thread is running an event loop (a sync call now would block it)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _backoff(lost: int) -> float:
    """Seconds to wait after losing round ``lost`` (from 0) of a compare-and-set: none for the
    first two, then full jitter up to 0.1 ms doubling to a 2 ms cap. Writers that lost step
    aside at random, so one that keeps losing to faster ones gets its turn; real time, not the
    library's clock (this paces Redis commands, it is not a wait a policy chose)."""
    if lost < 2:
        return 0.0
    return random.uniform(0.0, min(0.002, 0.0001 * 2 ** (lost - 2)))


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class RedisStore:
    """A store in Redis.

    Args:
        url_or_client: a ``redis://`` URL, or a ``redis.Redis`` client to use as it is (its
            async twin then connects to the same host, port and database).
        prefix: prepended to every key.
        ttl: seconds a key lives after its last write (an idle circuit is forgotten).
        retry_interval: seconds between attempts to reach Redis again after a failure.
        timeout: socket timeout for a URL-built client, so a dead server cannot stall calls.
        max_connections: connections per URL-built pool (one sync pool, one per event loop).
        pool_timeout: seconds a call waits for a free connection of a full URL-built pool.
        max_tries: compare-and-set rounds an update may lose before it is answered as "busy".
        async_client: makes the ``redis.asyncio`` client for each event loop, if the default
            (from the URL, or the sync client's host and port) will not do.
    """

    def __init__(
        self,
        url_or_client: Any,
        *,
        prefix: str = "llm_retry:",
        ttl: float = 86_400.0,
        retry_interval: float = 5.0,
        timeout: float = 0.5,
        max_connections: int = 50,
        pool_timeout: float = 1.0,
        max_tries: int = 64,
        async_client: Callable[[], Any] | None = None,
    ) -> None:
        import redis  # noqa: PLC0415 - an optional dependency
        import redis.asyncio  # noqa: PLC0415 - now, not inside a loop's first call

        self._pool_kwargs: dict[str, Any] = {
            "max_connections": max_connections,
            "timeout": pool_timeout,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        }
        self._url = url_or_client if isinstance(url_or_client, str) else None
        if self._url is not None:
            pool = redis.BlockingConnectionPool.from_url(self._url, **self._pool_kwargs)
            url_or_client = redis.Redis.from_pool(pool)
        self.client = url_or_client
        self.prefix = prefix
        self.ttl = ttl
        self.max_tries = max_tries
        self.failover = Failover("redis", retry_interval)
        self.local = self.failover.known
        self._errors = _redis_errors()
        self._cas = self.client.register_script(_CAS)
        self._make_async = async_client
        # Writers of one key in this process take turns (a lock per stripe of keys), so the
        # compare-and-set races only other processes; the wait for a turn is bounded too.
        self._locks = [threading.Lock() for _ in range(_STRIPES)]
        self._lock_wait = pool_timeout + 4 * timeout
        self._loops = LoopClients(self._new_async_client, _CAS, _STRIPES)

    @property
    def available(self) -> bool:
        """Whether the last attempt to use Redis worked."""
        return self.failover.available

    @property
    def retry_interval(self) -> float:
        """Seconds between attempts to reach Redis again after a failure."""
        return self.failover.retry_interval

    # -- sync ----------------------------------------------------------------------------
    def peek(self, key: str, codec: Codec[T]) -> T | None:
        """The value at ``key`` from Redis (the last known one while Redis is away).

        Called inside a running event loop, it answers from the last known value and reads
        Redis in the background (`apeek`), so that the loop never waits on a socket.
        """
        if self.failover.skip():
            return self.failover.peek(key, codec, None)
        if _in_event_loop():
            self._loops.behind(self.apeek(key, codec))
            return self.failover.known.peek(key, codec)
        try:
            raw = self.client.get(self.prefix + key)
        except self._errors as exc:
            return self.failover.peek(key, codec, exc)
        value = None if raw is None else codec.decode(_text(raw))
        self.failover.seen(key, value, None)
        return value

    def update(self, key: str, fn: Callable[[T], tuple[R, T]], default: T, codec: Codec[T]) -> R:
        """Apply ``fn`` atomically in Redis; when Redis fails, to the last known value.

        Called inside a running event loop, it applies ``fn`` to the last known value at once
        and in Redis in the background (`aupdate`: atomically, to what Redis holds by then).
        """
        if _in_event_loop() and not self.failover.skip():
            self._loops.behind(self._aupdate(key, fn, default, codec, local=False))
            if self.failover.available:
                return self.failover.known.update(key, fn, default, codec)
            return self.failover.update(key, fn, default, codec, None)
        lock = self._locks[hash(key) % _STRIPES]
        if not lock.acquire(timeout=self._lock_wait):
            return self.failover.update(key, fn, default, codec, Contended(key))
        try:
            return self._update(key, fn, default, codec)
        finally:
            lock.release()

    def _update(self, key: str, fn: Callable[[T], tuple[R, T]], default: T, codec: Codec[T]) -> R:
        """`update`, with this process's turn for the key."""
        if self.failover.skip():  # checked again: it may have failed while this call waited
            return self.failover.update(key, fn, default, codec, None)
        full = self.prefix + key
        try:
            raw = self.client.get(full)
            for lost in range(self.max_tries):
                result, new, args = self._step(raw, fn, default, codec)
                if args is not None:
                    won, raw = self._won(self._cas(keys=[full], args=args))
                    if not won:
                        pause = _backoff(lost)
                        if pause:
                            time.sleep(pause)
                            raw = self.client.get(full)
                        continue
                self.failover.seen(key, new, default)
                return result
        except self._errors as exc:
            return self.failover.update(key, fn, default, codec, exc)
        return self.failover.update(key, fn, default, codec, Contended(key))

    # -- async ---------------------------------------------------------------------------
    async def apeek(self, key: str, codec: Codec[T]) -> T | None:
        """`peek` through this event loop's ``redis.asyncio`` client."""
        if self.failover.skip():
            return self.failover.peek(key, codec, None)
        try:
            raw = await (await self._loops.get()).client.get(self.prefix + key)
        except self._errors as exc:
            return self.failover.peek(key, codec, exc)
        value = None if raw is None else codec.decode(_text(raw))
        self.failover.seen(key, value, None)
        return value

    async def aupdate(
        self, key: str, fn: Callable[[T], tuple[R, T]], default: T, codec: Codec[T]
    ) -> R:
        """`update` through this event loop's ``redis.asyncio`` client."""
        return cast("R", await self._aupdate(key, fn, default, codec, local=True))

    async def _aupdate(
        self, key: str, fn: Callable[[T], Any], default: T, codec: Codec[T], *, local: bool
    ) -> Any:
        """`aupdate`; when Redis fails, ``fn`` is applied to the last known value only if
        ``local`` (a background write whose caller already did that says ``local=False``)."""
        try:
            here = await self._loops.get()
        except self._errors as exc:
            return self._fell_back(key, fn, default, codec, exc, local=local)
        client, cas = here.client, here.script
        async with here.locks[hash(key) % _STRIPES]:
            if self.failover.skip():  # checked again: it may have failed while this call waited
                return self._fell_back(key, fn, default, codec, None, local=local)
            full = self.prefix + key
            try:
                raw = await client.get(full)
                for lost in range(self.max_tries):
                    result, new, args = self._step(raw, fn, default, codec)
                    if args is not None:
                        won, raw = self._won(await cas(keys=[full], args=args))
                        if not won:
                            pause = _backoff(lost)
                            if pause:
                                await asyncio.sleep(pause)
                                raw = await client.get(full)
                            continue
                    self.failover.seen(key, new, default)
                    return result
            except self._errors as exc:
                return self._fell_back(key, fn, default, codec, exc, local=local)
        return self._fell_back(key, fn, default, codec, Contended(key), local=local)

    def _fell_back(
        self,
        key: str,
        fn: Callable[[T], Any],
        default: T,
        codec: Codec[T],
        exc: BaseException | None,
        *,
        local: bool,
    ) -> Any:
        if local:
            return self.failover.update(key, fn, default, codec, exc)
        if exc is not None:
            self.failover.failed(exc)
        return None

    def _new_async_client(self) -> Any:
        if self._make_async is not None:
            return self._make_async()
        import redis.asyncio  # noqa: PLC0415 - an optional dependency

        if self._url is not None:
            pool = redis.asyncio.BlockingConnectionPool.from_url(self._url, **self._pool_kwargs)
            return redis.asyncio.Redis.from_pool(pool)
        sync = self.client.connection_pool
        given = sync.connection_kwargs
        kwargs = {k: v for k, v in given.items() if k in _ASYNC_KWARGS or k.startswith("ssl_")}
        if "path" in given:
            kwargs["unix_socket_path"] = given["path"]
        if "SSL" in getattr(sync, "connection_class", type).__name__:
            kwargs["ssl"] = True
        return redis.asyncio.Redis(**kwargs)

    # -- one compare-and-set round ------------------------------------------------------
    def _step(
        self, raw: Any, fn: Callable[[T], tuple[R, T]], default: T, codec: Codec[T]
    ) -> tuple[R, T, list[Any] | None]:
        """``fn`` on the text ``raw``: its result, the new value, and the script's arguments
        (``None``: nothing to write)."""
        old = default if raw is None else codec.decode(_text(raw))
        result, new = fn(old)
        if new is old or new == old:
            return result, new, None
        present = ["0", ""] if raw is None else ["1", raw]
        if new == default:
            return result, new, [*present, "del", "", 0]
        return result, new, [*present, "set", codec.encode(new), max(1, int(self.ttl * 1000))]

    @staticmethod
    def _won(reply: Any) -> tuple[bool, Any]:
        """Whether the script wrote, and else the text the key holds now (``None``: none)."""
        if int(reply[0]) == 1:
            return True, None
        return False, reply[1] if len(reply) > 1 else None

    # -- housekeeping --------------------------------------------------------------------
    def clear(self) -> None:
        """Delete every key under the prefix (for tests and resets)."""
        for key in self.client.scan_iter(match=self.prefix + "*"):
            self.client.delete(key)
        self.failover.clear()

    def close(self) -> None:
        """Close the sync client's connections (a URL-built store's only)."""
        if self._url is not None:
            self.client.close()

    async def aclose(self) -> None:
        """Finish the background writes and close this event loop's async client.

        Without it the client is closed when the loop shuts down (``asyncio.run`` does that),
        but background writes still pending then are cancelled.
        """
        await self._loops.aclose()
