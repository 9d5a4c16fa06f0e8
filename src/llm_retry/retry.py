"""``@llm_retry``: retry a function that calls an LLM API, as its policy says.

The decorator contributes the retry strategy to the function's pipeline
(`llm_retry.run.pipeline`): the retry loop, with the strategies inside it (a ``@circuit``
below it) run around every attempt. The first attempt is a plain call inside a ``try``: nothing
is built and no policy is read unless it fails (`llm_retry.run.drivers`). Sync or async is
chosen once, when the function is decorated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

from .errors import PolicyError
from .policy import Policy
from .policy.presets import preset_source
from .run.drivers import PolicySource
from .run.limited import for_preset
from .run.pipeline import attach, unwrapped
from .run.retry_strategy import RetryStrategy

__all__ = ["llm_retry"]

P = ParamSpec("P")
R = TypeVar("R")


def source_of(preset: str | None, policy: Policy | None, overrides: dict[str, Any]) -> PolicySource:
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


@overload
def llm_retry(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def llm_retry(
    *,
    preset: str | None = None,
    policy: Policy | None = None,
    validate: Callable[[Any], str | None] | None = None,
    stream: bool | None = None,
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
    stream: bool | None = None,
    restart: bool = False,
    **overrides: Any,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Retry the decorated function as a policy says.

    Use it bare (``@llm_retry``: the ``generic`` preset) or with arguments. Works on functions,
    ``async def`` functions, methods, classmethods and staticmethods, and keeps their signature,
    type hints and ``inspect.iscoroutinefunction``. On a generator (or async generator) function,
    a failure before its first output is retried by calling it again; after that, it is raised.

    Stacked with ``@budget``, ``@circuit`` and ``fallback``, it joins their pipeline: one
    wrapper and one retry loop, the strategies in the order written.

    Args:
        func: the function, when used bare.
        preset: the name of a preset in ``policies/`` (``"deepseek"``, ``"openai"``, ...),
            resolved with the active profile each time a call needs it.
        policy: a `Policy` object.
        validate: a check of the result, ``(result) -> None | "kind: reason"``: a reason means
            the call succeeded with an unusable result ("bad 200"), retried by the policy's
            ``results`` rules (see `llm_retry.validators`); when no attempt is left, the call
            raises `InvalidResultError`.
        stream: whether the function returns a stream. By default (``None``) a returned SDK
            stream, ``.stream()`` manager or generator is detected (`llm_retry.run.streams`);
            ``False`` turns that off, ``True`` skips the check. A stream call returns once the
            first output chunk is in, so a failure before it is retried; after it, a failure is
            raised with a note, not retried (its output would come twice).
        restart: for streams and generators, re-run the call from the start when it fails after
            output (a ``stream_restarted`` event tells the caller to drop what it got).
        **overrides: policy settings to change (``attempts=3``, ``max_retry_after=30``);
            and ``limits=False`` to turn off the preset's admission under its name
            (`llm_retry.run.limited`), ``store=`` (a `RedisStore`) to share it across processes.

    Raises:
        PolicyError: at decoration time, for an unknown preset or an invalid override.
    """
    limits = for_preset(preset, overrides.pop("limits", None), overrides.pop("store", None))
    source = source_of(preset, policy, overrides)
    options = {"validate": validate, "stream": stream, "restart": restart}

    def decorator(f: Callable[P, R]) -> Callable[P, R]:
        return attach(f, RetryStrategy(unwrapped(f), source, options, limits))

    return decorator(func) if func is not None else decorator
