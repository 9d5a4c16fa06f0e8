"""What the fault server answers: scripted `Reply` objects, recorded requests, and the bodies.

Requests to a path ending in `/messages` get Anthropic bodies; every other path gets OpenAI
chat completion bodies. Only the standard library is used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

from llm_retry.testing._bodies import (
    anthropic_error_body,
    anthropic_message_body,
    encode_body,
    openai_completion_body,
    openai_error_body,
)

__all__ = ["Api", "RecordedRequest", "Reply", "Response", "api_for_path", "render_reply"]

Api = Literal["openai", "anthropic"]
"""The API dialect a request is answered in."""

_REASONS = {529: "Overloaded"}  # statuses http.HTTPStatus does not know


@dataclass(frozen=True)
class Reply:
    """One scripted answer of a [`FaultServer`][llm_retry.testing.FaultServer].

    Attributes:
        status: The HTTP status.
        headers: Extra response headers, e.g. `{"Retry-After": "2"}`; they override the
            automatic `Content-Type` and request id (`Content-Length` is always computed).
        body: The body to send instead of the automatic one: a dict (or any JSON value)
            is JSON-encoded, str/bytes are sent as is, None means automatic.
        content: The assistant text of an automatic success body.
        delay: Seconds to wait before answering (to provoke client timeouts).
        code: `error.code` of an automatic OpenAI error body (default per status).
        type: `error.type` of an automatic error body (default per status).
        message: `error.message` of an automatic error body (default per status).
        drop: Close the connection without any response, after the delay: the client
            sees a connection error.
        chunks: The pieces of content of a streamed answer (a request with
            `"stream": true` gets server-sent events); default: `content` split into words.
        error_after: In a streamed answer, send an error event after this many pieces of
            content instead of the rest (OpenAI: a `server_error`, Anthropic: an
            `overloaded_error`; `type`, `code` and `message` change it); 0 means before any.
        drop_after: In a streamed answer, close the connection after this many pieces of
            content, in the middle of the body.
        finish_reason: The finish reason of an automatic success body: OpenAI's
            `finish_reason` (default `"stop"`; `"length"` for a truncated answer), Anthropic's
            `stop_reason` (default `"end_turn"`; `"max_tokens"`).
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    body: object = field(default=None, hash=False)
    content: str | None = None
    delay: float = 0.0
    code: str | None = None
    type: str | None = None
    message: str | None = None
    drop: bool = False
    chunks: tuple[str, ...] | None = field(default=None, hash=False)
    error_after: int | None = None
    drop_after: int | None = None
    finish_reason: str | None = None

    def __post_init__(self) -> None:
        """Check the reply and take a private copy of the headers."""
        _check_stream_faults(self.error_after, self.drop_after)
        if self.chunks is not None:
            object.__setattr__(self, "chunks", tuple(self.chunks))
        if not 100 <= self.status <= 999:
            msg = f"status must be a 3-digit HTTP status, got {self.status!r}"
            raise ValueError(msg)
        if self.delay < 0:
            msg = f"delay must be >= 0, got {self.delay!r}"
            raise ValueError(msg)
        object.__setattr__(self, "headers", dict(self.headers))

    @classmethod
    def drop_connection(cls, *, delay: float = 0.0) -> Reply:
        """A reply that closes the connection without answering.

        Args:
            delay: Seconds to wait before closing.

        Returns:
            The reply.
        """
        return cls(drop=True, delay=delay)

    @classmethod
    def slow(cls, delay: float, status: int = 200) -> Reply:
        """A reply that answers only after `delay` seconds.

        Args:
            delay: Seconds to wait before answering.
            status: The HTTP status to answer with then.

        Returns:
            The reply.
        """
        return cls(status, delay=delay)

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> Reply:
        """A 429 reply, with a `Retry-After` header when `retry_after` is given.

        Args:
            retry_after: Seconds the client is told to wait.

        Returns:
            The reply.
        """
        if retry_after is None:
            return cls(429)
        seconds = int(retry_after) if float(retry_after).is_integer() else retry_after
        return cls(429, headers={"Retry-After": str(seconds)})


