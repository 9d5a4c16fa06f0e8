"""Coordinated ``Retry-After``: when one call under a key is told to wait, all calls under it wait.

Calls under one key (a budget's name, or a function of the call's arguments such as the model)
share a *block*: the wall-clock time before which none of them sends. A 429 or 503 whose server
hint is honoured extends it (never shortens it: the latest ``until`` wins). Each call, before
its first attempt and before each retry, waits until the block is over instead of sending a
request that would collect its own 429.

The block lives in a store (`llm_retry.stores`), so with a `RedisStore` it holds across
processes. Reading it costs a dictionary lookup in memory; with Redis, a process reads it at
most once per ``refresh`` seconds and always knows its own blocks at once.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from llm_retry.decide.pacing import Pacer
from llm_retry.decide.retry_budget import RetryBudget
from llm_retry.stores import JSONCodec, MemoryStore, Store

from . import clock as _clock

__all__ = [
    "MAX_KEYS",
    "NO_BLOCK",
    "THROTTLE_STATUSES",
    "Block",
    "KeyThrottle",
    "default_store",
    "key_throttle",
    "prefetch",
    "reset",
    "retry_budget",
]

THROTTLE_STATUSES = frozenset({429, 503, 529})
"""Statuses that mean "too many requests, come back later": they feed blocks and pacing."""
_REFRESH = 0.1


@dataclass(frozen=True, slots=True)
class Block:
    """No call under the key sends before ``until`` (wall clock), because of a ``hint``-second
    wait the server asked for."""

    until: float = 0.0
    hint: float = 0.0

    def to_json(self) -> list[float]:
        """The block as JSON-ready data."""
        return [self.until, self.hint]

    @classmethod
    def from_json(cls, data: Any) -> Block:
        """The block from `to_json`'s data."""
        return cls(float(data[0]), float(data[1]))


NO_BLOCK = Block()
_CODEC: JSONCodec[Block] = JSONCodec(Block.to_json, Block.from_json)


class KeyThrottle:
    """One key's coordination: the shared block, and this process's pacer."""

    def __init__(self, key: str, store: Store, *, refresh: float = _REFRESH) -> None:
        self.key = key
        self.store = store
        self.pacer = Pacer()
        self._skey = f"throttle:{key}"
        self._refresh = refresh
        self._cached = NO_BLOCK
        self._read_at = -math.inf

    def block(self, now: float) -> Block:
        """The block in force at wall time ``now`` (`NO_BLOCK` if none)."""
        if not 0.0 <= now - self._read_at < self._refresh:
            self._cached = self.store.peek(self._skey, _CODEC) or NO_BLOCK
            self._read_at = now
        cached = self._cached
        return cached if cached.until > now else NO_BLOCK

    async def refresh(self) -> None:
        """Read the block now if `block` would, awaiting the store (for async callers); it
        counts as read when the answer came, so `block` right after uses it as it is."""
        apeek = getattr(self.store, "apeek", None)  # a store of its own may have only `peek`
        if apeek is not None and not 0.0 <= _clock.wall() - self._read_at < self._refresh:
            self._cached = await apeek(self._skey, _CODEC) or NO_BLOCK
            self._read_at = _clock.wall()

    def extend(self, hint: float, now: float) -> Block:
        """The server asked to wait ``hint`` seconds at ``now``: block until then, at least."""
        until = now + hint

        def step(old: Block) -> tuple[Block, Block]:
            new = old if old.until >= until else Block(until, hint)
            return new, new

        self._cached = self.store.update(self._skey, step, NO_BLOCK, _CODEC)
        self._read_at = now
        return self._cached


async def prefetch(guard: object) -> None:
    """Before an async call consults ``guard`` (a ``@budget`` scope), read its keys' blocks
    through the store's async methods, so that the sync `KeyThrottle.block` finds them fresh."""
    throttles: tuple[KeyThrottle, ...] = getattr(guard, "throttles", ())
    for throttle in throttles:
        await throttle.refresh()


# -- one object per (store, name), so that everything under a name shares it -----------------
T = TypeVar("T")
MAX_KEYS = 10_000
"""Per-key objects kept per registry (and values per default store); least recently used go."""
_DEFAULT_STORE = MemoryStore(max_keys=MAX_KEYS)
_lock = threading.Lock()
_throttles: OrderedDict[tuple[Store, str], KeyThrottle] = OrderedDict()
_budgets: OrderedDict[tuple[Store, str], RetryBudget] = OrderedDict()


def default_store() -> Store:
    """The process-wide store of circuits and budgets given none (there is one)."""
    return _DEFAULT_STORE


def _shared(
    registry: OrderedDict[tuple[Store, str], T],
    store: Store,
    name: str,
    make: Callable[[str, Store], T],
) -> T:
    """The one object per (store, name) in ``registry``, made on first use.

    At most `MAX_KEYS` are kept: past that the least recently used is dropped (a call still
    holding it goes on with it; the shared state it reads and writes is in the store).
    """
    entry = (store, name)
    with _lock:
        found = registry.get(entry)
        if found is None:
            found = registry[entry] = make(name, store)
            if len(registry) > MAX_KEYS:
                registry.popitem(last=False)
        else:
            registry.move_to_end(entry)
    return found


def key_throttle(store: Store, key: str) -> KeyThrottle:
    """The `KeyThrottle` of ``key`` in ``store``."""
    return _shared(_throttles, store, key, KeyThrottle)


def retry_budget(store: Store, name: str) -> RetryBudget:
    """The `RetryBudget` called ``name`` in ``store``."""
    return _shared(_budgets, store, name, RetryBudget)


def reset() -> None:
    """Forget every block, pacer, retry budget and circuit state of this process (for tests)."""
    with _lock:
        _throttles.clear()
        _budgets.clear()
        _DEFAULT_STORE.clear()
