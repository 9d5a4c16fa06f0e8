"""The retry drivers: the one place tenacity's loop is built, for sync and async callables.

A driver makes the first attempt as a plain call; nothing is built unless it fails. Only then
is tenacity's ``Retrying`` (or ``AsyncRetrying``) set up, with strategies from one `RetryRun`
(the decision core), and told that attempt one already failed. Inside an active guard (a
``@budget`` scope, one context-variable read per call) the driver also asks the guard before
every attempt, tells it how each ended, and, for async callables, cancels an attempt that
outlives its timeout. The drivers only call, sleep and record; `RetryRun` decides.

A stop before the first attempt raises the guard's `BudgetExhaustedError`. A stop before a
retry raises the last attempt's own error, with the reason in its note, as any other give-up.
"""

from __future__ import annotations

import asyncio
import sys
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import tenacity

from llm_retry.decide.waits import GiveUp
from llm_retry.errors import PolicyError
from llm_retry.policy import Policy

from . import clock
from .engine import Admission, Guard, RetryRun, add_note, areplay, current_guard, replay

__all__ = [
    "EXPIRES",
    "Expiry",
    "PolicySource",
    "adrive",
    "aretry",
    "drive",
    "resolve",
    "retry",
    "timed",
]

PolicySource = Callable[[], Policy]
Attempt = Callable[..., Any]


def resolve(source: PolicySource, first: BaseException) -> Policy:
    """The policy for a call whose first attempt failed.

    A policy that cannot be loaded now (a bad ``LLM_RETRY_PROFILE``, a preset file broken
    since decoration) must not hide the API error: that error is raised, noted with why.
    """
    try:
        return source()
    except PolicyError as exc:
        problem = exc
    add_note(first, f"llm-retry: not retried, the policy could not be loaded: {problem}")
    raise first


class _Stopped(Exception):
    """The guard refused a retry; carries the reason out of tenacity's loop."""


_STOPPED = object()


def _stop_retries(run: RetryRun, admission: Admission) -> None:
    """Before a retry: take the guard's ticket, or leave tenacity's loop if it said stop."""
    if admission.stop is not None:
        run.step = GiveUp(admission.stop)
        raise _Stopped(admission.stop)
    run.ticket = admission.ticket


def _ended(run: RetryRun, result: Any) -> Any:
    """After the loop: the result, or, if the guard refused a retry, the last error, noted.

    The error is raised here, outside any ``except`` block, so its ``__context__`` stays as the
    attempt left it.
    """
    if result is _STOPPED:
        error = run.error
        assert error is not None  # noqa: S101 - a retry is only asked for after a failure
        run.failed(error)
        raise error
    run.succeeded()
    return result


# -- sync ----------------------------------------------------------------------------------
def _admit(guard: Guard, name: str, attempt: int) -> Admission:
    admission = guard.admit(name, attempt, None)
    while admission.stop is None and admission.delay > 0:
        clock.pause(admission.delay)
        admission = guard.admit(name, attempt, admission.ticket)
    return admission


def _settled(guard: Guard, ticket: object, call: Attempt, args: Any, kwargs: Any) -> Any:
    try:
        result = call(*args, **kwargs)
    except BaseException as exc:
        guard.settle(ticket, exc)
        raise
    guard.settle(ticket, None)
    return result


