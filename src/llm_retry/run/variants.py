"""The ``@llm_retry`` wrappers for results that need more than a return: checks and streams.

Each variant is chosen once, at decoration time, and reuses the plain wrapper (``base``: the
sync or async driver of `llm_retry.retry`, guard included) by changing what one attempt is:

- ``validate=``: call, then check the result; a rejected result raises `InvalidResultError`
  inside the attempt, so the policy's ``results`` rules classify it like any failure.
- ``stream=True`` and generator functions: call, then pull to the first output chunk
  (`llm_retry.run.relay.prime`). A failure before it is an ordinary failed attempt. After it, the
  relay's recovery marks the failure with a `StreamBreak` and either gives up at once (the
  caller has output a retry would repeat) or, with ``restart=True``, goes back through ``base``
  with the failure replayed as the attempt that failed, so the count, the waits and any
  ``@budget`` carry on.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from llm_retry.decide.outcomes import StreamBreak, Tally, mark
from llm_retry.errors import InvalidResultError, PolicyError
from llm_retry.policy import Policy

from . import clock as _clock
from .engine import RetryRun, areplay, replay
from .relay import AsyncRelay, AsyncStreamProxy, Primed, Relay, StreamProxy, aprime, prime
from .streams import Detect, detector

__all__ = ["checked", "detector_for", "generator", "streaming", "wrapper_for"]

Wrapper = Callable[[Callable[..., Any], Any, Any, Any], Any]
Validator = Callable[[Any], "str | None"]


# -- validate= -----------------------------------------------------------------------------
def checked(base: Wrapper, validate: Validator, *, is_async: bool) -> Wrapper:
    """``base`` whose attempts raise `InvalidResultError` when ``validate`` rejects the result."""

    def check(result: Any) -> Any:
        reason = validate(result)
        if reason is not None:
            raise InvalidResultError(str(reason), result)
        return result

    if is_async:

        def awrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            async def attempt(*a: Any, **k: Any) -> Any:
                return check(await wrapped(*a, **k))

            return base(attempt, instance, args, kwargs)

        return awrapper

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        return base(lambda *a, **k: check(wrapped(*a, **k)), instance, args, kwargs)

    return wrapper


# -- streams -------------------------------------------------------------------------------
class _Call:
    """One call of a streaming function: how to open it again, and how to recover."""

    __slots__ = (
        "args",
        "base",
        "kwargs",
        "name",
        "opens",
        "reopen",
        "restart",
        "source",
        "start",
        "tally",
        "wrapped",
    )

    def __init__(
        self,
        base: Wrapper,
        wrapped: Callable[..., Any],
        args: Any,
        kwargs: Any,
        options: tuple[Callable[[], Policy], str, bool],
    ) -> None:
        self.base, self.wrapped, self.args, self.kwargs = base, wrapped, args, kwargs
        self.source, self.name, self.restart = options
        self.start = _clock.now()
        self.opens = 0  # attempts made: the stream in hand came from the latest
        self.tally = Tally()
        self.reopen: Callable[..., Any] = self.aattempt  # the async attempt, for restarts

    def attempt(self, *args: Any, **kwargs: Any) -> Any:
        """One attempt: call, and prime what comes back if it is a stream."""
        self.opens += 1
        try:
            result = self.wrapped(*args, **kwargs)
            return prime(result) if hasattr(result, "__next__") else result
        except Exception as exc:
            self._marked(exc, 0)
            raise

    async def aattempt(self, *args: Any, **kwargs: Any) -> Any:
        """The async twin of `attempt` (a sync stream returned by an async function is primed)."""
        self.opens += 1
        try:
            result = await self.wrapped(*args, **kwargs)
            if hasattr(result, "__anext__"):
                return await aprime(result)
            return prime(result) if hasattr(result, "__next__") else result
        except Exception as exc:
            self._marked(exc, 0)
            raise

    async def agen_attempt(self, *args: Any, **kwargs: Any) -> Primed:
        """One attempt of an async generator function: call it, and prime the generator."""
        self.opens += 1
        try:
            return await aprime(self.wrapped(*args, **kwargs))
        except Exception as exc:
            self._marked(exc, 0)
            raise

    def _marked(self, exc: Exception, delivered: int) -> StreamBreak:
        record = StreamBreak(self.opens, delivered, self.restart, self.start, self.tally)
        mark(exc, record)
        return record

    def _give_up(self, exc: Exception, record: StreamBreak) -> None:
        run = RetryRun(self.source(), self.name, self.start)
        run.attempts, run.tally = record.attempt, record.tally
        run.failure(exc)
        run.failed(exc)

    def recover(self, exc: Exception, delivered: int) -> Primed:
        """Raise ``exc`` with a note, or (``restart=True``) open the call again from the start."""
        record = self._marked(exc, delivered)
        if not self.restart:
            self._give_up(exc, record)
            raise exc
        again = replay(exc, self.attempt)
        return _primed(self.base(again, None, self.args, self.kwargs), exc)

    async def arecover(self, exc: Exception, delivered: int) -> Primed:
        """The async twin of `recover`."""
        record = self._marked(exc, delivered)
        if not self.restart:
            self._give_up(exc, record)
            raise exc
        again = areplay(exc, self.reopen)
        return _primed(await self.base(again, None, self.args, self.kwargs), exc)


class _AsyncRecovery:
    __slots__ = ("call",)

    def __init__(self, call: _Call) -> None:
        self.call = call

    async def recover(self, exc: Exception, delivered: int) -> Primed:
        return await self.call.arecover(exc, delivered)


def _primed(result: Any, exc: Exception) -> Primed:
    """The re-opened stream; a call that stopped streaming on a retry cannot go on."""
    if not isinstance(result, Primed):
        raise exc
    return result


def streaming(
    base: Wrapper, options: tuple[Callable[[], Policy], str, bool], *, is_async: bool
) -> Wrapper:
    """A wrapper for a function that returns a stream (``stream=True``)."""
    if is_async:

        async def awrapper(
            wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
        ) -> Any:
            call = _Call(base, wrapped, args, kwargs, options)
            result = await base(call.aattempt, instance, args, kwargs)
            if not isinstance(result, Primed):
                return result
            if hasattr(result.stream, "__anext__"):
                return AsyncStreamProxy(AsyncRelay(result, _AsyncRecovery(call)))
            return StreamProxy(Relay(result, call))

        return awrapper

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        call = _Call(base, wrapped, args, kwargs, options)
        result = base(call.attempt, instance, args, kwargs)
        return StreamProxy(Relay(result, call)) if isinstance(result, Primed) else result

    return wrapper


def generator(
    base: Wrapper, options: tuple[Callable[[], Policy], str, bool], *, is_async: bool
) -> Wrapper:
    """A wrapper for a generator (or async generator) function; it is one itself."""
    if is_async:
        return _agenerator(base, options)

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        call = _Call(base, wrapped, args, kwargs, options)
        return (yield from Relay(base(call.attempt, instance, args, kwargs), call))

    return wrapper


def _agenerator(base: Wrapper, options: tuple[Callable[[], Policy], str, bool]) -> Wrapper:
    """The async generator wrapper: ``asend`` values and ``athrow`` errors reach the stream."""

    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        call = _Call(base, wrapped, args, kwargs, options)
        call.reopen = call.agen_attempt
        relay = AsyncRelay(await base(call.reopen, instance, args, kwargs), _AsyncRecovery(call))
        sent: Any = None
        try:
            while True:
                try:
                    item = await relay.asend(sent)
                except StopAsyncIteration:
                    return
                while True:
                    try:
                        sent = yield item
                        break
                    except GeneratorExit:
                        raise
                    except BaseException as exc:  # noqa: BLE001 - the caller's, passed on
                        try:
                            item = await relay.athrow(exc)
                        except StopAsyncIteration:
                            return
        finally:
            await relay.aclose()

    return wrapper


def wrapper_for(
    func: Callable[..., Any],
    source: Callable[[], Policy],
    name: str,
    bases: tuple[Callable[[Callable[[], Policy], str], Wrapper], ...],
    *,
    validate: Validator | None,
    stream: bool | None,
    restart: bool,
) -> Wrapper | None:
    """The variant wrapper ``func`` needs, or ``None`` for the plain one; chosen once.

    Args:
        func: the decorated function.
        source: where its policy comes from.
        name: its name in events.
        bases: the plain sync and async wrapper factories.
        validate: the result check, if any.
        stream: the function returns a stream; ``None``: look at what it returns.
        restart: re-run a stream from the start when it fails after output.

    Raises:
        PolicyError: for options that do not fit the function.
    """
    target = getattr(func, "__func__", func)
    gen = inspect.isgeneratorfunction(target)
    agen = inspect.isasyncgenfunction(target)
    is_async = agen or inspect.iscoroutinefunction(target)
    _check(validate, streams=bool(stream or gen or agen), restart=restart and stream is not None)
    if not (gen or agen or stream or validate is not None):
        return None
    base = bases[1 if is_async else 0](source, name)
    options = (source, name, restart)
    if gen or agen:
        return generator(base, options, is_async=agen)
    if stream:
        return streaming(base, options, is_async=is_async)
    assert validate is not None  # noqa: S101 - the only variant left
    return checked(base, validate, is_async=is_async)


def detector_for(
    func: Callable[..., Any],
    source: Callable[[], Policy],
    name: str,
    bases: tuple[Callable[[Callable[[], Policy], str], Wrapper], ...],
    *,
    stream: bool | None,
    restart: bool,
    validate: Validator | None = None,
) -> Detect | None:
    """What the plain wrapper calls with a result that may be a stream (``stream=None``).

    ``None`` when nothing is to be detected: ``stream=`` given, or a variant (a generator
    function, ``validate=``) already handles the result.
    """
    target = getattr(func, "__func__", func)
    if stream is not None or validate is not None:
        return None
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        return None
    options = (source, name, restart)
    wrappers = (
        streaming(bases[0](source, name), options, is_async=False),
        streaming(bases[1](source, name), options, is_async=True),
    )
    return detector(wrappers, is_async=inspect.iscoroutinefunction(target))


def _check(validate: Validator | None, *, streams: bool, restart: bool) -> None:
    if validate is not None and not callable(validate):
        raise PolicyError(f"validate= must be a function of the result, not {validate!r}")
    if validate is not None and streams:
        raise PolicyError(
            "validate= checks a whole result and a stream has none: check the text you "
            "assemble from it instead"
        )
    if restart and not streams:
        raise PolicyError("restart=True applies to streams, and stream=False says there is none")
