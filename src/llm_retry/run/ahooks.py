"""Hooks that async pipelines await: a ``@circuit`` on a store that does I/O (Redis).

A hook may offer ``aenter``/``aexit``, the async twins of ``enter``/``exit``: an async pipeline
awaits them instead of calling the sync ones, so a `RedisStore` read or update runs on the
``redis.asyncio`` client and the event loop never waits on a socket. Whether a segment's hooks
need that is decided once, when the pipeline is built: hooks without the twins (``@budget``, a
circuit in memory) keep the sync path and its cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pipeline import Hook, Layer

__all__ = ["aenter_all", "aexit_all", "awaited_hooks", "awaits"]


def awaits(hooks: tuple[Hook, ...]) -> bool:
    """Whether any of ``hooks`` has async twins to await."""
    return any(getattr(hook, "aenter", None) is not None for hook in hooks)


async def aenter_all(hooks: tuple[Hook, ...], args: Any, kwargs: Any) -> list[Any]:
    """Enter ``hooks`` in order, awaiting those that have ``aenter``; if one refuses, the
    ones entered exit with its error."""
    tokens: list[Any] = []
    for hook in hooks:
        aenter = getattr(hook, "aenter", None)
        try:
            tokens.append(
                hook.enter(args, kwargs) if aenter is None else await aenter(args, kwargs)
            )
        except BaseException as exc:
            await aexit_all(hooks[: len(tokens)], tokens, exc)
            raise
    return tokens


async def aexit_all(
    hooks: tuple[Hook, ...], tokens: list[Any], error: BaseException | None
) -> None:
    """Exit the entered ``hooks``, innermost first, awaiting those that have ``aexit``."""
    for hook, token in zip(reversed(hooks), reversed(tokens), strict=True):
        aexit = getattr(hook, "aexit", None)
        if aexit is None:
            hook.exit(token, error)
        else:
            await aexit(token, error)


def awaited_hooks(hooks: tuple[Hook, ...], core: Layer | None) -> Layer:
    """``hooks`` around ``core`` (or the plain call), in one coroutine, awaiting their twins."""

    async def run(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        tokens = await aenter_all(hooks, args, kwargs)
        try:
            if core is None:
                result = await wrapped(*args, **kwargs)
            else:
                result = await core(wrapped, instance, args, kwargs)
        except BaseException as exc:
            await aexit_all(hooks, tokens, exc)
            raise
        await aexit_all(hooks, tokens, None)
        return result

    return run
