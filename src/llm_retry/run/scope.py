"""The guard a ``@budget`` call installs: its deadline, retry budgets, blocks and pacer.

A `Scope` is created per call and held in the engine's context variable for the call's duration,
so nested decorated calls, awaits and tasks started inside see it. A scope created inside
another one starts from its parent's: the deadline and the per-attempt timeout can only shrink,
and the parent's retry budgets and keys keep applying.

Deadlines are on the active monotonic clock (`_clock.now`); everything shared with other
processes (retry budgets, blocks, pacing) is on the wall clock (`_clock.wall`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

from llm_retry.decide.pacing import Ticket
from llm_retry.decide.retry_budget import Limit, RetryBudget, Withdrawal
from llm_retry.decide.waits import GiveUp, Wait
from llm_retry.errors import BudgetExhaustedError
from llm_retry.events import emit
from llm_retry.policy import Retry

from . import clock as _clock
from .engine import Admission, RetryRun
from .keys import NO_BLOCK, THROTTLE_STATUSES, Block, KeyThrottle

__all__ = ["Scope", "ScopeSpec"]

T = TypeVar("T")


_GO = Admission()


@dataclass(frozen=True, slots=True)
class ScopeSpec:
    """What a ``@budget`` contributes to the scopes of its calls (besides the call's key)."""

    label: str
    total: float | None = None
    attempt_timeout: float | None = None
    budget: tuple[RetryBudget, Limit] | None = None
    pace: bool = False


class Scope:
    """The active budget: implements the engine's `Guard` protocol."""

    __slots__ = (
        "budgets",
        "deadline",
        "label",
        "last_error",
        "pacer",
        "parent",
        "passive",
        "per_attempt",
        "throttles",
        "total",
    )

    deadline: float
    total: float | None
    label: str
    per_attempt: float | None
    budgets: tuple[tuple[RetryBudget, Limit], ...]
    throttles: tuple[KeyThrottle, ...]
    pacer: KeyThrottle | None
    passive: bool
    """Nothing to wait for and nothing to count: an attempt needs only the deadline."""

    def __init__(
        self, spec: ScopeSpec, throttle: KeyThrottle | None, parent: Scope | None, now: float
    ) -> None:
        self.parent = parent
        self.last_error: BaseException | None = None
        total = spec.total
        if parent is None:  # the common case: nothing to inherit
            self.deadline = math.inf if total is None else now + total
            self.total, self.label, self.per_attempt = total, spec.label, spec.attempt_timeout
            self.budgets = () if spec.budget is None else (spec.budget,)
            self.throttles = () if throttle is None else (throttle,)
            self.pacer = throttle if spec.pace else None
            self.passive = not (self.budgets or self.throttles)
            return
        own = math.inf if total is None else now + total
        if own <= parent.deadline:
            self.deadline, self.total, self.label = own, total, spec.label
        else:
            self.deadline, self.total, self.label = parent.deadline, parent.total, parent.label
        per_attempt = parent.per_attempt
        if spec.attempt_timeout is not None:
            per_attempt = min(spec.attempt_timeout, per_attempt or math.inf)
        self.per_attempt = per_attempt
        self.budgets = _extend(parent.budgets, spec.budget)
        self.throttles = _extend(parent.throttles, throttle)
        pacer = throttle if spec.pace else None
        self.pacer = pacer or parent.pacer
        self.passive = not (self.budgets or self.throttles)

    # -- the deadline --------------------------------------------------------------------
    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or ``None`` without one."""
        if self.deadline == math.inf:
            return None
        return max(0.0, self.deadline - _clock.now())

    def attempt_timeout(self) -> float | None:
        """The per-attempt timeout, shortened to what is left; ``None`` if neither is set."""
        left = self.remaining()
        if self.per_attempt is None:
            return left
        return self.per_attempt if left is None else min(self.per_attempt, left)

    def _left(self) -> float:
        return self.deadline - _clock.now()

    def _of(self) -> str:
        total = "" if self.total is None else f", total {self.total:g} s"
        return f" ({self.label}{total})"

    # -- before each attempt -------------------------------------------------------------
    def admit(self, name: str, attempt: int, held: object) -> Admission:
        """Go, wait for a block or a pacing window, or stop: the deadline cannot be met."""
        ticket = held if isinstance(held, Ticket) else None
        left = self.deadline - _clock.now()
        if left <= 0:
            self._cancel(ticket)
            return Admission(stop=self._out_of_time(name, attempt, "no time left", left))
        now = _clock.wall()
        if not self.throttles:  # a deadline and perhaps retry budgets: nothing to wait for
            if attempt == 1:
                for budget, limit in self.budgets:
                    budget.deposit(now, limit.window)
            return _GO
        block, blocker = self._block(now)
        delay, ticket = self._pace(now, block, ticket)
        if delay > 0:
            key = (blocker or self.pacer or self.throttles[-1]).key
            if delay >= left:
                self._cancel(ticket)
                why = f"waiting {delay:.1f} s for key {key!r}, more than the {left:.1f} s left"
                return Admission(stop=self._out_of_time(name, attempt, why, left))
            reported = ticket is not None and ticket is not held
            if blocker is not None or reported:
                self._throttled(name, attempt, key, delay, block if blocker else None)
            return Admission(delay, ticket)
        if attempt == 1:
            for budget, limit in self.budgets:
                budget.deposit(now, limit.window)
        return _GO if ticket is None else Admission(0.0, ticket)

    def _block(self, now: float) -> tuple[Block, KeyThrottle | None]:
        block, blocker = NO_BLOCK, None
        for throttle in self.throttles:
            found = throttle.block(now)
            if found.until > block.until:
                block, blocker = found, throttle
        return block, blocker

    def _pace(self, now: float, block: Block, held: Ticket | None) -> tuple[float, Ticket | None]:
        if self.pacer is None:
            return max(0.0, block.until - now), None
        return self.pacer.pacer.admit(now, block.until, held)

    def _cancel(self, ticket: Ticket | None) -> None:
        if self.pacer is not None:
            self.pacer.pacer.cancel(ticket)

    def settle(self, ticket: object, error: BaseException | None) -> None:
        """An admitted attempt ended: the pacer learns its round trip and success."""
        if self.pacer is not None and isinstance(ticket, Ticket):
            self.pacer.pacer.settle(ticket, error is None, _clock.wall())

    def exhausted(self, reason: str) -> BaseException:
        """The error for a call stopped before its first attempt, chained to the last failure."""
        error = BudgetExhaustedError(f"call not made: {reason}")
        error.__cause__ = self.last_error
        return error

    # -- after each failed attempt ------------------------------------------------------
    def review(self, step: Wait | GiveUp, run: RetryRun) -> Wait | GiveUp:
        """Learn from the failure, then wait for blocks, keep to the deadline and the budgets."""
        now = _clock.wall()
        self._remember(run.error)
        self._learn(run, now)
        if not isinstance(step, Wait):
            return step
        step = self._lengthen(step, run, now)
        left = self._left()
        if step.seconds >= left:
            reason = f"next wait {step.seconds:.1f} s exceeds the {max(left, 0.0):.1f} s left"
            self._exhausted(run.name, run.attempts + 1, "deadline", reason + self._of(), left=left)
            return GiveUp(reason + self._of())
        for budget, limit in () if self._paced(run) else self.budgets:
            verdict = budget.withdraw(now, limit)
            if not verdict.allowed:
                reason = verdict.explain(budget.name, limit)
                refused = (budget.name, verdict)
                self._exhausted(
                    run.name, run.attempts + 1, "retry_budget", reason, left=left, refused=refused
                )
                return GiveUp(reason)
        return step

    def _paced(self, run: RetryRun) -> bool:
        """A throttled attempt's retry under pacing waits for a window instead of the budget."""
        decision = run.decision
        return (
            self.pacer is not None and decision is not None and decision.status in THROTTLE_STATUSES
        )

    def _remember(self, error: BaseException | None) -> None:
        scope: Scope | None = self
        while scope is not None:
            scope.last_error = error
            scope = scope.parent

    def _learn(self, run: RetryRun, now: float) -> None:
        """A 429/503/529 under the scope's keys blocks them (with a hint) and informs pacing."""
        decision = run.decision
        if decision is None or decision.status not in THROTTLE_STATUSES:
            return
        rule, policy = decision.rule, run.policy
        if not isinstance(rule, Retry):
            return
        hint = decision.hint.seconds
        if not (rule.retry_after and policy.retry_after) or decision.hint.source == "circuit":
            hint = None
        if hint is not None and hint <= policy.max_retry_after:
            for throttle in self.throttles:
                throttle.extend(hint, now)
        if self.pacer is not None:
            ticket = run.ticket if isinstance(run.ticket, Ticket) else None
            self.pacer.pacer.throttled(ticket, hint, now)

    def _lengthen(self, step: Wait, run: RetryRun, now: float) -> Wait:
        block, blocker = self._block(now)
        delay = block.until - now
        if blocker is None or delay <= step.seconds:
            return step
        self._throttled(run.name, run.attempts + 1, blocker.key, delay, block)
        return Wait(delay, "throttle", step.backoff, step.retry_after)

    # -- events --------------------------------------------------------------------------
    def _throttled(
        self, name: str, attempt: int, key: str, wait: float, block: Block | None
    ) -> None:
        emit(
            "llm_retry.throttled",
            "info",
            callable=name,
            key=key,
            attempt=attempt,
            wait=round(wait, 3),
            reason="retry-after" if block is not None else "pacing",
            hint=None if block is None else round(block.hint, 3),
        )

    def _out_of_time(self, name: str, attempt: int, why: str, left: float) -> str:
        reason = f"{why} before attempt {attempt}{self._of()}"
        self._exhausted(name, attempt, "deadline", reason, left=left)
        return reason

    def _exhausted(
        self,
        name: str,
        attempt: int,
        kind: str,
        reason: str,
        *,
        left: float,
        refused: tuple[str, Withdrawal] | None = None,
    ) -> None:
        emit(
            "llm_retry.budget_exhausted",
            "warning",
            callable=name,
            kind=kind,
            attempt=attempt,
            reason=reason,
            remaining=None if left == math.inf else round(max(left, 0.0), 3),
            total=self.total,
            budget=None if refused is None else refused[0],
            retries=None if refused is None else refused[1].retries,
            calls=None if refused is None else refused[1].calls,
        )


def _extend(items: tuple[T, ...], item: T | None) -> tuple[T, ...]:
    return items if item is None or item in items else (*items, item)
