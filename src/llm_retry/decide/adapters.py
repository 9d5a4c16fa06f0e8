"""Read what a failure says: status, headers, provider error codes, transport kind.

One function, `error_info`, understands the exceptions of the openai SDK (1.x to 3.x), the
anthropic SDK (0.x to 2.x), httpx and httpx2 (``HTTPStatusError`` and transport errors), requests
(``HTTPError`` and friends), aiohttp, the standard library, and any exception that carries a
``status_code`` or a ``response``. No SDK is imported: a class is looked up only in modules the
program has already imported, so an SDK that is not installed costs nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .marks import attr

__all__ = ["ErrorInfo", "error_info"]

_MAX_BODY_BYTES = 64 * 1024
_MAX_CAUSE_DEPTH = 3

# (module, class name) pairs; checked in order, timeouts before the connection errors they
# subclass (openai's APITimeoutError is an APIConnectionError).
_TIMEOUTS = (
    ("builtins", "TimeoutError"),
    ("asyncio", "TimeoutError"),
    ("concurrent.futures", "TimeoutError"),
    ("openai", "APITimeoutError"),
    ("anthropic", "APITimeoutError"),
    ("httpx", "TimeoutException"),
    ("httpx2", "TimeoutException"),
    ("requests.exceptions", "Timeout"),
    ("aiohttp", "ServerTimeoutError"),
)
_CONNECTION_ERRORS = (
    ("builtins", "ConnectionError"),
    ("openai", "APIConnectionError"),
    ("anthropic", "APIConnectionError"),
    ("httpx", "NetworkError"),
    ("httpx", "RemoteProtocolError"),
    ("httpx", "ProxyError"),
    ("httpx2", "NetworkError"),
    ("httpx2", "RemoteProtocolError"),
    ("httpx2", "ProxyError"),
    ("requests.exceptions", "ConnectionError"),
    ("requests.exceptions", "ChunkedEncodingError"),
    ("aiohttp", "ClientConnectionError"),
    ("aiohttp", "ServerDisconnectedError"),
)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What one failure says about itself.

    Attributes:
        status: the HTTP status, or ``None`` for a failure without a response.
        codes: provider error codes and types, most specific first (anthropic's ``error_code``,
            then ``code``, then ``type``).
        headers: the response headers, if there was a response.
        transport: ``"timeout"``, ``"connection"`` or ``None``.
        request_id: the provider's request id, if the exception carries one.
    """

    status: int | None = None
    codes: tuple[str, ...] = ()
    headers: Mapping[str, str] | None = None
    transport: str | None = None
    request_id: str | None = None

    @property
    def code(self) -> str | None:
        """The most specific provider code, if any."""
        return self.codes[0] if self.codes else None


def _loaded_classes(specs: tuple[tuple[str, str], ...]) -> Iterator[type]:
    for module_name, name in specs:
        module = sys.modules.get(module_name)
        cls = attr(module, name) if module is not None else None
        if isinstance(cls, type):
            yield cls


def transport_kind(exc: BaseException) -> str | None:
    """``"timeout"`` or ``"connection"`` for transport failures of any known library."""
    if any(isinstance(exc, cls) for cls in _loaded_classes(_TIMEOUTS)):
        return "timeout"
    if any(isinstance(exc, cls) for cls in _loaded_classes(_CONNECTION_ERRORS)):
        return "connection"
    return None


def _int_status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    return None


def _status(exc: BaseException, response: object) -> int | None:
    for value in (
        attr(exc, "status_code"),
        attr(response, "status_code"),
        attr(exc, "status"),  # aiohttp.ClientResponseError
    ):
        status = _int_status(value)
        if status is not None:
            return status
    return None


def _response_json(response: object) -> object:
    """The response body as JSON, when it is small, already read and JSON; else ``None``."""
    if attr(response, "_content") is False:  # requests with stream=True: not read yet
        return None
    content = attr(response, "content")  # httpx raises ResponseNotRead for a streamed body
    if not isinstance(content, (bytes, bytearray)) or len(content) > _MAX_BODY_BYTES:
        return None
    try:
        return response.json()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - any unreadable body just has no codes
        return None


def _body_error(body: object) -> Mapping[str, Any]:
    """The error object of a body: the whole JSON's ``error`` (anthropic, raw HTTP) or itself."""
    if not isinstance(body, Mapping):
        return {}
    inner = body.get("error")
    return inner if isinstance(inner, Mapping) else body


def _codes(exc: BaseException, response: object) -> tuple[str, ...]:
    """Provider codes, most specific first: ``error_code``, then ``code``, then ``type``.

    Each is read from the exception's attributes and from its error body, so older SDKs that
    do not parse ``error.details.error_code`` into an attribute are read the same way.
    """
    body = attr(exc, "body")
    if body is None and response is not None:
        body = _response_json(response)
    error = _body_error(body)
    details = error.get("details")
    candidates = (
        attr(exc, "error_code"),
        details.get("error_code") if isinstance(details, Mapping) else None,
        attr(exc, "code"),
        error.get("code"),
        attr(exc, "type"),
        error.get("type"),
    )
    seen: dict[str, None] = {}
    for code in candidates:
        if isinstance(code, str) and code and code != "error":
            seen.setdefault(code, None)
    return tuple(seen)


def _headers(exc: BaseException, response: object) -> Mapping[str, str] | None:
    headers: Any = attr(response, "headers")
    if headers is None:
        headers = attr(exc, "headers")
    return headers if isinstance(headers, Mapping) else None


def _one(exc: BaseException) -> ErrorInfo:
    response = attr(exc, "response")
    request_id = attr(exc, "request_id")
    return ErrorInfo(
        status=_status(exc, response),
        codes=_codes(exc, response),
        headers=_headers(exc, response),
        transport=transport_kind(exc),
        request_id=request_id if isinstance(request_id, str) else None,
    )


def _one_safely(exc: BaseException) -> ErrorInfo:
    """`_one`, or only the transport kind when reading the exception raises (a hostile body)."""
    try:
        return _one(exc)
    except Exception:  # noqa: BLE001 - the user's exception must come out as itself
        return ErrorInfo(transport=transport_kind(exc))


def error_info(exc: BaseException) -> ErrorInfo:
    """What ``exc`` says, following ``__cause__`` when it says nothing itself.

    An application that wraps SDK errors (``raise MyError(...) from e``) is classified by the
    SDK error it wraps.
    """
    info = _one_safely(exc)
    cause = exc.__cause__
    depth = 0
    while (
        info.status is None
        and info.transport is None
        and not info.codes
        and cause is not None
        and depth < _MAX_CAUSE_DEPTH
    ):
        info = _one_safely(cause)
        cause = cause.__cause__
        depth += 1
    return info
