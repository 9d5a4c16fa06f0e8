"""The store protocol and the codec that turns values into text for shared stores."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Codec", "JSONCodec", "Store"]

T = TypeVar("T")
R = TypeVar("R")


class Codec(Protocol[T]):
    """Turns a value into text and back, for stores outside the process."""

    def encode(self, value: T) -> str:
        """The value as text."""

    def decode(self, text: str) -> T:
        """The value the text describes."""


class JSONCodec(Generic[T]):
    """A codec from a pair of functions to and from JSON-ready data."""

    def __init__(self, to_json: Callable[[T], Any], from_json: Callable[[Any], T]) -> None:
        self._to = to_json
        self._from = from_json

    def encode(self, value: T) -> str:
        """``value`` as compact JSON."""
        return json.dumps(self._to(value), separators=(",", ":"))

    def decode(self, text: str) -> T:
        """The value from its JSON."""
        return self._from(json.loads(text))


class Store(Protocol):
    """Atomic read-compute-write of values by key, for sync and async callers.

    The ``a``-methods do the same as their sync twins without blocking the event loop: async
    callers (``@circuit`` on ``async def``, ``@budget`` drivers) await them. A store in this
    process may implement them as plain calls; one across the network must await its I/O.
    """

    def peek(self, key: str, codec: Codec[T]) -> T | None:
        """The value at ``key``, or ``None``; no lock, may be stale by the time it is used."""

    def update(self, key: str, fn: Callable[[T], tuple[R, T]], default: T, codec: Codec[T]) -> R:
        """Apply ``fn`` to the value at ``key`` atomically; a returned ``default`` deletes it."""

    async def apeek(self, key: str, codec: Codec[T]) -> T | None:
        """`peek` for async callers: never blocks the event loop on I/O."""

    async def aupdate(
        self, key: str, fn: Callable[[T], tuple[R, T]], default: T, codec: Codec[T]
    ) -> R:
        """`update` for async callers: never blocks the event loop on I/O."""
