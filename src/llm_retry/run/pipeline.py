"""One pipeline per decorated function: the strategies of a stack of llm-retry decorators.

``@budget(total=90) @llm_retry(preset="deepseek") @circuit("deepseek")`` is one wrapper, not
three. Each decorator contributes a strategy; when it decorates a function that is already a
pipeline, it joins that pipeline (in front: the order the user wrote is the order they run in)
instead of wrapping it again, and the function gets one wrapt wrapper over the original.

Strategies come in two shapes:

- a `Hook` runs around what is inside it: ``enter`` before (it may refuse, by raising), ``exit``
  after, with the error if there was one. ``@budget`` and ``@circuit`` are hooks.
- a `Core` owns what is inside it and may run it more than once: ``@llm_retry`` (the retry
  loop) and ``fallback`` (the chain of alternatives).

A pipeline runs as segments: the hooks up to the first core, then that core over the rest.
The hooks of a segment run inline in the segment's one frame; the only frames a call adds are
one per core. What decides stays in `llm_retry.decide` and `llm_retry.run.engine`: this module
only puts the strategies in order and calls them.

A foreign decorator between two of ours ends the fusion: the pipeline beneath it runs inside
it as an ordinary function, as it would under any decorator.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import wrapt

from .ahooks import awaited_hooks, awaits

__all__ = [
    "Core",
    "Hook",
    "Layer",
    "Pipeline",
    "Pipelined",
    "Segment",
    "around",
    "attach",
    "bind",
    "callable_name",
    "enter_all",
    "exit_all",
    "inner_hooks",
    "is_async",
    "merged",
    "unwrapped",
]

F = TypeVar("F", bound=Callable[..., Any])
Layer = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
"""What a segment is to the core above it: ``(wrapped, instance, args, kwargs) -> result``."""


class Hook(Protocol):
    """A strategy that runs around the rest of the pipeline (``@budget``, ``@circuit``)."""

    def enter(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Before the rest runs: a token for `exit`, or raise to refuse the call."""

    def exit(self, token: Any, error: BaseException | None) -> None:
        """After the rest ran (``error`` is what it raised, or ``None``)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """What a core is given to build its segment function from.

    Attributes:
        inner: the rest of the pipeline, as a layer the core calls (once or more).
        is_async: whether the decorated function is a coroutine function.
        outer: the hooks written above the core: they run around it, once per call. A core
            that does not run them itself wraps its function with `around`.
        inline: when the rest of the pipeline is only hooks, those hooks (``inner`` is then
            them around the plain call): a core may run them itself, in its own frame, around
            ``wrapped(*args, **kwargs)``. ``None`` when another core is further in.
    """

    inner: Layer
    is_async: bool
    outer: tuple[Hook, ...]
    inline: tuple[Hook, ...] | None


class Core(Protocol):
    """A strategy that owns the rest of the pipeline and may run it again (retry, fallback)."""

    def layer(self, segment: Segment) -> Layer:
        """The segment function of this core (see `Segment`)."""


def callable_name(func: Callable[..., Any]) -> str:
    """How events name a decorated function: ``module.qualname``."""
    target = getattr(func, "__func__", func)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def is_async(func: Callable[..., Any]) -> bool:
    """Whether ``func`` (or the function in a classmethod/staticmethod) is a coroutine function.

    An async generator function is not: calling it returns its generator at once.
    """
    return inspect.iscoroutinefunction(getattr(func, "__func__", func))


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The strategies of one decorated function, outermost first."""

    strategies: tuple[Hook | Core, ...]

    def build(self, *, is_async: bool) -> Layer:
        """The wrapper function: segments from the innermost out, chosen once."""
        return _segment(self.strategies, is_async=is_async)


if TYPE_CHECKING:
    _Wrapper = wrapt.FunctionWrapper[..., Any]
else:
    _Wrapper = wrapt.FunctionWrapper


class Pipelined(_Wrapper):
    """The one wrapt wrapper of a pipeline; another llm-retry decorator joins it."""

    def __init__(self, wrapped: Any, pipeline: Pipeline) -> None:
        super().__init__(wrapped, pipeline.build(is_async=is_async(wrapped)))
        self._self_pipeline = pipeline


def unwrapped(func: Callable[..., Any]) -> Callable[..., Any]:
    """The function a pipeline wraps (``func`` itself if it is not one)."""
    if isinstance(func, Pipelined):
        inner: Callable[..., Any] = func.__wrapped__
        return inner
    return func


def attach(func: F, strategy: Hook | Core) -> F:
    """``func`` decorated with ``strategy``: joined to its pipeline if it has one."""
    if isinstance(func, Pipelined):
        inner: Any = func.__wrapped__
        pipeline = Pipeline((strategy, *func._self_pipeline.strategies))
        return cast("F", Pipelined(inner, pipeline))
    return cast("F", Pipelined(func, Pipeline((strategy,))))


# -- segments ------------------------------------------------------------------------------
def _is_core(strategy: Hook | Core) -> bool:
    return hasattr(strategy, "layer")


