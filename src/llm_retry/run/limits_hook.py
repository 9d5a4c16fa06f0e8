"""The preset's limits in a function's pipeline: a hook just outside the retry loop.

For each call, the hook makes a scope under the key's limits the active guard, inside any
``@budget``'s scope, so the drivers ask it before every attempt. On the happy path that costs
no more than the admission itself: when the key is not blocked, no rate window is in force,
a slot is free and no one waits in line, the hook takes the slot at once and installs a
`FirstPass`, a scope the drivers may skip for the first attempt (``passive``). A first
attempt that fails is settled and learned from when it is classified, and every retry is
admitted as usual; one that succeeds is settled when the hook exits.
"""

from __future__ import annotations

import math
from contextvars import Token
from typing import Any

from . import clock as _clock
from .admission import Pass
from .engine import GUARD, Admission, Guard, RetryRun
from .limited import Limits
from .scope import Scope, ScopeSpec

__all__ = ["FirstPass", "LimitsHook"]


class FirstPass(Scope):
    """A limits scope whose first attempt the hook already admitted with ``first``."""

    __slots__ = ("first",)

    def __init__(self, spec: ScopeSpec, limits: Limits, parent: Scope | None, first: Pass) -> None:
        self.parent = parent
        self.last_error = None
        if parent is None:
            self.deadline, self.total, self.label, self.per_attempt = (
                math.inf,
                None,
                spec.label,
                None,
            )
            self.budgets: Any = ()
            self.throttles: Any = (limits.throttle,)
        else:  # a passive parent: a deadline at most, nothing to inherit but it
            self.deadline, self.total, self.label = parent.deadline, parent.total, parent.label
            self.per_attempt, self.budgets = parent.per_attempt, parent.budgets
            self.throttles = (*parent.throttles, limits.throttle)
        self.pacer = None
        self.limits = spec.limits
        self.passive = first.admitted  # an admitted first attempt needs nothing more
        self.first: Pass | None = first

    def admit(self, name: str, attempt: int, held: object) -> Admission:
        """The first attempt goes with the first pass (a driver that asks anyway takes it);
        a first pass not admitted yet is asked for again, keeping its place."""
        first = self.first
        if first is not None and attempt == 1 and held is None:
            self.first = None  # the driver settles it now
            if first.admitted:
                return Admission(0.0, first)
            return super().admit(name, attempt, first)
        return super().admit(name, attempt, held)

    def review(self, step: Any, run: RetryRun) -> Any:
        """The first failure settles the first pass, then learns from it as any attempt's."""
        first = self.first
        if first is not None and first.admitted:
            self.first = None
            if run.ticket is None:
                run.ticket = first
            self.settle(first, run.error)
        return super().review(step, run)


class LimitsHook:
    """The hook ``@llm_retry(preset=...)`` adds: the call's guard is a limits scope."""

    __slots__ = ("limits",)

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def enter(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Token[Guard | None], Any]:
        """Make a limits scope (inside any ``@budget``'s) the active guard."""
        parent = GUARD.get()
        limits = self.limits
        spec = limits.spec_now()
        if spec is None or (parent is not None and (not isinstance(parent, Scope) or parent.pacer)):
            return GUARD.set(parent), None  # off, or an explicit @budget(pace=True) paces
        assert spec.limits is not None  # noqa: S101 - a limits spec always has them
        admission, cfg = spec.limits
        if parent is not None and parent.limits is not None and parent.limits[0] is admission:
            return GUARD.set(parent), None  # a call inside an admitted one is part of it
        if parent is None or parent.passive:
            now = _clock.wall()
            if limits.throttle.block(now).until <= now:
                first = admission.admit_now(now, cfg)
                if first is not None:
                    first.sent = _clock.now()
                    guard = FirstPass(spec, limits, parent, first)
                    return GUARD.set(guard), guard
        return GUARD.set(Scope(spec, limits.throttle, parent, _clock.now())), None

    def exit(self, token: tuple[Token[Guard | None], Any], error: BaseException | None) -> None:
        """Settle a first pass still held (the first attempt succeeded), restore the guard."""
        GUARD.reset(token[0])
        guard = token[1]
        if guard is not None and guard.first is not None:
            first, guard.first = guard.first, None
            if first.admitted:
                guard.settle(first, error)
            else:
                guard._cancel(first)
