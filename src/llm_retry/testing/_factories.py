"""SDK exceptions built without a network, from the payloads of `llm_retry.testing._bodies`.

Each factory wraps a realistic body in an HTTP response and lets the SDK itself pick the
exception class, exactly as it does for a real response. The SDKs are optional dependencies,
so they are imported inside the functions.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from llm_retry.testing._bodies import (
    ANTHROPIC_BASE_URL,
    ANTHROPIC_URL,
    DEFAULT_CONTENT,
    OPENAI_BASE_URL,
    OPENAI_URL,
    anthropic_error_body,
    anthropic_message_body,
    encode_body,
    openai_completion_body,
    openai_error_body,
)

if TYPE_CHECKING:
    import anthropic
    import openai

__all__ = [  # the payload builders are re-exported: this module was their home
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_URL",
    "DEFAULT_CONTENT",
    "OPENAI_BASE_URL",
    "OPENAI_URL",
    "anthropic_connection_error",
    "anthropic_error",
    "anthropic_error_body",
    "anthropic_message_body",
    "anthropic_timeout",
    "encode_body",
    "openai_completion_body",
    "openai_connection_error",
    "openai_error",
    "openai_error_body",
    "openai_timeout",
]


def _http_module(sdk: str) -> ModuleType:
    """The HTTP library (`httpx2` or `httpx`) the installed `sdk` is built on."""
    sdk_exceptions = importlib.import_module(f"{sdk}._exceptions")
    for name in ("httpx2", "httpx"):
        module = vars(sdk_exceptions).get(name)
        if isinstance(module, ModuleType):
            return module
    try:
        return importlib.import_module("httpx2")
    except ImportError:  # openai < 3 and the anthropic releases of its time
        return importlib.import_module("httpx")


def _error_response(
    sdk: str,
    url: str,
    status: int,
    body: object,
    headers: Mapping[str, str] | None,
) -> Any:
    """An HTTP response of the library `sdk` uses, as if `url` had answered `status`."""
    http = _http_module(sdk)
    content, content_type = encode_body(body)
    all_headers = {"content-type": content_type, **(headers or {})}
    request = http.Request("POST", url)
    return http.Response(status, headers=all_headers, content=content, request=request)


def _offline_http_client(sdk: str) -> Any:
    """An HTTP client that never touches the network (and is cheap to build)."""
    http = _http_module(sdk)

    def refuse(request: Any) -> Any:
        raise http.ConnectError("llm-retry factories are offline", request=request)

    return http.Client(transport=http.MockTransport(refuse), trust_env=False)


def _status_error(  # noqa: PLR0917 - a private helper with two call sites
    sdk: str,
    client_class: str,
    base_url: str,
    url: str,
    status: int,
    body: object,
    headers: Mapping[str, str] | None,
) -> Any:
    """The status error ``sdk`` raises for this response: the SDK itself picks the class."""
    response = _error_response(sdk, url, status, body, headers)
    client_type = getattr(importlib.import_module(sdk), client_class)
    with (
        _offline_http_client(sdk) as http_client,
        client_type(api_key="sk-test", base_url=base_url, http_client=http_client) as client,
    ):
        return client._make_status_error_from_response(response)


def openai_error(
    status: int,
    *,
    code: str | None = None,
    type: str | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: object = None,
) -> openai.APIStatusError:
    """Build the exception the OpenAI SDK raises for an error response.

    The SDK picks the class, so 429 gives a `RateLimitError` (with `.code`), 5xx an
    `InternalServerError`, and a status without a class of its own (e.g. 402) a bare
    `APIStatusError`.

    Args:
        status: The HTTP status.
        code: `error.code` of the body; defaults per status.
        type: `error.type` of the body; defaults per status.
        message: `error.message` of the body; defaults per status.
        headers: Response headers, e.g. `{"retry-after": "2"}`; visible on
            `exc.response.headers`.
        body: A body to send instead of the automatic one (dict -> JSON, str/bytes as is).

    Returns:
        The `openai.APIStatusError` (or subclass) the SDK would raise.
    """
    if body is None:
        body = openai_error_body(status, code=code, type=type, message=message)
    return _status_error("openai", "OpenAI", OPENAI_BASE_URL, OPENAI_URL, status, body, headers)  # type: ignore[no-any-return]


def anthropic_error(
    status: int,
    *,
    type: str | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: object = None,
) -> anthropic.APIStatusError:
    """Build the exception the Anthropic SDK raises for an error response.

    The SDK picks the class, so 529 gives an `OverloadedError` with
    `.type == "overloaded_error"`, 429 a `RateLimitError`, and so on; `.body` is the
    whole JSON body.

    Args:
        status: The HTTP status.
        type: `error.type` of the body; defaults per status.
        message: `error.message` of the body; defaults per status.
        headers: Response headers, e.g. `{"retry-after": "2"}`; visible on
            `exc.response.headers`.
        body: A body to send instead of the automatic one (dict -> JSON, str/bytes as is).

    Returns:
        The `anthropic.APIStatusError` (or subclass) the SDK would raise.
    """
    if body is None:
        body = anthropic_error_body(status, type=type, message=message)
    return _status_error(  # type: ignore[no-any-return]
        "anthropic", "Anthropic", ANTHROPIC_BASE_URL, ANTHROPIC_URL, status, body, headers
    )


def _transport_error(sdk: str, url: str, *, timeout: bool) -> Any:
    """The SDK's timeout or connection error for a POST to `url`, chained like the SDK's.

    The SDKs wrap the HTTP library's `ReadTimeout` or `ConnectError` (`raise ... from`).
    """
    module = importlib.import_module(sdk)
    http = _http_module(sdk)
    request = http.Request("POST", url)
    if timeout:
        error = module.APITimeoutError(request=request)
        cause = http.ReadTimeout("timed out", request=request)
    else:
        error = module.APIConnectionError(request=request)
        cause = http.ConnectError("[Errno 111] Connection refused", request=request)
    error.__cause__ = cause
    error.__suppress_context__ = True
    return error


def openai_timeout() -> openai.APITimeoutError:
    """The `openai.APITimeoutError` the SDK raises when a request times out."""
    return _transport_error("openai", OPENAI_URL, timeout=True)  # type: ignore[no-any-return]


def openai_connection_error() -> openai.APIConnectionError:
    """The `openai.APIConnectionError` the SDK raises when it cannot connect."""
    return _transport_error("openai", OPENAI_URL, timeout=False)  # type: ignore[no-any-return]


def anthropic_timeout() -> anthropic.APITimeoutError:
    """The `anthropic.APITimeoutError` the SDK raises when a request times out."""
    return _transport_error("anthropic", ANTHROPIC_URL, timeout=True)  # type: ignore[no-any-return]


def anthropic_connection_error() -> anthropic.APIConnectionError:
    """The `anthropic.APIConnectionError` the SDK raises when it cannot connect."""
    return _transport_error("anthropic", ANTHROPIC_URL, timeout=False)  # type: ignore[no-any-return]
