"""The decision core of one failing call, shared by the sync and async drivers.

A `RetryRun` is created only once a first attempt has failed (the happy path never builds one).
Its methods are tenacity strategies: ``retry`` classifies the outcome, ``wait`` and ``stop`` read
the step that classification planned, ``before_sleep`` records the wait. The drivers in
`llm_retry.retry` only call, sleep and re-raise.

While a scope such as ``@budget`` is active, a `Guard` is held in a context variable. The drivers
then ask it before each attempt (`Guard.admit`), and `RetryRun.retry` lets it review each planned
step (`Guard.review`): a guard may lengthen a wait or turn it into a `GiveUp` with its reason,
which reaches the note and the ``gave_up`` event like any other. Without a guard nothing changes.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from llm_retry import sdk
from llm_retry.decide.classify import Decision, classify
from llm_retry.decide.marks import add_note, attach, attached, brief
from llm_retry.decide.outcomes import MAY_BILL_NOTE, Tally, billing, held_back, stream_break
from llm_retry.decide.waits import GiveUp, Wait, next_step
from llm_retry.events import emit

from . import clock as _clock

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from llm_retry.policy import Policy

__all__ = [
    "GUARD",
    "Admission",
    "Guard",
    "RetryRun",
    "Verdict",
    "add_note",
    "areplay",
    "current_guard",
    "replay",
    "verdict",
]


def replay(first: BaseException, call: Callable[..., Any]) -> Callable[..., Any]:
    """A callable that re-raises ``first`` (a failure already seen), then calls ``call``.

    tenacity's loop is only built after a first failure; handing it this callable lets the loop
    start from that failure instead of making the attempt again.
    """
    pending = [first]

    def attempt(*args: Any, **kwargs: Any) -> Any:
        if pending:
            raise pending.pop()
        return call(*args, **kwargs)

    return attempt


def areplay(first: BaseException, call: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """The async twin of `replay`."""
    pending = [first]

    async def attempt(*args: Any, **kwargs: Any) -> Any:
        if pending:
            raise pending.pop()
        return await call(*args, **kwargs)

    return attempt


_MESSAGE_CHARS = 300
_VERDICT = "__llm_retry_verdict__"


@dataclass(frozen=True, slots=True)
class Admission:
    """A guard's answer before an attempt: send now, wait ``delay`` and ask again, or ``stop``.

    ``ticket`` is the guard's record of the admission (a pacing slot), handed back to it when
    asking again after the delay and when the attempt is settled.
    """

    delay: float = 0.0
    ticket: object = None
    stop: str | None = None


class Guard(Protocol):
    """What the retry drivers consult while a scope (``@budget``) is active."""

    deadline: float
    """When the scope's time is up, on the active monotonic clock (``inf`` without one)."""
    passive: bool
    """``admit`` would only check the deadline and ``settle`` do nothing: the drivers may skip
    both for an attempt they start before the deadline."""

    def admit(self, name: str, attempt: int, held: object) -> Admission:
        """Before attempt number ``attempt`` is sent (``held``: the ticket of a previous ask)."""

    def review(self, step: Wait | GiveUp, run: RetryRun) -> Wait | GiveUp:
        """The step to take after a failed attempt, given the one the policy planned."""

    def settle(self, ticket: object, error: BaseException | None) -> None:
        """An admitted attempt ended, with ``error`` or successfully."""

    def attempt_timeout(self) -> float | None:
        """Seconds an attempt may take (async callables are cancelled past it), or ``None``."""

    def exhausted(self, reason: str) -> BaseException:
        """The error for a call stopped before its first attempt (``BudgetExhaustedError``)."""


