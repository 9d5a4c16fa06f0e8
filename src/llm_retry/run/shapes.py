"""What a stream item is: output the caller can use, an opening event, or an error.

A stream commits at its first item that carries output: text, a tool-call delta, audio. Opening
events and empty chunks do not count, so a failure right after them is still retried. One rule
per shape, recognised by its fields (no SDK is imported):

- openai chat completion chunks (and DeepSeek's): a choice whose delta has content,
  reasoning, a refusal, a tool call or audio, or a finish reason;
- OpenAI Responses API events: ``response.output_text.delta`` with text, argument and audio
  deltas, terminal events; ``response.created``, ``response.in_progress``,
  ``response.output_item.added`` ... are not output;
- Anthropic events (raw and ``messages.stream()``'s): a ``content_block_delta`` with text,
  JSON or thinking, ``text`` events, the closing events; ``message_start``,
  ``content_block_start`` and ``ping`` are not;
- LangChain message chunks (``AIMessageChunk``): non-empty ``content`` or ``tool_call_chunks``;
- pydantic-ai stream events (``event_kind``): a part or delta with content or tool-call args;
- strings: non-empty ones.

An item of an unknown ``type`` counts only if it carries a non-empty ``delta`` or ``text``.
Anything else (a user generator's numbers, dicts without ``type``) is output.

An error item (OpenAI's ``error`` event, a Responses ``response.failed``), which the SDKs hand
over instead of raising, becomes a `StreamEventError` carrying the error's JSON as ``body``, so
it is classified like the HTTP error of the same type (``server_error`` as a 500).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_retry.errors import StreamEventError

__all__ = ["error_of", "is_output"]

_DELTA_OUTPUT = ("content", "reasoning_content", "refusal", "tool_calls", "function_call", "audio")
_ANTHROPIC_OPENING = frozenset({"message_start", "content_block_start", "ping"})
_ANTHROPIC_CLOSING = frozenset({"content_block_stop", "message_delta", "message_stop"})
_ANTHROPIC_DELTA_FIELDS = ("text", "partial_json", "thinking", "citation")
_HELPER_EVENTS = frozenset({"text", "input_json", "thinking", "citation"})  # messages.stream()
_RESPONSES_OPENING = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.queued",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_summary_part.added",
    }
)
_RESPONSES_TERMINAL = frozenset({"response.completed", "response.incomplete"})
_ERROR_TYPES = frozenset({"error", "response.failed"})
_PYDANTIC_AI_PARTS = ("content", "content_delta", "args", "args_delta", "tool_name")


def _field(item: object, name: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def _choice_has_output(choice: object) -> bool:
    if _field(choice, "finish_reason"):
        return True
    delta = _field(choice, "delta")
    return any(_field(delta, name) for name in _DELTA_OUTPUT)


def _responses_event(kind: str, item: object) -> bool:
    if kind in _RESPONSES_OPENING:
        return False
    if kind in _RESPONSES_TERMINAL or kind.endswith(".done"):
        return True
    if kind.endswith(".delta"):
        return bool(_field(item, "delta"))
    return False  # an unknown response.* event is not output


def _anthropic_event(kind: str, item: object) -> bool | None:
    if kind in _ANTHROPIC_OPENING:
        return False
    if kind in _ANTHROPIC_CLOSING:
        return True
    if kind == "content_block_delta":
        delta = _field(item, "delta")
        return any(_field(delta, name) for name in _ANTHROPIC_DELTA_FIELDS)
    if kind in _HELPER_EVENTS:
        return bool(_field(item, kind) or _field(item, "snapshot"))
    return None


def _message_chunk(item: object) -> bool:
    """A LangChain message chunk: content (a string or a list of blocks) or tool-call chunks."""
    if _field(item, "tool_call_chunks"):
        return True
    content = _field(item, "content")
    if isinstance(content, str):
        return bool(content)
    return any(
        not isinstance(block, Mapping) or block.get("type") != "text" or block.get("text")
        for block in content or ()
    )


def _pydantic_ai_event(kind: str, item: object) -> bool:
    if kind not in {"part_start", "part_delta"}:
        return kind != "final_result"  # tool calls and results are output; the marker is not
    part = _field(item, "part") if kind == "part_start" else _field(item, "delta")
    return any(_field(part, name) for name in _PYDANTIC_AI_PARTS)


def _typed(kind: str, item: object) -> bool:
    if kind.startswith("response."):
        return _responses_event(kind, item)
    anthropic = _anthropic_event(kind, item)
    if anthropic is not None:
        return anthropic
    if kind.endswith("MessageChunk"):  # LangChain's chunks say their class in ``type``
        return _message_chunk(item)
    return bool(_field(item, "delta") or _field(item, "text"))


def is_output(item: object) -> bool:
    """Whether handing ``item`` to the caller commits the stream (a retry would repeat it)."""
    if isinstance(item, str):
        return bool(item)
    kind = _field(item, "type")
    if isinstance(kind, str):
        return _typed(kind, item)
    if _field(item, "object") == "chat.completion.chunk":
        return any(_choice_has_output(c) for c in _field(item, "choices") or ())
    event_kind = _field(item, "event_kind")
    if isinstance(event_kind, str):
        return _pydantic_ai_event(event_kind, item)
    return True


def _as_dict(value: object) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else value


def error_of(item: object) -> StreamEventError | None:
    """The error an error item stands for, or ``None`` for any other item."""
    kind = _field(item, "type")
    if kind not in _ERROR_TYPES:
        return None
    if kind == "response.failed":
        error = _field(_field(item, "response"), "error")
    else:
        inner = _field(item, "error")
        error = inner if inner is not None else item
    error = _as_dict(error)
    body = {"error": dict(error) if isinstance(error, Mapping) else {}}
    message = body["error"].get("message") or f"{kind} event in the stream"
    return StreamEventError(str(message), body, item)
