"""A preset's limits on by default: ``@llm_retry(preset="deepseek")`` admits under ``"deepseek"``.

A preset whose ``[limits]`` section is enabled (the shipped deepseek, openai and anthropic
presets) makes every call of a function decorated with it go through the key's admission
(`llm_retry.run.admission`): the shared ``Retry-After`` block, the adaptive concurrency limit and
the rate windows, under the preset's name, with no ``@budget`` needed. Inside a ``@budget``
the call's scope is a child of the budget's, so the deadline bounds the wait in line.

``@llm_retry(..., limits=False)`` or ``enabled = false`` in the preset's ``[limits]`` turns it
off; ``store=`` (a `RedisStore`) shares the limits with other processes.

The scope calls `admit`, `settle` and `learn` here (before an attempt, when it ends, once its
failure is classified).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from llm_retry.decide.adapters import error_info
from llm_retry.decide.limits import LimitSettings, Signal, requests_reset, signal
from llm_retry.errors import PolicyError
from llm_retry.events import emit
from llm_retry.policy import Retry
from llm_retry.policy.presets import PROFILES, current_profile, get_preset
from llm_retry.stores import Store

from . import clock as _clock
from .admission import KeyAdmission, Pass, key_admission
from .engine import Admission, RetryRun
from .keys import KeyThrottle, default_store, key_throttle

if TYPE_CHECKING:
    from .scope import Scope, ScopeSpec

__all__ = ["Lesson", "Limits", "admit", "block", "for_preset", "learn", "settle"]


class Limits:
    """What one ``@llm_retry(preset=...)`` contributes: its key's admission, per profile."""

    def __init__(self, preset: str, store: Store | None) -> None:
        self.key = preset
        self.store = store if store is not None else default_store()
        self.throttle = key_throttle(self.store, preset)
        self._preset = preset
        self._specs: dict[str, ScopeSpec | None] = {}
        self.enabled = any(self._spec(profile) is not None for profile in PROFILES)
        from .limits_hook import LimitsHook  # noqa: PLC0415 - it builds scopes: imported last

        self.hook = LimitsHook(self)

    def _spec(self, profile: str) -> ScopeSpec | None:
        if profile in self._specs:
            return self._specs[profile]
        from .scope import ScopeSpec  # noqa: PLC0415 - the scope imports this module

        section = get_preset(self._preset).section("limits", profile)
        cfg = LimitSettings.from_mapping(section) if section else LimitSettings(enabled=False)
        spec = None
        if cfg.enabled:
            admission = key_admission(self.store, self.key, cfg)
            spec = ScopeSpec(label=f"limits {self.key!r}", limits=(admission, cfg))
        self._specs[profile] = spec
        return spec

    def spec_now(self) -> ScopeSpec | None:
        """The spec of this call's limits scope under the active profile (``None``: off).

        A broken profile turns them off for the call: its own error will say so.
        """
        try:
            profile = current_profile()
        except PolicyError:
            return None
        return self._specs[profile] if profile in self._specs else self._spec(profile)


def for_preset(preset: str | None, option: object, store: object) -> Limits | None:
    """The limits of ``@llm_retry(preset=..., limits=option, store=store)``, or ``None``."""
    if option not in (None, True, False):
        raise PolicyError(f"limits= must be True or False, not {option!r}")
    if store is not None and not (hasattr(store, "update") and hasattr(store, "peek")):
        raise PolicyError(f"store= must be a store (MemoryStore, RedisStore), not {store!r}")
    if preset is None or option is False:
        return None
    limits = Limits(preset, store)  # type: ignore[arg-type]
    if option is True and not limits.enabled:
        raise PolicyError(f"limits=True, but preset {preset!r} has no [limits] section enabled")
    return limits if limits.enabled else None


# -- the scope's hooks ---------------------------------------------------------------------
def admit(scope: Scope, now: float, held: object, left: float, where: tuple[str, int]) -> Admission:
    """Before an attempt (the block is over): go, wait for a slot or a window, or stop."""
    assert scope.limits is not None  # noqa: S101 - only called by scopes with limits
    admission, cfg = scope.limits
    ticket = held if isinstance(held, Pass) else None
    delay, ticket = admission.admit(now, now, ticket, cfg)
    if delay <= 0:
        ticket.sent = _clock.now()
        return Admission(0.0, ticket)
    if not ticket.in_line and delay >= left:
        admission.cancel(ticket)
        why = f"waiting {delay:.1f} s for a rate window of key {admission.key!r}"
        return Admission(stop=scope._out_of_time(where[0], where[1], why, left))
    if not ticket.told:  # one event per wait, not per poll
        ticket.told = True
        _throttled(admission, where, delay, "concurrency" if ticket.in_line else "pacing")
    return Admission(min(delay, max(left, 0.0)), ticket)


def settle(limits: tuple[KeyAdmission, LimitSettings], ticket: Pass, error: object) -> None:
    """An admitted attempt ended: free its slot (a success may raise the limit)."""
    if ticket.admitted:
        admission, cfg = limits
        admission.settle(ticket, error is None, cfg, _clock.now() - ticket.sent)


class Lesson(NamedTuple):
    """What a classified failure taught: its signal, and when the requests window resets."""

    signal: Signal
    reset: float | None = None


def learn(limits: tuple[KeyAdmission, LimitSettings], run: RetryRun, now: float) -> Lesson:
    """A failed attempt was classified: lower the limit or learn the rate, as it says."""
    decision = run.decision
    if decision is None:
        return Lesson("ignore")
    headers = error_info(run.error).headers if run.error is not None else None
    sig = signal(decision.status, decision.code, isinstance(decision.rule, Retry), headers)
    reset = requests_reset(headers, now) if sig == "rate" else None
    ticket = run.ticket
    if sig != "ignore" and isinstance(ticket, Pass):
        hint = decision.hint.seconds if decision.hint.source != "circuit" else None
        admission, cfg = limits
        admission.learn(ticket, sig, (hint, reset), now, cfg)
    return Lesson(sig, reset)


def block(scope: Scope, throttle: KeyThrottle, hint: float, lesson: Lesson) -> float | None:
    """Seconds a refusal's ``Retry-After`` blocks ``throttle``'s key for, or ``None``: not at all.

    A concurrency refusal blocks no one under the limits' own key (the limit holds the others
    back, and the slots still work); a rate refusal that says when the provider's requests
    window resets blocks until then at most, so the first window starts in step with it. A
    budget's own key keeps today's ``Retry-After`` blocks.
    """
    if not _own(scope, throttle):
        return hint
    if lesson.signal == "concurrency":
        return None
    return hint if lesson.reset is None else min(hint, lesson.reset)


def _own(scope: Scope, throttle: KeyThrottle) -> bool:
    """Whether ``throttle`` is the limits' own key, not also one of an enclosing budget's."""
    assert scope.limits is not None  # noqa: S101 - only called by scopes with limits
    parent = scope.parent
    return throttle.key == scope.limits[0].key and (
        parent is None or throttle not in parent.throttles
    )


def _throttled(admission: KeyAdmission, where: tuple[str, int], wait: float, reason: str) -> None:
    emit(
        "llm_retry.throttled",
        "info",
        callable=where[0],
        key=admission.key,
        attempt=where[1],
        wait=round(wait, 3),
        reason=reason,
        hint=None,
    )
