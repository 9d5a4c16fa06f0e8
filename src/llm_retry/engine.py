"""The decision core of one failing call, shared by the sync and async drivers.

A `RetryRun` is created only once a first attempt has failed (the happy path never builds one).
Its methods are tenacity strategies: ``retry`` classifies the outcome, ``wait`` and ``stop`` read
the step that classification planned, ``before_sleep`` records the wait. The drivers in
`llm_retry.retry` only call, sleep and re-raise.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from . import _clock
from .classify import Decision, classify
from .events import emit
from .waits import GiveUp, Wait, next_step

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from .policy import Policy

__all__ = ["RetryRun", "add_note"]

_MESSAGE_CHARS = 300


def add_note(exc: BaseException, note: str) -> None:
    """PEP 678 ``add_note``, with the same ``__notes__`` list on Python 3.10."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # pragma: no cover - Python 3.10
        exc.__notes__ = [*getattr(exc, "__notes__", ()), note]  # type: ignore[attr-defined]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class RetryRun:
    """Classify each failed attempt, plan the next step, and report it."""

    __slots__ = ("attempts", "decision", "name", "policy", "start", "step")

    def __init__(self, policy: Policy, name: str, start: float) -> None:
        self.policy = policy
        self.name = name
        self.start = start
        self.attempts = 1
        self.decision: Decision | None = None
        self.step: Wait | GiveUp | None = None

    def elapsed(self) -> float:
        """Seconds since the first attempt started, on the active clock."""
        return _clock.now() - self.start

    # -- tenacity strategies -------------------------------------------------------------
    def retry(self, state: RetryCallState) -> bool:
        """Classify the attempt's outcome; plan the next step; say whether to retry."""
        outcome = state.outcome
        self.attempts = state.attempt_number
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        if not isinstance(exc, Exception):  # success, or cancellation / exit: never retried
            self.decision = self.step = None
            return False
        decision = classify(exc, self.policy, now=_clock.wall())
        self.decision = decision
        self.step = next_step(
            decision, self.policy, attempt=state.attempt_number, rand=random.random()
        )
        self._attempt_failed(exc, decision)
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
            retry_after_header=self.decision.hint.source,
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
        )

    def _attempt_failed(self, exc: Exception, decision: Decision) -> None:
        rule = decision.rule
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
            message=str(exc)[:_MESSAGE_CHARS],
        )
