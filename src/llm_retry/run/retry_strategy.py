"""The retry strategy: what ``@llm_retry`` contributes to a function's pipeline.

Its segment is the retry loop over the rest of the pipeline: the hooks written above it run
around the loop, the hooks written below it around every attempt. For the common stack
(hooks, the retry, hooks, the call) the segment is one frame, sync or async, whose first attempt
is a plain call; everything after a failure goes through `llm_retry.run.drivers`. Streams,
generators and ``validate=`` go through `llm_retry.run.variants` over the same drivers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llm_retry.instrumentation.calls import call_counter

from . import clock
from .ahooks import awaits
from .drivers import PolicySource, drive, resolve, retry
from .engine import Guard, RetryRun, current_guard
from .pipeline import Hook, Layer, Segment, around, bind, callable_name, hooked, merged
from .variants import wrapper_for

__all__ = ["RetryStrategy", "quick"]


def _sync_base(source: PolicySource, name: str) -> Layer:
    return lambda call, instance, args, kwargs: drive(source, name, call, args, kwargs)


def _async_base(source: PolicySource, name: str) -> Layer:
    from .adrivers import adrive  # noqa: PLC0415 - asyncio only for async code

    return lambda call, instance, args, kwargs: adrive(source, name, call, args, kwargs)


class RetryStrategy:
    """What ``@llm_retry`` contributes to a pipeline: the retry loop over the rest of it."""

    __slots__ = ("func", "name", "options", "source")

    def __init__(
        self, func: Callable[..., Any], source: PolicySource, options: dict[str, Any]
    ) -> None:
        self.func = func
        self.source = source
        self.name = callable_name(func)
        self.options = options
        wrapper_for(func, source, self.name, (_sync_base, _async_base), **options)  # checks

    def layer(self, segment: Segment) -> Layer:
        """The retry segment: the hooks above around the loop, ``inner`` in every attempt."""
        source, name = self.source, self.name
        inner, is_async, outer, inline = (
            segment.inner,
            segment.is_async,
            segment.outer,
            segment.inline,
        )
        variant = wrapper_for(self.func, source, name, (_sync_base, _async_base), **self.options)
        if variant is None and inline is not None and not (is_async and awaits((*outer, *inline))):
            if is_async:
                from .adrivers import fused_async  # noqa: PLC0415 - asyncio only for async code

                return fused_async(source, name, merged(outer), merged(inline))
            return _fused_sync(source, name, merged(outer), merged(inline))
        base = variant or (_async_base if is_async else _sync_base)(source, name)

        def nested(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            return base(bind(inner, wrapped, instance), instance, args, kwargs)

        return around(outer, nested, is_async=is_async)


def quick(guard: Guard | None) -> bool:
    """Whether the first attempt may skip the guard: none, or a passive one with time left."""
    return guard is None or (guard.passive and guard.deadline > clock.now())


def _fused_sync(source: PolicySource, name: str, outer: Hook | None, inside: Hook | None) -> Layer:
    """The retry segment in one frame (and one for the attempt): a stack's whole happy path.

    The hooks before the loop (``outer``: a ``@budget`` above) run around it, the hooks inside
    it (``inside``: a ``@circuit`` below) around each attempt. The first attempt is made at
    once unless the active guard has to admit it; anything else goes through the drivers.
    """
    attempt = around(() if inside is None else (inside,), None, is_async=False)
    counter = call_counter(name)  # calls by outcome (llm_retry.instrumentation.calls)

    def segment(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        token = None if outer is None else outer.enter(args, kwargs)
        try:
            guard = current_guard()
            if not quick(guard):
                result = drive(source, name, hooked(inside, wrapped), args, kwargs)
            else:
                start = clock.now()
                try:
                    result = attempt(wrapped, instance, args, kwargs)
                except Exception as exc:  # noqa: BLE001 - the policy decides, not the clause
                    run = RetryRun(resolve(source, exc), name, start, guard)
                    result = retry(run, hooked(inside, wrapped), exc, args, kwargs)
                else:
                    counter.first_time += 1  # calls by outcome: the happy path's one count
        except BaseException as exc:
            if outer is not None:
                outer.exit(token, exc)
            raise
        if outer is not None:
            outer.exit(token, None)
        return result

    return segment
