"""Streams under ``@llm_retry``: pull to the first output inside the retry loop, then relay.

An attempt of a streaming call is "call the function, then pull chunks until the first one that
carries output" (`llm_retry.run.shapes.is_output`, one rule per shape). Chunks before it
(anthropic's ``message_start``, a Responses ``response.created``, openai's opening chunk with
the role and no content, an empty LangChain chunk) are held back, so an error right after the
headers is retried like any failed request: nothing has reached the caller. An error event the
SDK yields instead of raising is raised here (`llm_retry.run.shapes.error_of`).

From then on a relay hands the chunks through. When the stream fails, the relay asks its
`Recovery` what to do, passing how many chunks the caller already has: give up with a note (the
default: a retry would repeat output), or, with ``restart=True``, a fresh stream from the start.
The sync and async relays differ only in how they call, pull and close.
"""

from __future__ import annotations

import inspect
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import wrapt

from .shapes import error_of, is_output

if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:  # wrapt 1.x proxies take no type arguments at run time
    _Proxy = wrapt.ObjectProxy

__all__ = [
    "AsyncRelay",
    "AsyncStreamProxy",
    "Primed",
    "Relay",
    "StreamProxy",
    "aprime",
    "is_output",
    "prime",
]

MAX_HELD = 256  # chunks held back before the first output (pings of a queued request)


def _checked(chunk: Any) -> Any:
    """``chunk``, unless it is an error event: then the error it stands for is raised."""
    error = error_of(chunk)
    if error is not None:
        raise error
    return chunk


@dataclass(slots=True)
class Primed:
    """A stream pulled up to its first output: ``held`` chunks first, then ``stream``."""

    stream: Any
    held: deque[Any] = field(default_factory=deque)
    ended: BaseException | None = None  # StopIteration / StopAsyncIteration, if it already ended


def _close(stream: object) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        close()


async def _aclose(stream: object) -> None:
    close = getattr(stream, "aclose", None) or getattr(stream, "close", None)
    if callable(close):
        result = close()
        if inspect.isawaitable(result):
            await result


def prime(stream: Any) -> Primed:
    """Pull ``stream`` up to and including its first output chunk (one attempt's work)."""
    primed = Primed(stream)
    try:
        while len(primed.held) < MAX_HELD:
            chunk = _checked(next(stream))
            primed.held.append(chunk)
            if is_output(chunk):
                break
    except StopIteration as stop:
        primed.ended = stop
    except BaseException:
        _close(stream)  # release the connection of a stream this attempt abandons
        raise
    return primed


async def aprime(stream: Any) -> Primed:
    """The async twin of `prime`."""
    primed = Primed(stream)
    try:
        while len(primed.held) < MAX_HELD:
            chunk = _checked(await stream.__anext__())
            primed.held.append(chunk)
            if is_output(chunk):
                break
    except StopAsyncIteration as stop:
        primed.ended = stop
    except BaseException:
        await _aclose(stream)
        raise
    return primed


class Recovery(Protocol):
    """What a relay asks when its stream fails after it opened."""

    def recover(self, exc: Exception, delivered: int) -> Primed:
        """A fresh stream to go on with, or raise (``exc``, noted)."""


class AsyncRecovery(Protocol):
    """The async twin of `Recovery`."""

    async def recover(self, exc: Exception, delivered: int) -> Primed:
        """A fresh stream to go on with, or raise (``exc``, noted)."""