GUARD: ContextVar[Guard | None] = ContextVar("llm_retry_guard", default=None)
"""The active guard; scopes ``set`` it for a call's duration and ``reset`` it with the token."""
current_guard = GUARD.get
"""The active guard, or ``None`` (the common case: one context variable read)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why llm-retry gave up on an error it raised, kept on the exception (for ``fallback``).

    ``ended`` is when, on the active clock: an outer ``@llm_retry`` holds back only a verdict
    given after its own call started, not one left by an earlier call on a reused exception.
    """

    decision: Decision | None
    reason: str
    ended: float = float("-inf")


def verdict(exc: BaseException) -> Verdict | None:
    """The verdict a `RetryRun` left on ``exc`` when it gave up on it, if any."""
    found = attached(exc, _VERDICT)
    return found if isinstance(found, Verdict) else None


def nested_give_up(
    exc: Exception, decision: Decision, start: float, policy: Policy
) -> GiveUp | None:
    """A give-up for ``exc`` if an inner ``@llm_retry`` gave up on it since ``start``, or ``None``.

    ``start`` is when the outer call began: a verdict from before it was left by an earlier call
    on an exception object raised again, and does not count.
    """
    inner = verdict(exc)
    if inner is None or inner.ended <= start or policy.retry_nested:
        return None
    return GiveUp(
        f"not retried: {decision.describe()}; an inner @llm_retry already gave up on it "
        f"({inner.reason}), and retrying at one layer only is the default "
        "(retry_nested=True retries it here too)"
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class RetryRun:
    """Classify each failed attempt, plan the next step, and report it."""

    __slots__ = (
        "attempts",
        "decision",
        "error",
        "guard",
        "name",
        "offset",
        "policy",
        "start",
        "step",
        "tally",
        "ticket",
    )

    def __init__(
        self,
        policy: Policy,
        name: str,
        start: float,
        guard: Guard | None = None,
        ticket: object = None,
    ) -> None:
        self.policy = policy
        self.name = name
        self.start = start
        self.attempts = 1
        self.decision: Decision | None = None
        self.step: Wait | GiveUp | None = None
        self.error: Exception | None = None
        self.guard = guard
        self.ticket = ticket  # the guard's ticket for the attempt in flight
        self.offset = 0  # attempts made before this loop (a stream resumed after it broke)
        self.tally = Tally()  # failed attempts that billed, or may have

    def elapsed(self) -> float:
        """Seconds since the first attempt started, on the active clock."""
        return _clock.now() - self.start

    # -- tenacity strategies -------------------------------------------------------------
    def loop(self, *, is_async: bool, before: Callable[..., Any] | None = None) -> Any:
        """tenacity's ``Retrying`` (or ``AsyncRetrying``) with this run's strategies.

        The one place tenacity's loop is built. ``before`` runs before each attempt (a guard's
        admission); sleeps go to the active clock.
        """
        import tenacity  # noqa: PLC0415 - the loop is built only after a failure

        options: dict[str, Any] = {
            "retry": self.retry,
            "wait": self.wait,
            "stop": self.stop,
            "before_sleep": self.before_sleep,
            "reraise": True,
        }
        if before is not None:
            options["before"] = before
        if is_async:
            return tenacity.AsyncRetrying(sleep=_clock.apause, **options)
        return tenacity.Retrying(sleep=_clock.pause, **options)

    def retry(self, state: RetryCallState) -> bool:
        """Classify the attempt's outcome; plan the next step; say whether to retry."""
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        resumed = stream_break(exc) if state.attempt_number == 1 else None
        if resumed is not None:  # a streaming call: go on counting where it left off
            self.offset, self.start, self.tally = resumed.attempt - 1, resumed.start, resumed.tally
        self.attempts = self.offset + state.attempt_number
        if not isinstance(exc, Exception):  # success, or cancellation / exit: never retried
            self.decision = self.step = None
            return False
        return self.failure(exc)

    def failure(self, exc: Exception) -> bool:
        """Classify failed attempt number ``attempts``, plan the next step, report it."""
        decision = classify(exc, self.policy, now=_clock.wall())
        self.decision = decision
        self.error = exc
        step = next_step(decision, self.policy, attempt=self.attempts, rand=random.random())
        held = nested_give_up(exc, decision, self.start, self.policy)
        if held is not None and isinstance(step, Wait):  # retry at one layer only
            step = held
        self._attempt_failed(exc, decision)
        self.step = held_back(step, exc, decision, self.name, self.policy.name)
        if self.guard is not None:
            self.step = self.guard.review(self.step, self)
        return decision.action == "retry"

    def wait(self, state: RetryCallState) -> float:
        """The planned wait (0 when giving up)."""
        return self.step.seconds if isinstance(self.step, Wait) else 0.0

    def stop(self, state: RetryCallState) -> bool:
        """Stop when the plan is to give up."""
        return isinstance(self.step, GiveUp)

    def before_sleep(self, state: RetryCallState) -> None:
        """Report the wait about to be slept."""
        step = self.step
        if not isinstance(step, Wait) or self.decision is None:
            return
        emit(
            "llm_retry.retry_scheduled",
            "info",
            callable=self.name,
            policy=self.policy.name,
            attempt=self.attempts + 1,
            wait=round(step.seconds, 3),
            source=step.source,
            backoff=round(step.backoff, 3),
            retry_after=None if step.retry_after is None else round(step.retry_after, 3),
            retry_after_header=self.decision.hint.source if step.retry_after is not None else None,
            elapsed=round(self.elapsed(), 3),
        )

    # -- endings -------------------------------------------------------------------------
    def failed(self, exc: BaseException) -> None:
        """The call ends with ``exc``: note why on it and report the give-up."""
        step = self.step
        if not isinstance(exc, Exception) or not isinstance(step, GiveUp):
            return
        elapsed = self.elapsed()
        summary = (
            f"gave up after {_plural(self.attempts, 'attempt')} in {elapsed:.1f} s: {step.reason}"
        )
        add_note(exc, f"llm-retry [{self.policy.name}]: {summary}")
        decision = self.decision
        attach(exc, _VERDICT, Verdict(decision, step.reason, _clock.now()))
        emit(
            "llm_retry.gave_up",
            "warning",
            callable=self.name,
            policy=self.policy.name,
            attempts=self.attempts,
            elapsed=round(elapsed, 3),
            reason=step.reason,
            error=decision.error if decision else None,
            status=decision.status if decision else None,
            code=decision.code if decision else None,
            billed_attempts=self.tally.billed or None,
            may_bill_attempts=self.tally.may_bill or None,
        )

    def succeeded(self) -> None:
        """The call succeeded after at least one failed attempt."""
        emit(
            "llm_retry.recovered",
            "info",
            callable=self.name,
            policy=self.policy.name,
            attempts=self.attempts,
            elapsed=round(self.elapsed(), 3),
            billed_attempts=self.tally.billed or None,
            may_bill_attempts=self.tally.may_bill or None,
        )

    def _attempt_failed(self, exc: Exception, decision: Decision) -> None:
        rule = decision.rule
        billed = billing(exc, decision)
        self.tally.billed += billed == "billed"
        self.tally.may_bill += billed == "may_bill"
        resumed = stream_break(exc)
        sdk.notice(exc, self.name)
        emit(
            "llm_retry.attempt_failed",
            "warning",
            callable=self.name,
            policy=self.policy.name,
            attempt=self.attempts,
            error=decision.error,
            status=decision.status,
            code=decision.code,
            classification=decision.action,
            rule=decision.matched,
            reason=decision.reason,
            fix=getattr(rule, "fix", None) or None,
            request_id=decision.request_id,
            ignored_headers=list(decision.hint.ignored) or None,
            message=brief(exc, _MESSAGE_CHARS),
            chunks=resumed.delivered if resumed is not None and resumed.delivered else None,
            billing=billed,
            billed_attempts=self.tally.billed or None,
            note=MAY_BILL_NOTE if billed == "may_bill" else None,
        )
