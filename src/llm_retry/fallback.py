"""``fallback``: when a call finally fails, try the next alternative.

::

    @fallback(model=["deepseek-v4-pro", "deepseek-v4-flash"])   # swap a keyword argument
    @budget(total=90)
    @llm_retry(preset="deepseek")
    def summarise(text, *, model): ...

    @fallback(ask_claude, on=("context_length_exceeded",))    # or call other functions
    @llm_retry(preset="deepseek")
    def ask(prompt): ...

The chain advances on failures that another alternative may well survive: what ``@llm_retry``
gave up on after classifying it as retryable (attempts exhausted, a ``Retry-After`` past the cap,
the deadline, the retry budget), an open circuit (`CircuitOpenError`), a spent budget
(`BudgetExhaustedError`), and anything listed in ``on=``: provider codes
(``"context_length_exceeded"``), statuses (``"404"``, ``"5xx"``), rule labels, exception classes.
Anything else (a 401, a bug) is raised at once: every alternative would fail the same way.

Each advance is an ``llm_retry.fallback`` event with the reason. When every alternative fails,
the last failure is raised with a note listing the chain. If a budget around the chain has no
time left, it stops advancing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ParamSpec, TypeVar

from .budget import remaining
from .decide.adapters import error_info
from .decide.classify import _type_name as type_name  # how events name exception types
from .errors import BudgetExhaustedError, CircuitOpenError, PolicyError
from .events import emit, redact, secret_name
from .run.engine import Verdict, add_note, verdict
from .run.pipeline import Layer, Segment, around, attach, callable_name, unwrapped

__all__ = ["fallback"]

P = ParamSpec("P")
R = TypeVar("R")
Trigger = str | type[BaseException]


def _label(param: str, value: object, number: int, of: int) -> str:
    """How notes and events name the alternative ``param=value``: a secret by its position."""
    if secret_name(param):
        return f"{param}=*** ({number} of {of})"
    return str(redact(f"{param}={value!r}"))


def _labels(exc: BaseException, found: Verdict | None) -> set[str]:
    """Every name ``on=`` may use for ``exc``: codes, status, status class, the rule label."""
    info = error_info(exc)
    names = set(info.codes)
    if info.status is not None:
        names |= {str(info.status), f"{info.status // 100}xx"}
    if found is not None and found.decision is not None:
        names.add(found.decision.matched)
        if found.decision.code:
            names.add(found.decision.code)
    return names


def _listed(exc: Exception, found: Verdict | None, on: tuple[Trigger, ...]) -> str | None:
    """Why ``exc`` advances the chain because ``on=`` lists it, or ``None``."""
    if any(isinstance(t, type) and isinstance(exc, t) for t in on):
        return f"{type(exc).__name__} (listed in on=)"
    labels = _labels(exc, found) if on else set()
    matched = [t for t in on if isinstance(t, str) and t in labels]
    if not matched:
        return None
    if found is not None and found.decision is not None:
        return found.decision.describe()
    return f"{matched[0]} (listed in on=)"


def advance_reason(exc: BaseException, on: tuple[Trigger, ...]) -> str | None:
    """Why the chain moves on after ``exc``, or ``None`` if it must not."""
    if not isinstance(exc, Exception):
        return None
    if isinstance(exc, (CircuitOpenError, BudgetExhaustedError)):
        return str(exc)
    found = verdict(exc)
    if found is not None and found.decision is not None and found.decision.action == "retry":
        return found.reason
    return _listed(exc, found, on)


@dataclass(frozen=True, slots=True)
class _Step:
    label: str
    call: Callable[[], Any]


class _Chain:
    """One call's walk along the alternatives: what to call next and whether to go on."""

    def __init__(self, name: str, on: tuple[Trigger, ...], steps: list[_Step]) -> None:
        self.name = name
        self.on = on
        self.steps = steps
        self.failures: list[str] = []

    def advance(self, index: int, exc: BaseException) -> bool:
        """After alternative ``index`` failed with ``exc``: go on (True) or raise it (False)."""
        reason = advance_reason(exc, self.on)
        if reason is None:
            if self.failures:
                add_note(
                    exc,
                    f"llm-retry fallback: stopped at {self.steps[index].label}: "
                    "not a failure the chain falls through on",
                )
            return False
        self.failures.append(f"{self.steps[index].label} ({reason})")
        left = remaining()
        if index + 1 < len(self.steps) and left is not None and left <= 0:
            add_note(
                exc,
                "llm-retry fallback: no time left for the next alternative; tried "
                + "; ".join(self.failures),
            )
            return False
        if index + 1 == len(self.steps):
            add_note(
                exc,
                f"llm-retry fallback: all {len(self.steps)} alternatives failed: "
                + "; ".join(self.failures),
            )
            return False
        emit(
            "llm_retry.fallback",
            "warning",
            callable=self.name,
            failed=self.steps[index].label,
            next=self.steps[index + 1].label,
            alternative=index + 2,
            of=len(self.steps),
            reason=reason,
            error=type_name(exc),
        )
        return True


