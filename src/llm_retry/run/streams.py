"""Streams detected, not declared: a plain function that returns a stream is treated as one.

``@llm_retry`` without ``stream=`` looks at what a successful call returned. A generator, an
async generator, an openai or anthropic ``Stream``/``AsyncStream``, LiteLLM's stream wrapper
or one of the SDKs' ``.stream()`` managers gets what ``stream=True`` gives: the call returns
once the first output is in, a failure before it is retried, one after it is raised with a
note. ``stream=False`` turns the check off; ``stream=True`` skips it.

The check costs one set membership test per call: what a type is, is worked out the first time
a result of that type is seen (by the names of its classes, so no SDK is imported) and kept.

The stream a successful attempt returned is not wasted: it is handed to the streaming wrapper
as that wrapper's first attempt, and only a retry calls the function again.
"""

from __future__ import annotations

import inspect
import threading
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import wrapt

if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:  # wrapt 1.x proxies take no type arguments at run time
    _Proxy = wrapt.ObjectProxy

__all__ = ["KINDS", "MANAGER", "PLAIN", "STREAM", "Detect", "detected", "detector", "stream_kind"]

Wrapper = Callable[[Callable[..., Any], Any, Any, Any], Any]
Detect = Callable[[Any, Callable[..., Any], Any, Any, Any], Any]
"""``detect(result, wrapped, instance, args, kwargs)``: ``result``, or the stream call it starts."""

STREAM, MANAGER = "stream", "manager"
_STREAMS = frozenset(
    {
        ("openai", "Stream"),
        ("openai", "AsyncStream"),
        ("anthropic", "Stream"),
        ("anthropic", "AsyncStream"),
        ("litellm", "CustomStreamWrapper"),
    }
)
_MANAGERS = frozenset(
    {
        ("anthropic", "MessageStreamManager"),
        ("anthropic", "AsyncMessageStreamManager"),
        ("openai", "ChatCompletionStreamManager"),
        ("openai", "AsyncChatCompletionStreamManager"),
        ("openai", "ResponseStreamManager"),
        ("openai", "AsyncResponseStreamManager"),
    }
)
_MAX_TYPES = 1024
KINDS: dict[type, str | None] = {}
"""What each result type seen so far is (``None``: a plain value)."""
PLAIN: set[type] = set()
"""The result types known to be plain values: the retry frames return a result at once when
``type(result) in PLAIN``, and call their `Detect` otherwise."""
_lock = threading.Lock()


def _kind_of(cls: type) -> str | None:
    if cls is types.GeneratorType or cls is types.AsyncGeneratorType:
        return STREAM
    for base in cls.__mro__:
        name = (base.__module__.partition(".")[0], base.__name__)
        if name in _STREAMS:
            return STREAM
        if name in _MANAGERS:
            return MANAGER
    return None


def stream_kind(result: object) -> str | None:
    """`STREAM`, `MANAGER` (an SDK's ``.stream()`` context manager) or ``None``."""
    cls = type(result)
    try:
        return KINDS[cls]
    except KeyError:
        kind = _kind_of(cls)
    with _lock:
        if len(KINDS) >= _MAX_TYPES:
            KINDS.clear()
            PLAIN.clear()
        KINDS[cls] = kind
        if kind is None:
            PLAIN.add(cls)
    return kind


def _first_then(first: object, again: Callable[..., Any]) -> Callable[..., Any]:
    """A callable returning ``first`` once, then calling ``again``."""
    pending = [first]

    def call(*args: Any, **kwargs: Any) -> Any:
        return pending.pop() if pending else again(*args, **kwargs)

    return call


def _afirst_then(first: object, again: Callable[..., Any]) -> Callable[..., Any]:
    pending = [first]

    async def call(*args: Any, **kwargs: Any) -> Any:
        return pending.pop() if pending else await again(*args, **kwargs)

    return call


def detector(streaming: tuple[Wrapper, Wrapper], *, is_async: bool) -> Detect:
    """What the plain wrapper calls when a result's type is not known to be a plain value.

    Args:
        streaming: the sync and async ``stream=True`` wrappers (an async manager, such as
            ``AsyncAnthropic().messages.stream()``, can come from a plain function).
        is_async: the function is ``async def``: the detector is awaited.
    """
    sync_streaming, async_streaming = streaming

    async def adetect(
        result: Any, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
    ) -> Any:
        kind = stream_kind(result)
        if kind is None:
            return result
        if kind == MANAGER:
            return _managed(result, streaming, (wrapped, instance, args, kwargs))
        return await async_streaming(_afirst_then(result, wrapped), instance, args, kwargs)

    def detect(
        result: Any, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any
    ) -> Any:
        kind = stream_kind(result)
        if kind is None:
            return result
        if kind == MANAGER:
            return _managed(result, streaming, (wrapped, instance, args, kwargs))
        return sync_streaming(_first_then(result, wrapped), instance, args, kwargs)

    return adetect if is_async else detect