def _segment(strategies: tuple[Hook | Core, ...], *, is_async: bool) -> Layer:
    """The hooks up to the first core, and that core over the rest (or the plain call)."""
    hooks: list[Hook] = []
    for index, strategy in enumerate(strategies):
        if _is_core(strategy):
            rest = strategies[index + 1 :]
            inline = None if any(_is_core(s) for s in rest) else inner_hooks(rest)
            inner = _segment(rest, is_async=is_async)
            core = cast("Core", strategy)
            return core.layer(Segment(inner, is_async, tuple(hooks), inline))
        hooks.append(cast("Hook", strategy))
    return around(tuple(hooks), None, is_async=is_async)


def around(hooks: tuple[Hook, ...], core: Layer | None, *, is_async: bool) -> Layer:
    """``hooks`` around ``core`` (or around the plain call) in one frame."""
    if not hooks:
        return core if core is not None else _call
    if is_async:
        return _async_hooks(hooks, core)
    return _sync_hooks(hooks, core)


def bind(inner: Layer, wrapped: Callable[..., Any], instance: Any) -> Callable[..., Any]:
    """The rest of the pipeline as one callable, ``(*args, **kwargs)``: what a core retries."""
    if inner is _call:
        return wrapped
    return lambda *args, **kwargs: inner(wrapped, instance, args, kwargs)


def _call(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    return wrapped(*args, **kwargs)


def inner_hooks(strategies: tuple[Hook | Core, ...]) -> tuple[Hook, ...]:
    """The hooks of a segment that has no core (what a fused core runs inline per attempt)."""
    return tuple(cast("Hook", s) for s in strategies if not _is_core(s))


class _Hooks:
    """Several hooks run as one: entered in order, exited innermost first."""

    __slots__ = ("hooks",)

    def __init__(self, hooks: tuple[Hook, ...]) -> None:
        self.hooks = hooks

    def enter(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        return enter_all(self.hooks, args, kwargs)

    def exit(self, token: list[Any], error: BaseException | None) -> None:
        exit_all(self.hooks, token, error)


def merged(hooks: tuple[Hook, ...]) -> Hook | None:
    """``hooks`` as one hook (``None`` for none), so a segment runs at most one of each side."""
    if not hooks:
        return None
    return hooks[0] if len(hooks) == 1 else _Hooks(hooks)


def enter_all(hooks: tuple[Hook, ...], args: Any, kwargs: Any) -> list[Any]:
    """Enter ``hooks`` in order; if one refuses, the ones entered exit with its error."""
    tokens: list[Any] = []
    for hook in hooks:
        try:
            tokens.append(hook.enter(args, kwargs))
        except BaseException as exc:
            exit_all(hooks[: len(tokens)], tokens, exc)
            raise
    return tokens


def exit_all(hooks: tuple[Hook, ...], tokens: list[Any], error: BaseException | None) -> None:
    """Exit the entered ``hooks``, innermost first."""
    for hook, token in zip(reversed(hooks), reversed(tokens), strict=True):
        hook.exit(token, error)


def _sync_hooks(hooks: tuple[Hook, ...], core: Layer | None) -> Layer:
    if len(hooks) == 1:
        hook = hooks[0]

        def one(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            token = hook.enter(args, kwargs)
            try:
                result = (
                    wrapped(*args, **kwargs)
                    if core is None
                    else core(wrapped, instance, args, kwargs)
                )
            except BaseException as exc:
                hook.exit(token, exc)
                raise
            hook.exit(token, None)
            return result

        return one

    def many(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        tokens = enter_all(hooks, args, kwargs)
        try:
            result = (
                wrapped(*args, **kwargs) if core is None else core(wrapped, instance, args, kwargs)
            )
        except BaseException as exc:
            exit_all(hooks, tokens, exc)
            raise
        exit_all(hooks, tokens, None)
        return result

    return many


def _async_hooks(hooks: tuple[Hook, ...], core: Layer | None) -> Layer:
    if awaits(hooks):  # a circuit on Redis: await its store
        return awaited_hooks(hooks, core)

    async def run(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        tokens = enter_all(hooks, args, kwargs)
        try:
            if core is None:
                result = await wrapped(*args, **kwargs)
            else:
                result = await core(wrapped, instance, args, kwargs)
        except BaseException as exc:
            exit_all(hooks, tokens, exc)
            raise
        exit_all(hooks, tokens, None)
        return result

    return run


def hooked(hook: Hook | None, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` with ``hook`` around each of its calls (a sync callable)."""
    if hook is None:
        return call
    run = _sync_hooks((hook,), None)
    return lambda *args, **kwargs: run(call, None, args, kwargs)


def ahooked(hook: Hook | None, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` with ``hook`` around each of its calls (an async callable)."""
    if hook is None:
        return call
    run = _async_hooks((hook,), None)
    return lambda *args, **kwargs: run(call, None, args, kwargs)
