"""``@llm_retry``: retry a function that calls an LLM API, as its policy says.

The first attempt is a plain call inside a ``try``: nothing is built and no policy is read
unless it fails. Only then is tenacity's ``Retrying`` (or ``AsyncRetrying``) set up, with
strategies from one `RetryRun` (the shared decision core), and told that attempt one already
failed. Sync or async is chosen once, when the function is decorated.

Inside an active ``@budget`` (a guard in the engine's context variable: one read per call), the
call takes the guarded drivers of `llm_retry.run.guarded` instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any, ParamSpec, TypeVar, cast, overload

import tenacity
import wrapt

from .errors import PolicyError
from .instrumentation.calls import call_counter
from .policy import Policy
from .policy.presets import preset_source
from .run import clock as _clock
from .run.engine import RetryRun, add_note, areplay, current_guard, replay
from .run.guarded import call_async, call_sync
from .run.variants import wrapper_for

__all__ = ["llm_retry"]

P = ParamSpec("P")
R = TypeVar("R")
PolicySource = Callable[[], Policy]


def _source(preset: str | None, policy: Policy | None, overrides: dict[str, Any]) -> PolicySource:
    """Where the decorated function gets its policy from when an attempt fails.

    A policy object is fixed at decoration time; a preset (``generic`` when neither is given)
    is resolved when an attempt fails, so that a profile switch applies to the next call.
    """
    if preset is not None and policy is not None:
        raise PolicyError("give either preset= or policy=, not both")
    if policy is None:
        return preset_source(preset or "generic", overrides)
    if not isinstance(policy, Policy):
        raise PolicyError(f"policy= must be a Policy, not {policy!r}")
    fixed = policy.evolve(**overrides) if overrides else policy
    return lambda: fixed


def _resolve(source: PolicySource, first: Exception) -> Policy:
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


def _name(func: Callable[..., Any]) -> str:
    target = getattr(func, "__func__", func)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def _sync_wrapper(source: PolicySource, name: str) -> Callable[..., Any]:
    resolve = partial(_resolve, source)  # for the guarded driver
    counter = call_counter(name)  # calls by outcome (llm_retry.instrumentation.calls)

    def retry_after_failure(
        wrapped: Callable[..., Any], args: Any, kwargs: Any, first: Exception, start: float
    ) -> Any:
        run = RetryRun(_resolve(source, first), name, start)
        retrying = tenacity.Retrying(sleep=_clock.pause, **run.strategies())
        try:
            result: Any = retrying(replay(first, wrapped), *args, **kwargs)
        except BaseException as exc:
            run.failed(exc)
            raise
        run.succeeded()
        return result

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        guard = current_guard()
        if guard is not None:
            return call_sync(guard, resolve, name, (wrapped, args, kwargs))
        start = _clock.now()
        try:
            result = wrapped(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
            first = exc
        else:
            counter.first_time += 1
            return result
        return retry_after_failure(wrapped, args, kwargs, first, start)

    return wrapper


def _async_wrapper(source: PolicySource, name: str) -> Callable[..., Any]:
    resolve = partial(_resolve, source)  # for the guarded driver
    counter = call_counter(name)  # calls by outcome (llm_retry.instrumentation.calls)

    async def retry_after_failure(
        wrapped: Callable[..., Any], args: Any, kwargs: Any, first: Exception, start: float
    ) -> Any:
        run = RetryRun(_resolve(source, first), name, start)
        retrying = tenacity.AsyncRetrying(sleep=_clock.apause, **run.strategies())
        try:
            result: Any = await retrying(areplay(first, wrapped), *args, **kwargs)
        except BaseException as exc:
            run.failed(exc)
            raise
        run.succeeded()
        return result

    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        guard = current_guard()
        if guard is not None:
            return await call_async(guard, resolve, name, (wrapped, args, kwargs))
        start = _clock.now()
        try:
            result = await wrapped(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
            first = exc
        else:
            counter.first_time += 1
            return result
        return await retry_after_failure(wrapped, args, kwargs, first, start)

    return wrapper


def is_async(func: Callable[..., Any]) -> bool:
    """Whether ``func`` (or the function inside a classmethod/staticmethod) is ``async def``."""
    return inspect.iscoroutinefunction(getattr(func, "__func__", func))


def _decorate(func: Callable[P, R], source: PolicySource, **options: Any) -> Callable[P, R]:
    name = _name(func)
    wrapper = wrapper_for(func, source, name, (_sync_wrapper, _async_wrapper), **options)
    if wrapper is None:
        wrapper = (_async_wrapper if is_async(func) else _sync_wrapper)(source, name)
    return cast("Callable[P, R]", wrapt.FunctionWrapper(func, wrapper))


@overload
def llm_retry(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def llm_retry(
    *,
    preset: str | None = None,
    policy: Policy | None = None,
    validate: Callable[[Any], str | None] | None = None,
    stream: bool = False,
    restart: bool = False,
    **overrides: Any,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def llm_retry(
    func: Callable[P, R] | None = None,
    /,
    *,
    preset: str | None = None,
    policy: Policy | None = None,
    validate: Callable[[Any], str | None] | None = None,
    stream: bool = False,
    restart: bool = False,
    **overrides: Any,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Retry the decorated function as a policy says.

    Use it bare (``@llm_retry``: the ``generic`` preset) or with arguments. Works on functions,
    ``async def`` functions, methods, classmethods and staticmethods, and keeps their signature,
    type hints and ``inspect.iscoroutinefunction``. On a generator (or async generator) function,
    a failure before its first output is retried by calling it again; after that, it is raised.

    Args:
        func: the function, when used bare.
        preset: the name of a preset in ``policies/`` (``"deepseek"``, ``"openai"``, ...),
            resolved with the active profile each time a call needs it.
        policy: a `Policy` object.
        validate: a check of the result, ``(result) -> None | "kind: reason"``: a reason means
            the call succeeded with an unusable result ("bad 200"), retried by the policy's
            ``results`` rules (see `llm_retry.validators`); when no attempt is left, the call
            raises `InvalidResultError`.
        stream: the function returns an SDK stream (``create(..., stream=True)``): the call
            returns once the first output chunk is in, so a failure before it is retried; after
            it, a failure is raised with a note, not retried (its output would come twice).
        restart: for streams and generators, re-run the call from the start when it fails after
            output (a ``stream_restarted`` event tells the caller to drop what it got).
        **overrides: policy settings to change (``attempts=3``, ``max_retry_after=30``).

    Raises:
        PolicyError: at decoration time, for an unknown preset or an invalid override.
    """
    source = _source(preset, policy, overrides)
    options = {"validate": validate, "stream": stream, "restart": restart}
    if func is not None:
        return _decorate(func, source, **options)

    def decorator(f: Callable[P, R]) -> Callable[P, R]:
        return _decorate(f, source, **options)

    return decorator
