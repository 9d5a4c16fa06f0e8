"""Realistic OpenAI / Anthropic payloads: the single source of the wire format.

The [`FaultServer`][llm_retry.testing.FaultServer] sends these bodies over HTTP, and the
exception factories (`llm_retry.testing._factories`) wrap them in an HTTP response.
"""

from __future__ import annotations

import json
import time
from typing import Any

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_URL = f"{OPENAI_BASE_URL}/chat/completions"
"""The URL the fake requests of the OpenAI factories claim to have been sent to."""

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_URL = f"{ANTHROPIC_BASE_URL}/v1/messages"
"""The URL the fake requests of the Anthropic factories claim to have been sent to."""

DEFAULT_CONTENT = "Hello from llm-retry's FaultServer."
"""The assistant text of automatic success bodies."""

_OPENAI_MODEL = "gpt-4o-mini"
_ANTHROPIC_MODEL = "claude-haiku-4-5"

# status -> (type, code, message), as the OpenAI API (or a compatible one) sends them.
_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided: sk-test. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    402: ("unknown_error", "invalid_request_error", "Insufficient Balance"),
    403: ("invalid_request_error", "permission_denied", "You are not allowed to do this."),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    408: ("timeout", None, "Request timed out."),
    409: ("invalid_request_error", "conflict", "The request conflicts with another request."),
    413: ("invalid_request_error", None, "The request is too large."),
    422: ("invalid_request_error", None, "The request could not be processed."),
    429: (
        "rate_limit_error",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again in 20s.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
    504: ("server_error", None, "Gateway timeout."),
}

# status -> (type, message), from https://docs.anthropic.com/en/api/errors
_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "There was an issue with the format of your request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


def _openai_defaults(status: int) -> tuple[str, str | None, str]:
    """The (type, code, message) OpenAI would send for `status`."""
    if status in _OPENAI_ERRORS:
        return _OPENAI_ERRORS[status]
    if status >= 500:
        return ("server_error", None, f"The server returned status {status}.")
    return ("invalid_request_error", None, f"The request failed with status {status}.")


def _anthropic_defaults(status: int) -> tuple[str, str]:
    """The (type, message) Anthropic would send for `status`."""
    if status in _ANTHROPIC_ERRORS:
        return _ANTHROPIC_ERRORS[status]
    if status >= 500:
        return ("api_error", f"The server returned status {status}.")
    return ("invalid_request_error", f"The request failed with status {status}.")


def openai_error_body(
    status: int,
    *,
    code: str | None = None,
    type: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Build the JSON body of an OpenAI error response.

    Args:
        status: The HTTP status the body goes with; picks the defaults.
        code: `error.code`; defaults per status (429 -> `"rate_limit_exceeded"`).
        type: `error.type`; defaults per status (429 -> `"rate_limit_error"`).
        message: `error.message`; defaults per status (402 -> `"Insufficient Balance"`).

    Returns:
        `{"error": {"message": ..., "type": ..., "param": None, "code": ...}}`.
    """
    default_type, default_code, default_message = _openai_defaults(status)
    return {
        "error": {
            "message": default_message if message is None else message,
            "type": default_type if type is None else type,
            "param": None,
            "code": default_code if code is None else code,
        }
    }


def anthropic_error_body(
    status: int,
    *,
    type: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Build the JSON body of an Anthropic error response.

    Args:
        status: The HTTP status the body goes with; picks the defaults.
        type: `error.type`; defaults per status (529 -> `"overloaded_error"`,
            429 -> `"rate_limit_error"`, 402 -> `"billing_error"`, 500 -> `"api_error"`).
        message: `error.message`; defaults per status.

    Returns:
        `{"type": "error", "error": {"type": ..., "message": ...}}`.
    """
    default_type, default_message = _anthropic_defaults(status)
    return {
        "type": "error",
        "error": {
            "type": default_type if type is None else type,
            "message": default_message if message is None else message,
        },
    }


def _estimate_tokens(value: object) -> int:
    """A deterministic stand-in for a tokenizer: about four characters a token."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return max(1, len(text) // 4)


def openai_completion_body(
    *,
    model: str | None = None,
    content: str | None = None,
    prompt: object = None,
    id: str = "chatcmpl-fault0",
) -> dict[str, Any]:
    """Build the JSON body of a successful OpenAI chat completion.

    Args:
        model: The model to report; defaults to a small OpenAI model.
        content: The assistant's text; defaults to `DEFAULT_CONTENT`.
        prompt: The request's messages, used only to estimate `usage.prompt_tokens`.
        id: The completion id.

    Returns:
        A `ChatCompletion` as JSON.
    """
    text = DEFAULT_CONTENT if content is None else content
    prompt_tokens = _estimate_tokens(prompt or "")
    completion_tokens = _estimate_tokens(text)
    return {
        "id": id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or _OPENAI_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": None,
    }


def anthropic_message_body(
    *,
    model: str | None = None,
    content: str | None = None,
    prompt: object = None,
    id: str = "msg_fault0",
) -> dict[str, Any]:
    """Build the JSON body of a successful Anthropic Messages API response.

    Args:
        model: The model to report; defaults to a Claude model.
        content: The assistant's text; defaults to `DEFAULT_CONTENT`.
        prompt: The request's messages, used only to estimate `usage.input_tokens`.
        id: The message id.

    Returns:
        A `Message` as JSON.
    """
    text = DEFAULT_CONTENT if content is None else content
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model or _ANTHROPIC_MODEL,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": _estimate_tokens(prompt or ""),
            "output_tokens": _estimate_tokens(text),
        },
    }


def encode_body(body: object) -> tuple[bytes, str]:
    """Encode a reply body for the wire.

    Args:
        body: A str or bytes (sent as is) or anything else (JSON-encoded).

    Returns:
        The bytes and the content type they should be sent with: JSON when the bytes
        parse as JSON, plain text otherwise.
    """
    if isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
    elif isinstance(body, str):
        data = body.encode()
    else:
        return json.dumps(body).encode(), "application/json"
    try:
        json.loads(data)
    except ValueError:
        return data, "text/plain; charset=utf-8"
    return data, "application/json"
