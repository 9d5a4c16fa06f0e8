"""The async retry drivers: the twins of `llm_retry.run.drivers`, and the fused segment.

Kept apart so that ``import llm_retry`` does not import ``asyncio``: this module is imported
when an ``async def`` is decorated. Attempts under a deadline or a per-attempt timeout are
cancelled past it by an `Expiry` (one loop timer, shared by the attempts of a 50 ms slot).
"""

from __future__ import annotations

import asyncio
import sys
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn

from llm_retry.instrumentation.calls import call_counter, counted_first_time, counted_refusal

from . import clock
from .drivers import (
    STOPPED,
    Attempt,
    PolicySource,
    Stopped,
    begin,
    block_failed,
    ended,
    resolve,
    stop_retries,
)
from .engine import Admission, Guard, RetryRun, areplay, current_guard
from .keys import prefetch
from .pipeline import Hook, Layer, ahooked
from .retry_strategy import quick

if TYPE_CHECKING:
    import tenacity

__all__ = ["EXPIRES", "Expiry", "aattempts", "adrive", "aretry", "fused_async", "timed"]

Call = Callable[..., Any]


# -- async ---------------------------------------------------------------------------------
class Expiry:
    """Cancel the running task once ``seconds`` have passed, unless disarmed first.

    Cheaper than ``asyncio.timeout`` on the happy path, and the cancellation it causes comes
    out as a `TimeoutError` saying so (`reraise`). Short timeouts get a loop timer of their
    own; long ones (a deadline tens of seconds away) share one timer per 50 ms slot of the
    loop's clock, so arming and disarming are a set insert and a set discard.
    """

    __slots__ = ("cancelling", "fired", "handle", "seconds", "slot", "task")

    def __init__(self, seconds: float) -> None:
        self.task: Any = asyncio.current_task()
        self.seconds = seconds
        self.fired = False
        self.cancelling = 0
        self.handle: asyncio.TimerHandle | None = None
        self.slot: set[Expiry] | None = None
        loop = asyncio.get_running_loop()
        if seconds < _SHARED_FROM:
            self.handle = loop.call_later(seconds, self.fire)
        else:
            _wheel(loop).add(self, loop.time() + seconds)

    def fire(self) -> None:
        """Time is up: cancel the task (counting the cancellations already asked for)."""
        self.fired = True
        self.cancelling = self.task.cancelling()
        self.task.cancel()

    def disarm(self) -> None:
        """The attempt ended in time."""
        if self.handle is not None:
            self.handle.cancel()
        elif self.slot is not None:
            self.slot.discard(self)

    def reraise(self, exc: asyncio.CancelledError) -> NoReturn:
        """Raise ``exc`` on, or a `TimeoutError` in its place if this expiry caused it."""
        if not self.fired or self.task.uncancel() > self.cancelling:  # not ours, or not only
            raise exc
        raise TimeoutError(f"attempt cancelled after its {self.seconds:.3g} s timeout") from exc


EXPIRES = sys.version_info >= (3, 11)
"""Whether `Expiry` works here (``Task.uncancel`` is new in Python 3.11)."""
_SHARED_FROM = 1.0  # seconds: timeouts this long share a slot timer
_GRAIN = 0.05  # seconds per slot


class _Wheel:
    """One loop's shared expiry timers: a set of expiries per slot, one timer per slot."""

    __slots__ = ("loop", "slots")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: dict[int, set[Expiry]] = {}

    def add(self, expiry: Expiry, at: float) -> None:
        slot = int(at / _GRAIN) + 1  # fire at the end of the slot: never early
        entries = self.slots.get(slot)
        if entries is None:
            entries = self.slots[slot] = set()
            self.loop.call_at(slot * _GRAIN, self._fire, slot)
        entries.add(expiry)
        expiry.slot = entries

    def _fire(self, slot: int) -> None:
        for expiry in self.slots.pop(slot, ()):
            expiry.fire()


_WHEELS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Wheel] = weakref.WeakKeyDictionary()


_LAST: list[_Wheel] = []  # the wheel used last: most programs run one loop


def _wheel(loop: asyncio.AbstractEventLoop) -> _Wheel:
    if _LAST and _LAST[0].loop is loop:
        return _LAST[0]
    found = _WHEELS.get(loop)
    if found is None:
        found = _WHEELS[loop] = _Wheel(loop)
    _LAST[:] = [found]
    return found


async def timed(awaitable: Awaitable[Any], timeout: float) -> Any:
    """Await ``awaitable``, cancelling it after ``timeout`` seconds (a `TimeoutError`)."""
    if EXPIRES:
        expiry = Expiry(timeout)
        try:
            return await awaitable
        except asyncio.CancelledError as exc:
            expiry.reraise(exc)
        finally:
            expiry.disarm()
    try:  # pragma: no cover - Python 3.10
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError as exc:  # pragma: no cover - Python 3.10
        raise TimeoutError(f"attempt cancelled after its {timeout:.3g} s timeout") from exc


async def _aadmit(guard: Guard, name: str, attempt: int) -> Admission:
    await prefetch(guard)  # the blocks are read with the store's async methods
    admission = guard.admit(name, attempt, None)
    while admission.stop is None and admission.delay > 0:
        await clock.apause(admission.delay)
        await prefetch(guard)
        admission = guard.admit(name, attempt, admission.ticket)
    return admission


