"""``@budget``: one deadline over a whole call, a shared retry budget, coordinated waits.

::

    @budget(total=90)                  # every attempt and wait of ask() within 90 s
    @llm_retry(preset="deepseek")
    def ask(prompt): ...

    @budget("deepseek", retry_ratio=0.2, min_retries_per_sec=1)   # shared by name
    @llm_retry(preset="deepseek")
    async def ask_async(prompt): ...

Each call opens a scope (`llm_retry.run.scope.Scope`) held in a context variable, which every
``@llm_retry`` inside consults: before each attempt (blocks, pacing, the deadline) and after each
failure (the deadline, the retry budget). The scope follows the call across ``await`` and into
tasks it starts; a nested ``@budget`` can shorten the deadline, never extend it. `remaining`
and `attempt_timeout` tell the code inside how long it has.

What a budget does depends on what it is given:

- ``total``: the deadline; ``attempt_timeout``: the per-attempt timeout.
- a name (or a ``preset``, whose name it takes): a retry budget shared by every budget of that
  name, and coordinated ``Retry-After`` under that name as the key.
- ``key``: the key to coordinate under instead (a string, or a function of the call's arguments
  such as ``lambda *a, model, **k: model``).
- ``pace=True``: adaptive pacing under the key (`llm_retry.decide.pacing`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextvars import Token
from dataclasses import dataclass, fields
from typing import Any, ParamSpec, TypeVar

from .decide.retry_budget import Limit, RetryBudget
from .errors import PolicyError
from .events import emit
from .policy.presets import current_profile, get_preset
from .policy.values import MAX_SECONDS, check_number
from .run import clock as _clock
from .run.engine import GUARD, Guard, current_guard
from .run.keys import KeyThrottle, default_store, key_throttle, retry_budget
from .run.pipeline import attach, callable_name, unwrapped
from .run.scope import Scope, ScopeSpec
from .stores import Store

__all__ = ["Budget", "BudgetSettings", "attempt_timeout", "budget", "remaining"]

P = ParamSpec("P")
R = TypeVar("R")


def remaining() -> float | None:
    """Seconds left before the innermost active budget's deadline, or ``None`` outside one.

    Pass it (or `attempt_timeout`) to the SDK as the request timeout, so that a synchronous
    call cannot run past the deadline::

        client.chat.completions.create(..., timeout=attempt_timeout())
    """
    scope = current_guard()
    return scope.remaining() if isinstance(scope, Scope) else None


def attempt_timeout() -> float | None:
    """Seconds the next attempt may take: the per-attempt timeout, shortened to `remaining`.

    ``None`` outside a budget, or inside one with neither a deadline nor a per-attempt timeout.
    Async attempts are cancelled past it; a synchronous call cannot be interrupted safely, so
    pass this to the SDK as its timeout.
    """
    scope = current_guard()
    return scope.attempt_timeout() if isinstance(scope, Scope) else None


def _positive(name: str, value: object, *, zero: bool = False) -> None:
    limit = math.inf if zero else MAX_SECONDS  # the rates may be any number, durations a year
    check_number(f"budget {name}", value, maximum=limit, positive=not zero)


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    """A budget's numbers (the ``[budget]`` section of a preset, or the decorator's arguments).

    Args:
        total: seconds for the whole call (attempts and waits), or ``None``.
        attempt_timeout: seconds for one attempt, or ``None``.
        retry_ratio: retries allowed per call over the window.
        min_retries_per_sec: retries allowed per second of window whatever the traffic.
        window: the retry budget's sliding window, in seconds.
    """

    total: float | None = None
    attempt_timeout: float | None = None
    retry_ratio: float = 0.2
    min_retries_per_sec: float = 1.0
    window: float = 10.0

    def __post_init__(self) -> None:
        for name in ("total", "attempt_timeout"):
            value = getattr(self, name)
            if value is not None:
                _positive(name, value)
        _positive("retry_ratio", self.retry_ratio, zero=True)
        _positive("min_retries_per_sec", self.min_retries_per_sec, zero=True)
        _positive("window", self.window)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> BudgetSettings:
        """Settings from a mapping; unknown keys are an error naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise PolicyError(
                f"unknown budget setting {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**values)

    @property
    def limit(self) -> Limit:
        """The retry budget's limit."""
        return Limit(self.retry_ratio, self.min_retries_per_sec, self.window)


class Budget:
    """A budget decorator; see `budget`."""

    def __init__(
        self,
        name: str | None,
        *,
        preset: str | None,
        key: str | Callable[..., str] | None,
        pace: bool,
        coordinate: bool,
        store: Store | None,
        overrides: dict[str, Any],
    ) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise PolicyError(f"a budget's name must be a non-empty string, not {name!r}")
        self.name = name or preset
        self._preset = preset
        self._overrides = {k: v for k, v in overrides.items() if v is not None}
        self._key = key if coordinate else None
        if self._key is None and coordinate and self.name is not None:
            self._key = self.name
        self._pace = pace
        self._fixed: KeyThrottle | None = None
        if pace and self._key is None:
            raise PolicyError("pace=True needs a key to pace under: give the budget a name or key=")
        self.store: Store = store if store is not None else default_store()
        if isinstance(self._key, str):
            self._fixed = key_throttle(self.store, self._key)
        self._cache: dict[str, BudgetSettings] = {}
        for profile in get_preset(preset).profiles if preset is not None else ():
            self._settings_for(profile)  # a typo fails at decoration time
        if preset is None:
            self._cache[""] = BudgetSettings.from_mapping(self._overrides)
        explicit = {"retry_ratio", "min_retries_per_sec"} & set(self._overrides)
        self._wants_budget = self.name is not None or bool(explicit)

    def _settings_for(self, profile: str) -> BudgetSettings:
        found = self._cache.get(profile)
        if found is None:
            assert self._preset is not None  # noqa: S101 - presetless settings are cached at ""
            section = get_preset(self._preset).section("budget", profile)
            found = self._cache[profile] = BudgetSettings.from_mapping(
                {**section, **self._overrides}
            )
        return found

    @property
    def settings(self) -> BudgetSettings:
        """The settings in force (the preset's under the active profile, with overrides)."""
        if self._preset is None:
            return self._cache[""]
        return self._settings_for(current_profile())

    def _throttle(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> KeyThrottle | None:
        key = self._key
        if key is None:
            return None
        if callable(key):
            return key_throttle(self.store, str(key(*args, **kwargs)))
        return self._fixed or key_throttle(self.store, key)

    def _spec(self, label: str, budget_name: str) -> Callable[[], ScopeSpec]:
        """The spec of this budget's scopes, built once per profile."""
        ledger: RetryBudget | None = None
        if self._wants_budget:
            ledger = retry_budget(self.store, self.name or budget_name)
        specs: dict[str, ScopeSpec] = {}

        def spec() -> ScopeSpec:
            profile = "" if self._preset is None else current_profile()
            found = specs.get(profile)
            if found is None:
                cfg = self.settings
                found = specs[profile] = ScopeSpec(
                    label=label,
                    total=cfg.total,
                    attempt_timeout=cfg.attempt_timeout,
                    budget=None if ledger is None else (ledger, cfg.limit),
                    pace=self._pace,
                )
            return found

        return spec

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``func``: each call runs inside a new scope of this budget."""
        return attach(func, _BudgetHook(self, callable_name(unwrapped(func))))

    def __repr__(self) -> str:
        return f"Budget({self.name!r}, preset={self._preset!r})"


def budget(
    name: str | None = None,
    /,
    *,
    total: float | None = None,
    attempt_timeout: float | None = None,
    retry_ratio: float | None = None,
    min_retries_per_sec: float | None = None,
    window: float | None = None,
    key: str | Callable[..., str] | None = None,
    pace: bool = False,
    coordinate: bool = True,
    preset: str | None = None,
    store: Store | None = None,
) -> Budget:
    """A deadline, a retry budget and coordinated waits for the decorated function's calls.

    Args:
        name: budgets with the same name (and store) share one retry budget and, unless ``key``
            says otherwise, coordinate their waits under that name.
        total: seconds for the whole call: every attempt and every wait. A wait that would cross
            the deadline is not slept: the call gives up at once, saying so.
        attempt_timeout: seconds for one attempt. Async attempts are cancelled past it (a
            ``TimeoutError``, retried as a transport timeout); sync code reads it with
            `attempt_timeout` and passes it to the SDK.
        retry_ratio: retries allowed per call over the window (default 0.2).
        min_retries_per_sec: retries per second allowed however few the calls (default 1).
        window: the retry budget's window in seconds (default 10).
        key: coordinate ``Retry-After`` under this key instead of the name: a string, or a
            function called with the call's arguments (``self`` excluded) returning one.
        pace: learn the provider's limit under the key and send no faster (slow start, then
            AIMD windows; see `llm_retry.decide.pacing`).
        coordinate: ``False`` turns coordinated waits off for a named budget.
        preset: read defaults from this preset's ``[budget]`` section (under the profile active
            at call time); the budget takes the preset's name unless given one.
        store: where shared state lives: this process (default) or a `RedisStore`.

    Raises:
        PolicyError: at decoration time, for an invalid setting or an unknown preset.
    """
    if callable(name):
        raise PolicyError("budget needs arguments: use @budget(total=...) or @budget('name')")
    overrides = {
        "total": total,
        "attempt_timeout": attempt_timeout,
        "retry_ratio": retry_ratio,
        "min_retries_per_sec": min_retries_per_sec,
        "window": window,
    }
    return Budget(
        name,
        preset=preset,
        key=key,
        pace=pace,
        coordinate=coordinate,
        store=store,
        overrides=overrides,
    )


class _BudgetHook:
    """What a ``@budget`` contributes to a pipeline: a scope around the rest of the call."""

    __slots__ = ("budget", "callable_name", "fixed", "keyed", "label", "spec")

    def __init__(self, owner: Budget, name: str) -> None:
        self.budget = owner
        self.callable_name = name
        self.label = f"budget {owner.name!r}" if owner.name else f"budget of {name}"
        self.spec = owner._spec(self.label, name)
        # Without a preset the spec is the same under every profile: look it up once.
        self.fixed = self.spec() if owner._preset is None else None
        self.keyed = owner._key is not None

    def enter(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Token[Guard | None]:
        """Open this call's scope and make it the active guard."""
        parent = current_guard()
        now = _clock.now()
        scope = Scope(
            self.fixed or self.spec(),
            self.budget._throttle(args, kwargs) if self.keyed else None,
            parent if isinstance(parent, Scope) else None,
            now,
        )
        if scope.deadline <= now:
            self._refuse(scope)
        return GUARD.set(scope)

    def _refuse(self, scope: Scope) -> None:
        reason = f"no time left when {self.callable_name} was called ({scope.label})"
        emit(
            "llm_retry.budget_exhausted",
            "warning",
            callable=self.callable_name,
            kind="deadline",
            attempt=1,
            reason=reason,
            remaining=0.0,
            total=scope.total,
        )
        raise scope.exhausted(reason)

    def exit(self, token: Token[Guard | None], error: BaseException | None) -> None:
        """Restore the scope that was active before."""
        GUARD.reset(token)