def drive(source: PolicySource, name: str, call: Attempt, args: Any, kwargs: Any) -> Any:
    """Call ``call(*args, **kwargs)``, retrying as the policy (and any active guard) allows."""
    guard = current_guard()
    start = clock.now()
    if guard is None:
        try:
            return call(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
            first = exc
        return retry(RetryRun(resolve(source, first), name, start), call, first, args, kwargs)
    admission = _admit(guard, name, 1)
    if admission.stop is not None:
        raise guard.exhausted(admission.stop)
    try:
        return _settled(guard, admission.ticket, call, args, kwargs)
    except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
        first = exc
    run = RetryRun(resolve(source, first), name, start, guard, admission.ticket)
    return retry(run, call, first, args, kwargs)


def retry(run: RetryRun, call: Attempt, first: Exception, args: Any, kwargs: Any) -> Any:
    """Go on from a failed first attempt: tenacity's loop, with the run's strategies."""
    guard = run.guard
    options = run.strategies()
    attempt: Attempt = call
    if guard is not None:
        attempt = lambda *a, **k: _settled(guard, run.ticket, call, a, k)  # noqa: E731

        def before(state: tenacity.RetryCallState) -> None:
            if state.attempt_number > 1:
                _stop_retries(run, _admit(guard, run.name, state.attempt_number))

        options["before"] = before
    retrying = tenacity.Retrying(sleep=clock.pause, **options)
    result: Any
    try:
        result = retrying(replay(first, attempt), *args, **kwargs)
    except _Stopped:
        result = _STOPPED
    except BaseException as exc:
        run.failed(exc)
        raise
    return _ended(run, result)


# -- async ---------------------------------------------------------------------------------
class Expiry:
    """Cancel the running task once ``seconds`` have passed, unless disarmed first.

    Cheaper than ``asyncio.timeout`` on the happy path, and the cancellation it causes comes
    out as a `TimeoutError` saying so (`translate`). Short timeouts get a loop timer of their
    own; long ones (a deadline tens of seconds away) share one timer per 50 ms slot of the
    loop's clock, so arming and disarming are a set insert and a set discard.
    """

    __slots__ = ("cancelling", "fired", "handle", "seconds", "slot", "task")

    def __init__(self, seconds: float) -> None:
        task: Any = asyncio.current_task()
        self.task = task
        self.seconds = seconds
        self.fired = False
        self.cancelling: int = task.cancelling()
        self.handle: asyncio.TimerHandle | None = None
        self.slot: set[Expiry] | None = None
        loop = asyncio.get_running_loop()
        if seconds < _SHARED_FROM:
            self.handle = loop.call_later(seconds, self.fire)
        else:
            _wheel(loop).add(self, loop.time() + seconds)

    def fire(self) -> None:
        """Time is up: cancel the task."""
        self.fired = True
        self.task.cancel()

    def disarm(self) -> None:
        """The attempt ended in time."""
        if self.handle is not None:
            self.handle.cancel()
        elif self.slot is not None:
            self.slot.discard(self)

    def translate(self, exc: BaseException) -> BaseException:
        """What to raise for ``exc``: a `TimeoutError` if this expiry caused it."""
        if not self.fired or not isinstance(exc, asyncio.CancelledError):
            return exc
        if self.task.uncancel() > self.cancelling:  # cancelled from outside as well
            return exc
        error = TimeoutError(f"attempt cancelled after its {self.seconds:.3g} s timeout")
        error.__cause__ = exc
        return error


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


def _wheel(loop: asyncio.AbstractEventLoop) -> _Wheel:
    found = _WHEELS.get(loop)
    if found is None:
        found = _WHEELS[loop] = _Wheel(loop)
    return found


async def timed(awaitable: Awaitable[Any], timeout: float) -> Any:
    """Await ``awaitable``, cancelling it after ``timeout`` seconds (a `TimeoutError`)."""
    if EXPIRES:
        expiry = Expiry(timeout)
        try:
            return await awaitable
        except asyncio.CancelledError as exc:
            error = expiry.translate(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            expiry.disarm()
    try:  # pragma: no cover - Python 3.10
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError as exc:  # pragma: no cover - Python 3.10
        raise TimeoutError(f"attempt cancelled after its {timeout:.3g} s timeout") from exc


async def _aadmit(guard: Guard, name: str, attempt: int) -> Admission:
    admission = guard.admit(name, attempt, None)
    while admission.stop is None and admission.delay > 0:
        await clock.apause(admission.delay)
        admission = guard.admit(name, attempt, admission.ticket)
    return admission


async def _asettled(guard: Guard, ticket: object, call: Attempt, args: Any, kwargs: Any) -> Any:
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


async def adrive(source: PolicySource, name: str, call: Attempt, args: Any, kwargs: Any) -> Any:
    """The async twin of `drive`, with the per-attempt timeout enforced by cancellation."""
    guard = current_guard()
    start = clock.now()
    if guard is None:
        try:
            return await call(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
            first = exc
        return await aretry(
            RetryRun(resolve(source, first), name, start), call, first, args, kwargs
        )
    admission = await _aadmit(guard, name, 1)
    if admission.stop is not None:
        raise guard.exhausted(admission.stop)
    try:
        return await _asettled(guard, admission.ticket, call, args, kwargs)
    except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
        first = exc
    run = RetryRun(resolve(source, first), name, start, guard, admission.ticket)
    return await aretry(run, call, first, args, kwargs)


async def aretry(run: RetryRun, call: Attempt, first: Exception, args: Any, kwargs: Any) -> Any:
    """The async twin of `retry`."""
    guard = run.guard
    options = run.strategies()
    attempt: Attempt = call
    if guard is not None:
        attempt = lambda *a, **k: _asettled(guard, run.ticket, call, a, k)  # noqa: E731

        async def before(state: tenacity.RetryCallState) -> None:
            if state.attempt_number > 1:
                _stop_retries(run, await _aadmit(guard, run.name, state.attempt_number))

        options["before"] = before
    retrying = tenacity.AsyncRetrying(sleep=clock.apause, **options)
    result: Any
    try:
        result = await retrying(areplay(first, attempt), *args, **kwargs)
    except _Stopped:
        result = _STOPPED
    except BaseException as exc:
        run.failed(exc)
        raise
    return _ended(run, result)
