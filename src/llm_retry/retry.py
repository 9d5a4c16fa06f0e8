"""``@llm_retry``: retry a function that calls an LLM API, as its policy says.

The first attempt is a plain call inside a ``try``: nothing is built and no policy is read
unless it fails. Only then is tenacity's ``Retrying`` (or ``AsyncRetrying``) set up, with
strategies from one `RetryRun` (the shared decision core), and told that attempt one already
failed. Sync or async is chosen once, when the function is decorated.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast, overload

import tenacity
import wrapt

from . import _clock
from .engine import RetryRun
from .errors import PolicyError
from .policy import Policy
from .presets import preset_source

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


def _name(func: Callable[..., Any]) -> str:
    target = getattr(func, "__func__", func)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def _replay(first: BaseException, wrapped: Callable[..., Any]) -> Callable[..., Any]:
    """A callable whose first call re-raises the failure already seen, then calls ``wrapped``."""
    pending = [first]

    def attempt(*args: Any, **kwargs: Any) -> Any:
        if pending:
            raise pending.pop()
        return wrapped(*args, **kwargs)

    return attempt


def _areplay(first: BaseException, wrapped: Callable[..., Any]) -> Callable[..., Any]:
    """The async twin of `_replay`."""
    pending = [first]

    async def attempt(*args: Any, **kwargs: Any) -> Any:
        if pending:
            raise pending.pop()
        return await wrapped(*args, **kwargs)

    return attempt


def _strategies(run: RetryRun) -> dict[str, Any]:
    return {
        "retry": run.retry,
        "wait": run.wait,
        "stop": run.stop,
        "before_sleep": run.before_sleep,
        "reraise": True,
    }


def _sync_wrapper(source: PolicySource, name: str) -> Callable[..., Any]:
    def retry_after_failure(
        wrapped: Callable[..., Any], args: Any, kwargs: Any, first: Exception, start: float
    ) -> Any:
        run = RetryRun(source(), name, start)
        retrying = tenacity.Retrying(sleep=_clock.pause, **_strategies(run))
        try:
            result: Any = retrying(_replay(first, wrapped), *args, **kwargs)
        except BaseException as exc:
            run.failed(exc)
            raise
        run.succeeded()
        return result

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        start = _clock.now()
        try:
            return wrapped(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
            first = exc
        return retry_after_failure(wrapped, args, kwargs, first, start)

    return wrapper


def _async_wrapper(source: PolicySource, name: str) -> Callable[..., Any]:
    async def retry_after_failure(
        wrapped: Callable[..., Any], args: Any, kwargs: Any, first: Exception, start: float
    ) -> Any:
        run = RetryRun(source(), name, start)
        retrying = tenacity.AsyncRetrying(sleep=_clock.apause, **_strategies(run))
        try:
            result: Any = await retrying(_areplay(first, wrapped), *args, **kwargs)
        except BaseException as exc:
            run.failed(exc)
            raise
        run.succeeded()
        return result

    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        start = _clock.now()
        try:
            return await wrapped(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the policy decides, not the except clause
            first = exc
        return await retry_after_failure(wrapped, args, kwargs, first, start)

    return wrapper


def is_async(func: Callable[..., Any]) -> bool:
    """Whether ``func`` (or the function inside a classmethod/staticmethod) is ``async def``."""
    return inspect.iscoroutinefunction(getattr(func, "__func__", func))


def _decorate(func: Callable[P, R], source: PolicySource) -> Callable[P, R]:
    make = _async_wrapper if is_async(func) else _sync_wrapper
    return cast("Callable[P, R]", wrapt.FunctionWrapper(func, make(source, _name(func))))


@overload
def llm_retry(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def llm_retry(
    *, preset: str | None = None, policy: Policy | None = None, **overrides: Any
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def llm_retry(
    func: Callable[P, R] | None = None,
    /,
    *,
    preset: str | None = None,
    policy: Policy | None = None,
    **overrides: Any,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Retry the decorated function as a policy says.

    Use it bare (``@llm_retry``: the ``generic`` preset) or with arguments. Works on functions,
    ``async def`` functions, methods, classmethods and staticmethods, and keeps their signature,
    type hints and ``inspect.iscoroutinefunction``.

    Args:
        func: the function, when used bare.
        preset: the name of a preset in ``policies/`` (``"deepseek"``, ``"openai"``, ...),
            resolved with the active profile each time a call needs it.
        policy: a `Policy` object.
        **overrides: policy settings to change (``attempts=3``, ``max_retry_after=30``).

    Raises:
        PolicyError: at decoration time, for an unknown preset or an invalid override.
    """
    source = _source(preset, policy, overrides)
    if func is not None:
        return _decorate(func, source)

    def decorator(f: Callable[P, R]) -> Callable[P, R]:
        return _decorate(f, source)

    return decorator
