"""Where shared state lives: in this process (`MemoryStore`, default) or in Redis (`RedisStore`).

Both offer one operation, `update(key, fn, default, codec)`: read the value at ``key`` (or
``default``), compute ``(result, new_value) = fn(value)`` with a pure function, write
``new_value`` if it changed, atomically, and return ``result``. Circuit breakers and budgets
keep their logic in pure functions and let the store make them atomic, so the same behaviour
holds in one process or across many. ``peek`` reads without a lock. Async callers await
``apeek`` and ``aupdate``, which never block the event loop. A shared store that cannot reach its
server answers from the last known state (`llm_retry.stores.failover`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Codec, JSONCodec, Store
from .memory import MemoryStore

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = ["Codec", "JSONCodec", "MemoryStore", "RedisStore", "Store"]


def __getattr__(name: str) -> Any:
    """`RedisStore`, imported only when asked for (Redis is optional)."""
    if name == "RedisStore":
        from .redis import RedisStore  # noqa: PLC0415

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
