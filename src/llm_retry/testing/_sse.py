"""Server-sent event streams as the OpenAI and Anthropic APIs send them, with faults injected.

A request whose JSON body asks for ``"stream": true`` and gets a 2xx
[`Reply`][llm_retry.testing.Reply] is answered with a stream the real SDKs'
``create(..., stream=True)`` can read:

- OpenAI (and DeepSeek): ``data: {chat.completion.chunk}`` lines (a role chunk, one chunk per
  piece of content, a chunk with the finish reason), then ``data: [DONE]``.
- Anthropic: ``message_start``, ``content_block_start`` and a ``ping``, one ``content_block_delta``
  per piece of content, then ``content_block_stop``, ``message_delta`` and ``message_stop``.
- OpenAI Responses API (paths ending in ``/responses``): ``response.created``,
  ``response.in_progress``, ``response.output_item.added`` and ``response.content_part.added``,
  one ``response.output_text.delta`` per piece, then the ``.done`` events and
  ``response.completed``.

``error_after=K`` replaces the rest of the stream with an error event after K pieces of content
(OpenAI: ``data: {"error": {...}}``, which the SDK raises as a status-less ``APIError``; Anthropic:
``event: error`` with an ``overloaded_error``; Responses: a ``response.failed`` event with a
``server_error``, which the SDK yields); ``drop_after=K`` closes the connection there
instead. ``K = 0`` puts the fault before any content, right after the opening events.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llm_retry.testing._bodies import (
    DEFAULT_CONTENT,
    anthropic_error_body,
    openai_error_body,
)

if TYPE_CHECKING:
    from llm_retry.testing._replies import RecordedRequest, Reply

__all__ = ["StreamPlan", "plan_stream", "split_content", "wants_stream"]

_WORDS = re.compile(r"\S+\s*|\s+")
_OPENAI_MODEL = "gpt-4o-mini"
_ANTHROPIC_MODEL = "claude-haiku-4-5"


@dataclass(frozen=True)
class StreamPlan:
    """What to write for a streamed reply.

    Attributes:
        events: The encoded events, in order, the injected error event included.
        drop: Close the connection after `events` instead of ending the body properly.
    """

    events: tuple[bytes, ...]
    drop: bool = False


def wants_stream(request: RecordedRequest) -> bool:
    """Whether `request` asked for a streamed answer and its reply is a success.

    Args:
        request: The request, with the reply it got.

    Returns:
        True for a JSON body with `"stream": true` answered with a 2xx automatic body.
    """
    body = request.body
    asked = isinstance(body, dict) and body.get("stream") is True
    reply = request.reply
    return asked and 200 <= reply.status < 300 and reply.body is None


def split_content(text: str) -> tuple[str, ...]:
    """Split `text` into word-sized pieces (each keeps its trailing space), as models stream.

    Args:
        text: The assistant text.

    Returns:
        The pieces; joined, they give back `text`.
    """
    return tuple(_WORDS.findall(text))


def _event(data: object, name: str | None = None) -> bytes:
    """One SSE event: an optional `event:` line and a `data:` line with JSON."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n".encode()


def _model(request: RecordedRequest, default: str) -> str:
    model = request.body.get("model") if isinstance(request.body, dict) else None
    return model if isinstance(model, str) else default


def _pieces(reply: Reply) -> tuple[str, ...]:
    if reply.chunks is not None:
        return tuple(reply.chunks)
    return split_content(DEFAULT_CONTENT if reply.content is None else reply.content)


