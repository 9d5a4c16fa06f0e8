"""Shared state in this process: a dict behind a lock, bounded by least-recent use."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from .base import Codec

__all__ = ["MemoryStore"]

T = TypeVar("T")
R = TypeVar("R")


class MemoryStore:
    """Values in a dict; ``update`` holds a lock only while the pure function runs.

    A value equal to its default (a closed, clean circuit) is not kept at all, and at most
    ``max_keys`` values are: past that the least recently used is forgotten, so per-key
    circuits over an unbounded set of keys cannot grow without limit.
    """

    def __init__(self, *, max_keys: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._max_keys = max_keys

    def peek(self, key: str, codec: Codec[T]) -> T | None:
        """The value at ``key`` without locking (a dict read is atomic)."""
        return self._data.get(key)

    def update(self, key: str, fn: Callable[[T], tuple[R, T]], default: T, codec: Codec[T]) -> R:
        """Apply ``fn`` under the lock and keep its new value."""
        with self._lock:
            old = self._data.get(key, default)
            result, new = fn(old)
            if new is not old:
                self._put(key, new, default)
            return result

    async def apeek(self, key: str, codec: Codec[T]) -> T | None:
        """`peek`, for async callers (a dict read: nothing to wait for)."""
        return self._data.get(key)

    async def aupdate(
        self, key: str, fn: Callable[[T], tuple[R, T]], default: T, codec: Codec[T]
    ) -> R:
        """`update`, for async callers (the lock is held only while ``fn`` runs)."""
        return self.update(key, fn, default, codec)

    def put(self, key: str, value: Any, default: Any) -> None:
        """Keep ``value`` at ``key`` (a value equal to ``default`` is not kept at all)."""
        with self._lock:
            self._put(key, value, default)

    def forget(self, key: str) -> None:
        """Drop the value at ``key``, if any."""
        with self._lock:
            self._data.pop(key, None)

    def _put(self, key: str, value: Any, default: Any) -> None:
        if value == default:
            self._data.pop(key, None)
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._max_keys:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()