async def _asettled(guard: Guard, ticket: object, call: Call, args: Any, kwargs: Any) -> Any:
    timeout = guard.attempt_timeout()
    try:
        if timeout is None:
            result = await call(*args, **kwargs)
        else:
            result = await timed(call(*args, **kwargs), timeout)
    except BaseException as exc:
        guard.settle(ticket, exc)
        raise
    guard.settle(ticket, None)
    return result


async def adrive(source: PolicySource, name: str, call: Call, args: Any, kwargs: Any) -> Any:
    """The async twin of `drive`, with the per-attempt timeout enforced by cancellation."""
    guard = current_guard()
    start = clock.now()
    if guard is None:
        try:
            return counted_first_time(name, await call(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
            first = exc
        return await aretry(
            RetryRun(resolve(source, first), name, start), call, first, args, kwargs
        )
    admission = await _aadmit(guard, name, 1)
    if admission.stop is not None:
        raise counted_refusal(name, guard.exhausted(admission.stop))
    try:
        result = await _asettled(guard, admission.ticket, call, args, kwargs)
        return counted_first_time(name, result)
    except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
        first = exc
    run = RetryRun(resolve(source, first), name, start, guard, admission.ticket)
    return await aretry(run, call, first, args, kwargs)


def _before(run: RetryRun, guard: Guard) -> Callable[[tenacity.RetryCallState], Awaitable[None]]:
    """Before each retry: the guard's admission (waits slept here), or a stop."""

    async def before(state: tenacity.RetryCallState) -> None:
        if state.attempt_number > 1:
            stop_retries(run, await _aadmit(guard, run.name, state.attempt_number))

    return before


async def aretry(run: RetryRun, call: Call, first: Exception, args: Any, kwargs: Any) -> Any:
    """The async twin of `retry`."""
    guard = run.guard
    attempt: Call = call
    before = None
    if guard is not None:
        attempt = lambda *a, **k: _asettled(guard, run.ticket, call, a, k)  # noqa: E731
        before = _before(run, guard)
    retrying = run.loop(is_async=True, before=before)
    result: Any
    try:
        result = await retrying(areplay(first, attempt), *args, **kwargs)
    except Stopped:
        result = STOPPED
    except BaseException as exc:
        run.failed(exc)
        raise
    return ended(run, result)


def fused_async(  # noqa: PLR0915 - one frame on purpose: see segment
    source: PolicySource, name: str, outer: Hook | None, inside: Hook | None
) -> Layer:
    """The async retry segment, in one coroutine frame for a stack's whole happy path.

    Under a guard with a deadline or a per-attempt timeout, the attempt is cancelled past it
    (`llm_retry.run.drivers.Expiry`: one shared loop timer, no extra frame).
    """

    counter = call_counter(name)  # calls by outcome (llm_retry.instrumentation.calls)

    # One frame on purpose (each coroutine frame costs memory per call in flight), hence the
    # branches a helper coroutine would otherwise hold.
    async def segment(  # noqa: PLR0912, PLR0915 - one frame, see above
        wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
    ) -> Any:
        token = None if outer is None else outer.enter(args, kwargs)
        try:
            guard = current_guard()
            if not quick(guard):
                result = await adrive(source, name, ahooked(inside, wrapped), args, kwargs)
            else:
                start = clock.now()
                failed: Exception | None = None
                try:
                    held = None if inside is None else inside.enter(args, kwargs)
                except Exception as exc:  # noqa: BLE001 - a refusal is a failed attempt
                    failed = exc
                else:
                    limit = None if guard is None else guard.attempt_timeout()
                    expiry = None if limit is None or not EXPIRES else Expiry(limit)
                    try:
                        if limit is None:
                            result = await wrapped(*args, **kwargs)
                        elif expiry is None:  # pragma: no cover - Python 3.10
                            result = await timed(wrapped(*args, **kwargs), limit)
                        else:
                            try:
                                result = await wrapped(*args, **kwargs)
                            except asyncio.CancelledError as exc:
                                expiry.reraise(exc)
                            finally:
                                expiry.disarm()
                    except Exception as exc:  # noqa: BLE001 - the policy decides
                        failed = exc
                        if inside is not None:
                            inside.exit(held, exc)
                    except BaseException as exc:
                        if inside is not None:
                            inside.exit(held, exc)
                        raise
                    else:
                        if inside is not None:
                            inside.exit(held, None)
                if failed is not None:
                    run = RetryRun(resolve(source, failed), name, start, guard)
                    result = await aretry(run, ahooked(inside, wrapped), failed, args, kwargs)
                else:
                    counter.first_time += 1  # calls by outcome: the happy path's one count
        except BaseException as exc:
            if outer is not None:
                outer.exit(token, exc)
            raise
        if outer is not None:
            outer.exit(token, None)
        return result

    return segment


async def aattempts(source: PolicySource, name: str) -> AsyncIterator[Attempt]:
    """The attempts of a retried ``async for`` block: the twin of `drivers.attempts`."""
    guard = current_guard()
    if guard is not None:  # admit the first attempt without blocking the loop
        admission = await _aadmit(guard, name, 1)
        if admission.stop is not None:
            raise counted_refusal(name, guard.exhausted(admission.stop))
        run = RetryRun(source(), name, clock.now(), guard, admission.ticket)
    else:
        run = begin(source, name, None)
    before = None if guard is None else _before(run, guard)
    try:
        async for manager in run.loop(is_async=True, before=before):
            yield Attempt(manager, guard, run.ticket)
    except BaseException as exc:
        block_failed(run, exc)
        raise
    if run.attempts > 1:
        run.succeeded()
    else:
        counted_first_time(name, None)