def _openai_chunk(ident: str, model: str, delta: dict[str, Any], finish: str | None) -> bytes:
    return _event(
        {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
    )


def _openai_events(request: RecordedRequest, serial: int) -> tuple[list[bytes], list[bytes]]:
    """(opening + content events, closing events) of an OpenAI chat completion stream."""
    reply = request.reply
    ident, model = f"chatcmpl-fault{serial}", _model(request, _OPENAI_MODEL)
    head = [_openai_chunk(ident, model, {"role": "assistant", "content": ""}, None)]
    body = [_openai_chunk(ident, model, {"content": piece}, None) for piece in _pieces(reply)]
    tail = [_openai_chunk(ident, model, {}, reply.finish_reason or "stop"), _event("[DONE]")]
    return head + body, tail


def _anthropic_events(request: RecordedRequest, serial: int) -> tuple[list[bytes], list[bytes]]:
    """(opening + content events, closing events) of an Anthropic Messages stream."""
    reply = request.reply
    pieces = _pieces(reply)
    message: dict[str, Any] = {
        "id": f"msg_fault{serial}",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": _model(request, _ANTHROPIC_MODEL),
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    head = [
        _event({"type": "message_start", "message": message}, "message_start"),
        _event(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
        _event({"type": "ping"}, "ping"),
    ]
    body = [
        _event(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
            "content_block_delta",
        )
        for p in pieces
    ]
    stop = {"stop_reason": reply.finish_reason or "end_turn", "stop_sequence": None}
    tail = [
        _event({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _event(
            {"type": "message_delta", "delta": stop, "usage": {"output_tokens": len(pieces)}},
            "message_delta",
        ),
        _event({"type": "message_stop"}, "message_stop"),
    ]
    return head + body, tail


def _responses_events(request: RecordedRequest, serial: int) -> tuple[list[bytes], list[bytes]]:
    """(opening + content events, closing events) of an OpenAI Responses API stream."""
    pieces = _pieces(request.reply)
    text, item_id = "".join(pieces), f"msg_fault{serial}"
    part = {"type": "output_text", "text": "", "annotations": []}
    item = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress"}
    sequence = iter(range(1 << 30))

    def event(kind: str, **fields: Any) -> bytes:
        return _event({"type": kind, "sequence_number": next(sequence), **fields}, kind)

    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    head = [
        event("response.created", response=_response(request, serial, "in_progress", [])),
        event("response.in_progress", response=_response(request, serial, "in_progress", [])),
        event("response.output_item.added", output_index=0, item={**item, "content": []}),
        event("response.content_part.added", part=part, **where),
    ]
    body = [event("response.output_text.delta", delta=p, logprobs=[], **where) for p in pieces]
    done_part = {**part, "text": text}
    done_item = {**item, "status": "completed", "content": [done_part]}
    tail = [
        event("response.output_text.done", text=text, logprobs=[], **where),
        event("response.content_part.done", part=done_part, **where),
        event("response.output_item.done", output_index=0, item=done_item),
        event("response.completed", response=_response(request, serial, "completed", [done_item])),
    ]
    return head + body, tail


def _response(request: RecordedRequest, serial: int, status: str, output: list[Any]) -> Any:
    return {
        "id": f"resp_fault{serial}",
        "object": "response",
        "created_at": int(time.time()),
        "model": _model(request, _OPENAI_MODEL),
        "status": status,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
    }


def _is_responses(request: RecordedRequest) -> bool:
    return request.path.rstrip("/").endswith("/responses")


def _error_event(reply: Reply, api: str) -> bytes:
    """The in-stream error: OpenAI's `server_error`, Anthropic's `overloaded_error` by default."""
    if api == "responses":
        error = openai_error_body(500, code=reply.code, type=reply.type, message=reply.message)
        failed = {"type": "response.failed", "response": {"status": "failed", **error}}
        return _event(failed, "response.failed")
    if api == "anthropic":
        return _event(anthropic_error_body(529, type=reply.type, message=reply.message), "error")
    return _event(openai_error_body(500, code=reply.code, type=reply.type, message=reply.message))


def plan_stream(request: RecordedRequest, serial: int, api: str) -> StreamPlan:
    """The events to stream for `request`, with the reply's fault applied.

    Args:
        request: The request, with the reply it got.
        serial: A number unique to this request in the server, used in ids.
        api: `"openai"` or `"anthropic"`.

    Returns:
        The events, and whether to drop the connection after them.
    """
    reply = request.reply
    if api == "openai" and _is_responses(request):
        api = "responses"
    render = {"anthropic": _anthropic_events, "responses": _responses_events}.get(
        api, _openai_events
    )
    opening_and_content, closing = render(request, serial)
    opening = {"anthropic": 3, "responses": 4}.get(api, 1)
    fault = reply.error_after if reply.error_after is not None else reply.drop_after
    if fault is None:
        return StreamPlan(tuple(opening_and_content + closing))
    kept = opening_and_content[: opening + fault]
    if reply.drop_after is not None:
        return StreamPlan(tuple(kept), drop=True)
    return StreamPlan((*kept, _error_event(reply, api)))