class Relay:
    """Hand a primed stream's chunks through; on failure, recover or raise.

    It is an iterator with ``send``, ``throw`` and ``close``, so a generator can delegate to it
    with ``yield from`` and keep the generator protocol.
    """

    __slots__ = ("delivered", "primed", "recovery")

    def __init__(self, primed: Primed, recovery: Recovery) -> None:
        self.primed = primed
        self.recovery = recovery
        self.delivered = 0

    def __iter__(self) -> Relay:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        """The next chunk (``value`` goes to a generator's ``yield``)."""
        primed = self.primed
        if primed.held:
            self.delivered += 1
            return primed.held.popleft()
        if primed.ended is not None:
            raise StopIteration(getattr(primed.ended, "value", None))
        try:
            chunk = _checked(next(primed.stream) if value is None else primed.stream.send(value))
        except StopIteration as stop:
            primed.ended = stop
            raise
        except Exception as exc:  # noqa: BLE001 - the policy decides, through the recovery
            _close(primed.stream)
            self.primed = self.recovery.recover(exc, self.delivered)
            self.delivered = 0
            return self.send(None)
        self.delivered += 1
        return chunk

    def throw(self, exc: BaseException) -> Any:
        """Throw the caller's ``exc`` into a generator stream; it is never retried."""
        thrower = getattr(self.primed.stream, "throw", None)
        if thrower is None:
            raise exc
        chunk = thrower(exc)
        self.delivered += 1
        return chunk

    def close(self) -> None:
        """Close the stream (a generator gets ``GeneratorExit``)."""
        _close(self.primed.stream)


class AsyncRelay:
    """The async twin of `Relay`."""

    __slots__ = ("delivered", "primed", "recovery")

    def __init__(self, primed: Primed, recovery: AsyncRecovery) -> None:
        self.primed = primed
        self.recovery = recovery
        self.delivered = 0

    def __aiter__(self) -> AsyncRelay:
        return self

    async def __anext__(self) -> Any:
        return await self.asend(None)

    async def asend(self, value: Any) -> Any:
        """The next chunk (``value`` goes to an async generator's ``yield``)."""
        primed = self.primed
        if primed.held:
            self.delivered += 1
            return primed.held.popleft()
        if primed.ended is not None:
            raise StopAsyncIteration
        stream = primed.stream
        try:
            chunk = _checked(await (stream.__anext__() if value is None else stream.asend(value)))
        except StopAsyncIteration as stop:
            primed.ended = stop
            raise
        except Exception as exc:  # noqa: BLE001 - the policy decides, through the recovery
            await _aclose(stream)
            self.primed = await self.recovery.recover(exc, self.delivered)
            self.delivered = 0
            return await self.asend(None)
        self.delivered += 1
        return chunk

    async def athrow(self, exc: BaseException) -> Any:
        """Throw the caller's ``exc`` into an async generator stream; never retried."""
        thrower = getattr(self.primed.stream, "athrow", None)
        if thrower is None:
            raise exc
        chunk = await thrower(exc)
        self.delivered += 1
        return chunk

    async def aclose(self) -> None:
        """Close the stream."""
        await _aclose(self.primed.stream)


class StreamProxy(_Proxy):
    """The SDK stream a decorated function returned, iterated through a `Relay`.

    Everything else (``response``, ``isinstance(proxy, openai.Stream)``) is the stream's own;
    after a restart it is the new stream's.
    """

    def __init__(self, relay: Relay) -> None:
        super().__init__(relay.primed.stream)
        self._self_relay = relay

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        relay = self._self_relay
        chunk = relay.send(None)
        if relay.primed.stream is not self.__wrapped__:
            self.__wrapped__ = relay.primed.stream
        return chunk

    def close(self) -> None:
        """Close the stream and release its connection."""
        self._self_relay.close()

    def __enter__(self) -> StreamProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncStreamProxy(_Proxy):
    """The async twin of `StreamProxy`."""

    def __init__(self, relay: AsyncRelay) -> None:
        super().__init__(relay.primed.stream)
        self._self_relay = relay

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        relay = self._self_relay
        chunk = await relay.asend(None)
        if relay.primed.stream is not self.__wrapped__:
            self.__wrapped__ = relay.primed.stream
        return chunk

    async def close(self) -> None:
        """Close the stream and release its connection."""
        await self._self_relay.aclose()

    async def __aenter__(self) -> AsyncStreamProxy:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
