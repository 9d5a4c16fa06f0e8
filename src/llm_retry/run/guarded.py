"""The ``@llm_retry`` drivers used while a guard (an active ``@budget``) is in force.

They do what the plain drivers in `llm_retry.retry` do, and also: ask the guard before every
attempt (waiting out blocks and pacing windows, or stopping when the deadline cannot be met),
tell it how each attempt ended, let it review every planned step (through `RetryRun`), and,
for async callables, cancel an attempt that outlives the per-attempt timeout.

A stop before the first attempt raises the guard's `BudgetExhaustedError`. A stop before a
retry raises the last attempt's own error, with the reason in its note, as any other give-up.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import tenacity

from llm_retry.decide.waits import GiveUp
from llm_retry.instrumentation.calls import counted_first_time, counted_refusal
from llm_retry.policy import Policy

from . import clock as _clock
from .engine import Admission, Guard, RetryRun, areplay, replay

__all__ = ["call_async", "call_sync"]

Call = tuple[Callable[..., Any], Any, Any]
"""The wrapped callable with its positional and keyword arguments."""


class _Stopped(Exception):
    """The guard refused a retry; carries the reason out of tenacity's loop."""


_STOPPED = object()


def _admit(guard: Guard, name: str, attempt: int) -> Admission:
    admission = guard.admit(name, attempt, None)
    while admission.stop is None and admission.delay > 0:
        _clock.pause(admission.delay)
        admission = guard.admit(name, attempt, admission.ticket)
    return admission


async def _aadmit(guard: Guard, name: str, attempt: int) -> Admission:
    admission = guard.admit(name, attempt, None)
    while admission.stop is None and admission.delay > 0:
        await _clock.apause(admission.delay)
        admission = guard.admit(name, attempt, admission.ticket)
    return admission


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
def _settled(guard: Guard, ticket: object, wrapped: Callable[..., Any], args: Any, kw: Any) -> Any:
    try:
        result = wrapped(*args, **kw)
    except BaseException as exc:
        guard.settle(ticket, exc)
        raise
    guard.settle(ticket, None)
    return result


def call_sync(guard: Guard, policy: Callable[[Exception], Policy], name: str, call: Call) -> Any:
    """Call ``wrapped(*args, **kw)`` under ``guard``, retrying as the policy and guard allow.

    ``policy`` gives the policy once the first attempt failed (with that failure, which it
    raises, noted, if the policy cannot be loaded).
    """
    wrapped, args, kw = call
    start = _clock.now()
    admission = _admit(guard, name, 1)
    if admission.stop is not None:
        raise counted_refusal(name, guard.exhausted(admission.stop))
    try:
        result: Any = _settled(guard, admission.ticket, wrapped, args, kw)
    except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
        first = exc
    else:
        return counted_first_time(name, result)
    run = RetryRun(policy(first), name, start, guard, admission.ticket)
    attempt = replay(first, lambda *a, **k: _settled(guard, run.ticket, wrapped, a, k))

    def before(state: tenacity.RetryCallState) -> None:
        if state.attempt_number > 1:
            _stop_retries(run, _admit(guard, name, state.attempt_number))

    retrying = tenacity.Retrying(sleep=_clock.pause, before=before, **run.strategies())
    try:
        result = retrying(attempt, *args, **kw)
    except _Stopped:
        result = _STOPPED
    except BaseException as exc:
        run.failed(exc)
        raise
    return _ended(run, result)


# -- async ---------------------------------------------------------------------------------
async def _timed(awaitable: Awaitable[Any], timeout: float) -> Any:
    """Await ``awaitable``, cancelling it after ``timeout`` seconds (a `TimeoutError`)."""
    if sys.version_info >= (3, 11):
        try:
            async with asyncio.timeout(timeout) as scope:
                return await awaitable
        except TimeoutError as exc:
            if scope.expired():
                raise TimeoutError(f"attempt cancelled after its {timeout:.3g} s timeout") from exc
            raise
    try:  # pragma: no cover - Python 3.10
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError as exc:  # pragma: no cover - Python 3.10
        raise TimeoutError(f"attempt cancelled after its {timeout:.3g} s timeout") from exc


async def _asettled(
    guard: Guard, ticket: object, wrapped: Callable[..., Any], args: Any, kw: Any
) -> Any:
    timeout = guard.attempt_timeout()
    try:
        if timeout is None:
            result = await wrapped(*args, **kw)
        else:
            result = await _timed(wrapped(*args, **kw), timeout)
    except BaseException as exc:
        guard.settle(ticket, exc)
        raise
    guard.settle(ticket, None)
    return result


async def call_async(
    guard: Guard, policy: Callable[[Exception], Policy], name: str, call: Call
) -> Any:
    """The async twin of `call_sync`, with the per-attempt timeout enforced by cancellation."""
    wrapped, args, kw = call
    start = _clock.now()
    admission = await _aadmit(guard, name, 1)
    if admission.stop is not None:
        raise counted_refusal(name, guard.exhausted(admission.stop))
    try:
        result: Any = await _asettled(guard, admission.ticket, wrapped, args, kw)
    except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
        first = exc
    else:
        return counted_first_time(name, result)
    run = RetryRun(policy(first), name, start, guard, admission.ticket)
    attempt = areplay(first, lambda *a, **k: _asettled(guard, run.ticket, wrapped, a, k))

    async def before(state: tenacity.RetryCallState) -> None:
        if state.attempt_number > 1:
            _stop_retries(run, await _aadmit(guard, name, state.attempt_number))

    retrying = tenacity.AsyncRetrying(sleep=_clock.apause, before=before, **run.strategies())
    try:
        result = await retrying(attempt, *args, **kw)
    except _Stopped:
        result = _STOPPED
    except BaseException as exc:
        run.failed(exc)
        raise
    return _ended(run, result)
