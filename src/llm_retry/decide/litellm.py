"""Read a LiteLLM exception as the provider's own error: real status, headers and body.

LiteLLM maps every provider failure onto its own classes (subclasses of the openai ones), and
the mapping loses what the policy needs:

- ``status_code`` is fixed per class: Anthropic's 529 becomes an ``InternalServerError`` with 500
  (newer versions keep the real one in ``provider_status_code``);
- ``response`` is a stand-in with the status and no headers; the real headers are in
  ``litellm_response_headers``;
- ``body`` is only kept for some classes, and ``code``/``type`` are LiteLLM's own (``"429"``,
  ``"throttling_error"``), not the provider's ``insufficient_quota`` or spend-limit code.

The provider's original failure (LiteLLM's ``BaseLLMException``, with the real ``status_code``,
``headers`` and the body text as ``message``) is the exception's ``__context__``. This module
reads from there first, then the fields LiteLLM kept, then the body quoted in the message. No
LiteLLM module is imported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LitellmView", "chain", "is_litellm", "litellm_view"]

_MAX_MESSAGE = 64 * 1024
_MAX_CONTEXT_DEPTH = 5


@dataclass(frozen=True, slots=True)
class LitellmView:
    """What a LiteLLM exception says once unwrapped.

    Attributes:
        status: the provider's HTTP status (529, not LiteLLM's 500), or ``None``.
        body: the provider's error body (a JSON object), or ``None``.
        headers: the provider's response headers, or ``None``.
    """

    status: int | None
    body: Mapping[str, Any] | None
    headers: Mapping[str, str] | None


def is_litellm(exc: BaseException) -> bool:
    """Whether ``exc`` is one of LiteLLM's exception classes (or a subclass defined there)."""
    return type(exc).__module__.partition(".")[0] == "litellm"


def _int_status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    return None


def chain(exc: BaseException) -> tuple[BaseException, ...]:
    """The failures behind ``exc`` (``__cause__``, else ``__context__``), nearest first."""
    found: list[BaseException] = []
    error = exc.__cause__ or exc.__context__
    while error is not None and len(found) < _MAX_CONTEXT_DEPTH:
        found.append(error)
        error = error.__cause__ or error.__context__
    return tuple(found)


def _original(exc: BaseException) -> BaseException | None:
    """The provider failure LiteLLM mapped: the nearest one behind it with a status."""
    return next(
        (e for e in chain(exc) if _int_status(getattr(e, "status_code", None)) is not None), None
    )


def _json_in(text: object) -> Mapping[str, Any] | None:
    """The JSON object quoted in a message such as ``AnthropicException - {"type": ...}``."""
    if not isinstance(text, str) or len(text) > _MAX_MESSAGE:
        return None
    start = text.find("{")
    if start < 0:
        return None
    try:
        found, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    return found if isinstance(found, Mapping) else None


def _headers(*sources: object) -> Mapping[str, str] | None:
    for headers in sources:
        if isinstance(headers, Mapping) and headers:
            return headers
    return None


def litellm_view(exc: BaseException) -> LitellmView:
    """The provider's status, body and headers behind LiteLLM exception ``exc``."""
    original = _original(exc)
    status = (
        _int_status(getattr(exc, "provider_status_code", None))
        or _int_status(getattr(original, "status_code", None))
        or _int_status(getattr(exc, "status_code", None))
    )
    body: Any = getattr(exc, "body", None)
    if not isinstance(body, Mapping):
        body = getattr(original, "body", None)
    if not isinstance(body, Mapping):
        body = _json_in(getattr(original, "message", None)) or _json_in(str(exc))
    headers = _headers(
        getattr(exc, "litellm_response_headers", None),
        getattr(original, "headers", None),
        getattr(getattr(original, "response", None), "headers", None),
    )
    return LitellmView(status, body if isinstance(body, Mapping) else None, headers)