def _check_stream_faults(error_after: int | None, drop_after: int | None) -> None:
    """Reject negative or conflicting stream faults."""
    for name, value in (("error_after", error_after), ("drop_after", drop_after)):
        if value is not None and (isinstance(value, bool) or value < 0):
            msg = f"{name} must be a whole number >= 0, got {value!r}"
            raise ValueError(msg)
    if error_after is not None and drop_after is not None:
        msg = "give error_after or drop_after, not both"
        raise ValueError(msg)


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the [`FaultServer`][llm_retry.testing.FaultServer] received it.

    Attributes:
        method: The HTTP method, e.g. `"POST"`.
        path: The URL path without the query, e.g. `"/v1/chat/completions"`.
        headers: The request headers, names lower-cased (repeated ones joined by ", ").
        body: The body parsed as JSON, or None when empty or not JSON.
        at: The server's clock (`time.monotonic()` unless `clock=` was given) when the
            request arrived.
        reply: The reply the server answered with.
        query: The raw query string, without the `?` (often empty).
        raw_body: The body as received.
    """

    method: str
    path: str
    headers: dict[str, str] = field(hash=False)
    body: object = field(hash=False)
    at: float
    reply: Reply
    query: str = ""
    raw_body: bytes = b""


@dataclass(frozen=True)
class Response:
    """A rendered HTTP response, ready for the wire."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def api_for_path(path: str) -> Api:
    """The API dialect to answer a request for `path` in.

    Args:
        path: The request path, without the query.

    Returns:
        `"anthropic"` for paths ending in `/messages`, else `"openai"`.
    """
    return "anthropic" if path.rstrip("/").endswith("/messages") else "openai"


def _request_field(request: RecordedRequest, name: str) -> Any:
    """A top-level field of the request's JSON body, or None."""
    return request.body.get(name) if isinstance(request.body, dict) else None


def _success_body(request: RecordedRequest, api: Api, serial: int) -> dict[str, Any]:
    """The automatic body of a 2xx reply."""
    model = _request_field(request, "model")
    model = model if isinstance(model, str) else None
    prompt = _request_field(request, "messages")
    content = request.reply.content
    if api == "anthropic":
        body = anthropic_message_body(
            model=model, content=content, prompt=prompt, id=f"msg_fault{serial}"
        )
        body["stop_reason"] = request.reply.finish_reason or body["stop_reason"]
        return body
    body = openai_completion_body(
        model=model, content=content, prompt=prompt, id=f"chatcmpl-fault{serial}"
    )
    body["choices"][0]["finish_reason"] = request.reply.finish_reason or "stop"
    return body


def _error_body(reply: Reply, api: Api) -> dict[str, Any]:
    """The automatic body of an error reply."""
    if api == "anthropic":
        return anthropic_error_body(reply.status, type=reply.type, message=reply.message)
    return openai_error_body(reply.status, code=reply.code, type=reply.type, message=reply.message)


def _reply_body(request: RecordedRequest, api: Api, serial: int) -> object:
    """The body to send: the reply's own, or the automatic one for its status."""
    reply = request.reply
    if reply.body is not None:
        return reply.body
    if 200 <= reply.status < 300:
        return _success_body(request, api, serial)
    return _error_body(reply, api)


def allows_body(status: int) -> bool:
    """Whether HTTP allows a response with `status` to have a body."""
    return status >= 200 and status not in (204, 304)


def response_headers(
    reply: Reply, api: Api, serial: int, content_type: str | None
) -> list[tuple[str, str]]:
    """The reply's headers plus a content type and a request id, unless it sets them."""
    headers = list(reply.headers.items())
    present = {name.lower() for name, _ in headers}
    request_id_header = "request-id" if api == "anthropic" else "x-request-id"
    if request_id_header not in present:
        headers.append((request_id_header, f"req_fault{serial}"))
    if content_type is not None and "content-type" not in present:
        headers.append(("Content-Type", content_type))
    return [(name, value) for name, value in headers if name.lower() != "content-length"]


def render_reply(request: RecordedRequest, serial: int) -> Response:
    """Turn the reply a request got into an HTTP response.

    Args:
        request: The request, with the reply it got.
        serial: A number unique to this request in the server, used in ids.

    Returns:
        The status, headers (without `Content-Length`) and body to send.
    """
    reply = request.reply
    api = api_for_path(request.path)
    if not allows_body(reply.status):
        return Response(reply.status, response_headers(reply, api, serial, None), b"")
    content, content_type = encode_body(_reply_body(request, api, serial))
    return Response(reply.status, response_headers(reply, api, serial, content_type), content)


def reason_phrase(status: int) -> str:
    """The reason phrase of a status line."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _REASONS.get(status, "Unknown")


def parse_json(raw: bytes) -> object:
    """The JSON value of a body, or None when it is empty or not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def lower_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict with lower-cased names; repeated headers are joined by ", "."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