def detected(
    layer: Wrapper,
    detect: Detect,
    rebind: Callable[[Callable[..., Any], Any], Callable[..., Any]],
    *,
    is_async: bool,
) -> Wrapper:
    """``layer`` (the retry segment), whose results go through ``detect`` unless their type is
    known to be a plain value: one dictionary lookup on the happy path.

    ``rebind(wrapped, instance)`` is the attempt a retry of a detected stream makes (the hooks
    below the retry included).
    """
    plain = PLAIN
    if is_async:

        async def alayer(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            result = await layer(wrapped, instance, args, kwargs)
            if type(result) in plain:
                return result
            return await detect(result, rebind(wrapped, instance), instance, args, kwargs)

        return alayer

    def slayer(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        result = layer(wrapped, instance, args, kwargs)
        if type(result) in plain:
            return result
        return detect(result, rebind(wrapped, instance), instance, args, kwargs)

    return slayer


def _managed(manager: Any, streaming: tuple[Wrapper, Wrapper], call: tuple[Any, ...]) -> Any:
    if hasattr(manager, "__aenter__") and not hasattr(manager, "__enter__"):
        return _AsyncManaged(manager, streaming[1], call)
    return _Managed(manager, streaming[0], call)


class _Managed(_Proxy):
    """An SDK's ``.stream()`` manager whose ``with`` opens the stream under the retry loop."""

    def __init__(self, manager: Any, streaming: Wrapper, call: tuple[Any, ...]) -> None:
        super().__init__(manager)
        self._self_streaming = streaming
        self._self_call = call
        self._self_opened: Any = None

    def __enter__(self) -> Any:
        wrapped, instance, args, kwargs = self._self_call
        first_used: list[Any] = [self.__wrapped__]

        def open_once(*a: Any, **k: Any) -> Any:
            manager = first_used.pop() if first_used else wrapped(*a, **k)
            return manager.__enter__()

        self._self_opened = self._self_streaming(open_once, instance, args, kwargs)
        return _TextStream(self._self_opened)

    def __exit__(self, *exc_info: object) -> None:
        if self._self_opened is not None:
            self._self_opened.close()


class _AsyncManaged(_Proxy):
    """The async twin of `_Managed` (``async with``)."""

    def __init__(self, manager: Any, streaming: Wrapper, call: tuple[Any, ...]) -> None:
        super().__init__(manager)
        self._self_streaming = streaming
        self._self_call = call
        self._self_opened: Any = None

    async def __aenter__(self) -> Any:
        wrapped, instance, args, kwargs = self._self_call
        first_used: list[Any] = [self.__wrapped__]

        async def open_once(*a: Any, **k: Any) -> Any:
            manager = first_used.pop() if first_used else wrapped(*a, **k)
            if inspect.isawaitable(manager):
                manager = await manager
            return await manager.__aenter__()

        self._self_opened = await self._self_streaming(open_once, instance, args, kwargs)
        return _AsyncTextStream(self._self_opened)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._self_opened is not None:
            await self._self_opened.close()


def _text_of(event: object) -> str | None:
    if getattr(event, "type", None) != "content_block_delta":
        return None
    text = getattr(getattr(event, "delta", None), "text", None)
    return text if isinstance(text, str) else None


class _TextStream(_Proxy):
    """A relayed ``MessageStream`` whose ``text_stream`` reads the relayed events (the ones
    held back before the first output included)."""

    @property
    def text_stream(self) -> Any:
        """The text of the stream's deltas, as the SDK's ``text_stream`` gives it."""
        return (text for event in self.__wrapped__ if (text := _text_of(event)) is not None)


class _AsyncTextStream(_Proxy):
    """The async twin of `_TextStream`."""

    @property
    def text_stream(self) -> Any:
        """The text of the stream's deltas, as the SDK's ``text_stream`` gives it."""

        async def texts() -> Any:
            async for event in self.__wrapped__:
                text = _text_of(event)
                if text is not None:
                    yield text

        return texts()
