"""The SDK exception factories of llm_retry.testing, checked against the real SDKs."""

from __future__ import annotations

import anthropic
import openai
import pytest

from llm_retry.testing import (
    FaultServer,
    Reply,
    anthropic_connection_error,
    anthropic_error,
    anthropic_timeout,
    openai_connection_error,
    openai_error,
    openai_timeout,
)
from llm_retry.testing._factories import (
    anthropic_error_body,
    encode_body,
    openai_error_body,
)

# --- OpenAI ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (402, openai.APIStatusError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (409, openai.ConflictError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_openai_error_class_follows_status(
    status: int, error_class: type[openai.APIStatusError]
) -> None:
    """The OpenAI SDK itself picks the exception class for each status."""
    error = openai_error(status)
    assert type(error) is error_class
    assert error.status_code == status
    assert error.response.status_code == status
    assert error.request.method == "POST"
    assert str(error.request.url) == "https://api.openai.com/v1/chat/completions"


def test_openai_rate_limit_defaults() -> None:
    """A 429 carries the rate-limit code and type, and its message in str()."""
    error = openai_error(429)
    assert isinstance(error, openai.RateLimitError)
    assert error.code == "rate_limit_exceeded"
    assert error.type == "rate_limit_error"
    assert str(error).startswith("Error code: 429 - ")  # the rest differs across SDK majors
    assert "Rate limit reached" in str(error)


def test_openai_402_is_bare_status_error() -> None:
    """A 402 (no class of its own) is a bare APIStatusError saying "Insufficient Balance"."""
    error = openai_error(402)
    assert type(error) is openai.APIStatusError
    assert error.message.startswith("Error code: 402 - ")
    assert "Insufficient Balance" in error.message


def test_openai_error_fields_and_headers() -> None:
    """code, type, message and headers all reach the exception."""
    error = openai_error(
        429,
        code="insufficient_quota",
        type="insufficient_quota",
        message="You exceeded your current quota.",
        headers={"retry-after": "7", "x-request-id": "req_123"},
    )
    assert error.code == "insufficient_quota"
    assert error.type == "insufficient_quota"
    assert error.body == {
        "message": "You exceeded your current quota.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
    assert error.response.headers["retry-after"] == "7"
    assert error.response.headers["content-type"] == "application/json"
    assert error.request_id == "req_123"


def test_openai_error_with_explicit_body() -> None:
    """An explicit non-JSON body ends up as the exception's raw body."""
    error = openai_error(502, body="<html>Bad Gateway</html>")
    assert isinstance(error, openai.InternalServerError)
    assert error.body == "<html>Bad Gateway</html>"
    assert error.code is None


def test_openai_timeout_and_connection_error() -> None:
    """The transport errors are the SDK's classes, chained like the SDK chains them."""
    timeout = openai_timeout()
    assert type(timeout) is openai.APITimeoutError
    assert isinstance(timeout, openai.APIConnectionError)
    assert type(timeout.__cause__).__name__ == "ReadTimeout"
    assert timeout.__suppress_context__
    connection = openai_connection_error()
    assert type(connection) is openai.APIConnectionError
    assert type(connection.__cause__).__name__ == "ConnectError"
    assert connection.request.url.host == "api.openai.com"


# --- Anthropic ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_error_class_follows_status(
    status: int, error_class: type[anthropic.APIStatusError], error_type: str
) -> None:
    """The Anthropic SDK itself picks the exception class and type for each status."""
    error = anthropic_error(status)
    assert isinstance(error, error_class)
    assert error.status_code == status
    assert error.type == error_type
    assert str(error.request.url) == "https://api.anthropic.com/v1/messages"


def test_anthropic_overloaded_has_whole_body() -> None:
    """A 529 is an OverloadedError whose .body is the whole JSON error."""
    error = anthropic_error(529, headers={"retry-after": "4"})
    assert isinstance(error, anthropic.OverloadedError)
    assert error.type == "overloaded_error"
    assert error.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert error.response.headers["retry-after"] == "4"


def test_anthropic_402_is_billing_error() -> None:
    """A 402 carries the billing_error type."""
    error = anthropic_error(402)
    assert error.status_code == 402
    assert error.type == "billing_error"


def test_anthropic_error_fields() -> None:
    """type and message reach the exception's body."""
    error = anthropic_error(400, type="invalid_request_error", message="prompt is too long")
    assert error.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long"},
    }
    assert "prompt is too long" in str(error)


def test_anthropic_timeout_and_connection_error() -> None:
    """The transport errors are the SDK's classes, chained like the SDK chains them."""
    timeout = anthropic_timeout()
    assert type(timeout) is anthropic.APITimeoutError
    assert isinstance(timeout, anthropic.APIConnectionError)
    assert type(timeout.__cause__).__name__ == "ReadTimeout"
    connection = anthropic_connection_error()
    assert type(connection) is anthropic.APIConnectionError
    assert type(connection.__cause__).__name__ == "ConnectError"
    assert connection.request.url.host == "api.anthropic.com"


# --- bodies shared with the server -------------------------------------------------


def test_error_body_defaults_for_unlisted_statuses() -> None:
    """Statuses without a table entry get generic client or server error defaults."""
    assert openai_error_body(418)["error"]["type"] == "invalid_request_error"
    assert openai_error_body(599)["error"]["type"] == "server_error"
    assert anthropic_error_body(418)["error"]["type"] == "invalid_request_error"
    assert anthropic_error_body(599)["error"]["type"] == "api_error"


def test_encode_body_content_types() -> None:
    """JSON values and JSON text are sent as JSON, other text as plain text."""
    assert encode_body({"a": 1}) == (b'{"a": 1}', "application/json")
    assert encode_body('{"a": 1}') == (b'{"a": 1}', "application/json")
    assert encode_body(b"oops") == (b"oops", "text/plain; charset=utf-8")


@pytest.mark.parametrize("status", [402, 429, 500, 503])
def test_openai_factory_matches_server(status: int) -> None:
    """openai_error(status) equals what the SDK raises for the server's reply."""
    with (
        FaultServer() as server,
        openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client,
    ):
        server.script(Reply(status))
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="m", messages=[])
    made = openai_error(status)
    assert type(made) is type(caught.value)
    assert made.body == caught.value.body
    assert made.message == caught.value.message


@pytest.mark.parametrize("status", [402, 429, 500, 529])
def test_anthropic_factory_matches_server(status: int) -> None:
    """anthropic_error(status) equals what the SDK raises for the server's reply."""
    with (
        FaultServer() as server,
        anthropic.Anthropic(base_url=server.root_url, api_key="sk-test", max_retries=0) as client,
    ):
        server.script(Reply(status))
        with pytest.raises(anthropic.APIStatusError) as caught:
            client.messages.create(model="m", max_tokens=1, messages=[])
    made = anthropic_error(status)
    assert type(made) is type(caught.value)
    assert made.body == caught.value.body
    assert made.type == caught.value.type
