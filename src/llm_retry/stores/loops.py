"""One ``redis.asyncio`` client per event loop, closed when the loop shuts down.

An asyncio client's connections belong to the loop that opened them, so a store used from
several loops (``asyncio.run`` per request, a loop per thread) needs a client per loop. Each is
made on first use in its loop, with the compare-and-set script and per-key locks that go with
it, and closed when the loop shuts down: ``asyncio.run`` (and any runner that calls
``loop.shutdown_asyncgens()``) closes the async generators still open, and one such generator,
parked at its ``yield``, closes the client in its ``finally``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

__all__ = ["LoopClient", "LoopClients"]


@dataclass(slots=True)
class LoopClient:
    """One event loop's client, its registered script, and the locks its writers take turns
    on (one per stripe of keys)."""

    client: Any
    script: Any
    locks: list[asyncio.Lock]
    closer: AsyncGenerator[None, None]


async def _close_at_shutdown(
    client: Any, forget: Callable[[], object]
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        forget()  # the client's connections refer to the loop: a weak key alone would stay
        await client.aclose()


class LoopClients:
    """The per-loop clients of one store, and the background work it started on each loop."""

    def __init__(self, make: Callable[[], Any], script: str, stripes: int) -> None:
        self._make = make
        self._script = script
        self._stripes = stripes
        self._found: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopClient] = (
            weakref.WeakKeyDictionary()
        )
        self._pending: set[asyncio.Task[Any]] = set()

    async def get(self) -> LoopClient:
        """The running loop's client, made on first use."""
        loop = asyncio.get_running_loop()
        found = self._found.get(loop)
        if found is None:
            client = self._make()
            closer = _close_at_shutdown(client, lambda: self._found.pop(loop, None))
            locks = [asyncio.Lock() for _ in range(self._stripes)]
            found = LoopClient(client, client.register_script(self._script), locks, closer)
            self._found[loop] = found  # before the await: one client per loop, whatever runs
            await closer.__anext__()  # parked: the loop's shutdown closes it, and the client
        return found

    def behind(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` on the running loop without waiting for it (a reference is kept)."""
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def __len__(self) -> int:
        return len(self._found)

    async def aclose(self) -> None:
        """Finish the running loop's background work, then close its client."""
        loop = asyncio.get_running_loop()
        pending = [t for t in self._pending if t.get_loop() is loop]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        found = self._found.get(loop)
        if found is not None:
            await found.closer.aclose()
