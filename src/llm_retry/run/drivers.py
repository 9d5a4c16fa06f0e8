"""The retry drivers: with `llm_retry.run.adrivers`, the one place tenacity's loop is built.

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

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from llm_retry.decide.waits import GiveUp
from llm_retry.errors import PolicyError
from llm_retry.instrumentation.calls import counted_first_time, counted_refusal
from llm_retry.policy import Policy

from . import clock
from .admission import pause
from .engine import Admission, Guard, RetryRun, add_note, current_guard, replay

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "STOPPED",
    "Attempt",
    "PolicySource",
    "Stopped",
    "attempts",
    "begin",
    "block_failed",
    "drive",
    "ended",
    "resolve",
    "retry",
    "stop_retries",
]

PolicySource = Callable[[], Policy]
Call = Callable[..., Any]


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


class Stopped(Exception):
    """The guard refused a retry; carries the reason out of tenacity's loop."""


STOPPED = object()


def stop_retries(run: RetryRun, admission: Admission) -> None:
    """Before a retry: take the guard's ticket, or leave tenacity's loop if it said stop."""
    if admission.stop is not None:
        run.step = GiveUp(admission.stop)
        raise Stopped(admission.stop)
    run.ticket = admission.ticket


def ended(run: RetryRun, result: Any) -> Any:
    """After the loop: the result, or, if the guard refused a retry, the last error, noted.

    The error is raised here, outside any ``except`` block, so its ``__context__`` stays as the
    attempt left it.
    """
    if result is STOPPED:
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
        pause(admission.delay, admission.ticket)  # woken early when a slot frees up
        admission = guard.admit(name, attempt, admission.ticket)
    return admission


def _settled(guard: Guard, ticket: object, call: Call, args: Any, kwargs: Any) -> Any:
    try:
        result = call(*args, **kwargs)
    except BaseException as exc:
        guard.settle(ticket, exc)
        raise
    guard.settle(ticket, None)
    return result


def drive(source: PolicySource, name: str, call: Call, args: Any, kwargs: Any) -> Any:
    """Call ``call(*args, **kwargs)``, retrying as the policy (and any active guard) allows."""
    guard = current_guard()
    start = clock.now()
    if guard is None:
        try:
            return counted_first_time(name, call(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
            first = exc
        return retry(RetryRun(resolve(source, first), name, start), call, first, args, kwargs)
    admission = _admit(guard, name, 1)
    if admission.stop is not None:
        raise counted_refusal(name, guard.exhausted(admission.stop))
    try:
        return counted_first_time(name, _settled(guard, admission.ticket, call, args, kwargs))
    except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
        first = exc
    run = RetryRun(resolve(source, first), name, start, guard, admission.ticket)
    return retry(run, call, first, args, kwargs)


def _before(run: RetryRun, guard: Guard) -> Callable[[tenacity.RetryCallState], None]:
    """Before each retry: the guard's admission (waits slept here), or a stop."""

    def before(state: tenacity.RetryCallState) -> None:
        if state.attempt_number > 1:
            stop_retries(run, _admit(guard, run.name, state.attempt_number))

    return before


def retry(run: RetryRun, call: Call, first: Exception, args: Any, kwargs: Any) -> Any:
    """Go on from a failed first attempt: tenacity's loop, with the run's strategies."""
    guard = run.guard
    attempt: Call = call
    before = None
    if guard is not None:
        attempt = lambda *a, **k: _settled(guard, run.ticket, call, a, k)  # noqa: E731
        before = _before(run, guard)
    retrying = run.loop(is_async=False, before=before)
    result: Any
    try:
        result = retrying(replay(first, attempt), *args, **kwargs)
    except Stopped:
        result = STOPPED
    except BaseException as exc:
        run.failed(exc)
        raise
    return ended(run, result)


# -- blocks (``for attempt in retrying(...)``) -------------------------------------------------
class Attempt:
    """One attempt of a retried block: put the code to retry under ``with attempt:``.

    Attributes:
        number: the attempt's number, from 1.
    """

    __slots__ = ("_guard", "_manager", "_ticket", "number")

    def __init__(self, manager: Any, guard: Guard | None, ticket: object) -> None:
        self._manager = manager
        self._guard = guard
        self._ticket = ticket
        self.number: int = manager.retry_state.attempt_number

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> bool | None:
        if self._guard is not None:
            self._guard.settle(self._ticket, error)
        result: bool | None = self._manager.__exit__(kind, error, traceback)
        return result

    async def __aenter__(self) -> Attempt:
        return self

    async def __aexit__(
        self, kind: Any, error: BaseException | None, traceback: Any
    ) -> bool | None:
        return self.__exit__(kind, error, traceback)

    def __repr__(self) -> str:
        return f"<Attempt {self.number}>"


def begin(source: PolicySource, name: str, guard: Guard | None) -> RetryRun:
    """The run of a block about to make its first attempt (admitted by ``guard``, if any)."""
    start = clock.now()
    ticket: object = None
    if guard is not None:
        admission = _admit(guard, name, 1)
        if admission.stop is not None:
            raise counted_refusal(name, guard.exhausted(admission.stop))
        ticket = admission.ticket
    return RetryRun(source(), name, start, guard, ticket)


def attempts(source: PolicySource, name: str) -> Iterator[Attempt]:
    """The attempts of a retried block, as the policy (and any active guard) allows."""
    guard = current_guard()
    run = begin(source, name, guard)
    before = None if guard is None else _before(run, guard)
    try:
        for manager in run.loop(is_async=False, before=before):
            yield Attempt(manager, guard, run.ticket)
    except BaseException as exc:
        block_failed(run, exc)
        raise
    if run.attempts > 1:
        run.succeeded()
    else:
        counted_first_time(name, None)


def block_failed(run: RetryRun, exc: BaseException) -> None:
    """A block's loop ended with ``exc``: note it, or raise the last error if a guard stopped."""
    if isinstance(exc, Stopped):
        error = run.error
        assert error is not None  # noqa: S101 - a retry is only asked for after a failure
        run.failed(error)
        raise error from None
    run.failed(exc)