class _Fallback:
    """The chain a ``fallback(...)`` declares; decorating contributes it to a pipeline."""

    def __init__(
        self,
        alternatives: tuple[Callable[..., Any], ...],
        swap: dict[str, Sequence[Any]],
        on: tuple[Trigger, ...],
    ) -> None:
        self.alternatives = alternatives
        self.labels = tuple(callable_name(alt) for alt in alternatives)
        self.on = on
        self.param, self.values = next(iter(swap.items())) if swap else ("", ())

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        return attach(func, _Strategy(self, callable_name(unwrapped(func))))


class _Strategy:
    """What ``fallback`` contributes to a pipeline: the walk along the alternatives."""

    __slots__ = ("chain", "name")

    def __init__(self, chain: _Fallback, name: str) -> None:
        self.chain = chain
        self.name = name

    def first_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of the first alternative: the caller's, or the first value."""
        param = self.chain.param
        if not param or param in kwargs:
            return kwargs
        return {**kwargs, param: self.chain.values[0]}

    def steps(self, inner: Layer, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> _Chain:
        """One call's alternatives, in order, each ready to call (built once the first failed)."""
        chain = self.chain
        if not chain.param:
            lead = () if instance is None else (instance,)
            first = _Step(self.name, partial(inner, wrapped, instance, args, kwargs))
            rest = [
                _Step(label, partial(alt, *lead, *args, **kwargs))
                for label, alt in zip(chain.labels, chain.alternatives, strict=True)
            ]
            return _Chain(self.name, chain.on, [first, *rest])
        values: Sequence[Any] = chain.values
        if chain.param in kwargs:
            given = kwargs[chain.param]
            values = values[values.index(given) :] if given in values else [given, *values]
        steps = [
            _Step(
                _label(chain.param, value, number, len(values)),
                partial(inner, wrapped, instance, args, {**kwargs, chain.param: value}),
            )
            for number, value in enumerate(values, 1)
        ]
        return _Chain(self.name, chain.on, steps)

    def layer(self, segment: Segment) -> Layer:
        """The fallback segment: the first alternative inline, the rest only after a failure."""
        inner = segment.inner

        def run(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            try:
                return inner(wrapped, instance, args, self.first_kwargs(kwargs))
            except Exception as exc:  # noqa: BLE001 - the chain decides, not the except clause
                first = exc
            walk = self.steps(inner, wrapped, instance, args, kwargs)
            index, error = 0, first
            while walk.advance(index, error):
                index += 1
                try:
                    return walk.steps[index].call()
                except Exception as exc:  # noqa: BLE001 - the chain decides
                    error = exc
            raise error

        async def arun(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            try:
                return await inner(wrapped, instance, args, self.first_kwargs(kwargs))
            except Exception as exc:  # noqa: BLE001 - the chain decides, not the except clause
                first = exc
            walk = self.steps(inner, wrapped, instance, args, kwargs)
            index, error = 0, first
            while walk.advance(index, error):
                index += 1
                try:
                    result = walk.steps[index].call()
                    return await result if inspect.isawaitable(result) else result
                except Exception as exc:  # noqa: BLE001 - the chain decides
                    error = exc
            raise error

        return around(segment.outer, arun if segment.is_async else run, is_async=segment.is_async)


def _triggers(on: Iterable[Trigger] | str) -> tuple[Trigger, ...]:
    items = (on,) if isinstance(on, str) else tuple(on)
    for item in items:
        if not (isinstance(item, str) or (isinstance(item, type) and issubclass(item, Exception))):
            raise PolicyError(
                f"fallback on= takes codes, statuses or exception classes, not {item!r}"
            )
    return items


def fallback(
    *alternatives: Callable[..., Any],
    on: Iterable[Trigger] | str = (),
    **swap: Sequence[Any],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Try the next alternative when a call finally fails.

    Give either callables (``fallback(ask_flash, ask_claude)``: each is called with the same
    arguments, ``self`` included for methods, after the decorated function) or one keyword with
    the values to try in order (``fallback(model=["pro", "flash"])``: the decorated function is
    called with each; a value the caller passes starts the walk there).

    Args:
        *alternatives: functions to call after the decorated one, in order.
        on: failures that also advance the chain although no retry was attempted: provider
            codes, statuses (``"404"``, ``"5xx"``), rule labels or exception classes.
        **swap: one keyword argument and the list of its values.

    Raises:
        PolicyError: at decoration time, for a malformed chain.
    """
    if bool(alternatives) == bool(swap) or len(swap) > 1:
        raise PolicyError(
            "fallback takes either alternative callables or one keyword with a list of values"
        )
    for alt in alternatives:
        if not callable(alt):
            raise PolicyError(f"fallback alternatives must be callables, not {alt!r}")
    for param, values in swap.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise PolicyError(f"fallback {param}= needs a non-empty list of values, not {values!r}")
    return _Fallback(alternatives, {k: list(v) for k, v in swap.items()}, _triggers(on))
