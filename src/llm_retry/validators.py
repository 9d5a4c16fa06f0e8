"""Ready-made ``validate=`` checks for "bad 200s": successful responses that are unusable.

A check takes what the decorated function returned and answers ``None`` (fine) or a reason,
``"KIND: detail"``; the kind picks the policy's ``results`` rule (``empty``, ``truncated``,
``unparseable``; anything else uses ``invalid``)::

    from llm_retry import llm_retry
    from llm_retry.validators import json_mode

    @llm_retry(preset="deepseek", validate=json_mode)
    def extract(text: str) -> ChatCompletion:
        return client.chat.completions.create(..., response_format={"type": "json_object"})

They understand openai ``ChatCompletion`` objects (and DeepSeek's, through the openai SDK),
anthropic ``Message`` objects, the same as JSON dicts, and plain strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "Validator",
    "all_of",
    "content_of",
    "finish_reason_of",
    "json_mode",
    "not_empty",
    "not_truncated",
    "parses",
]

Validator = Callable[[Any], "str | None"]
"""A check of a result: ``None`` when it is fine, else ``"KIND: detail"``."""

_TRUNCATED = {"length": "finish_reason", "max_tokens": "stop_reason"}


def _get(value: object, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _first_choice(response: object) -> Any:
    choices = _get(response, "choices")
    if isinstance(choices, Sequence) and choices:
        return choices[0]
    return None


def content_of(response: object) -> str:
    """The text of a response: a string itself, openai's first choice, anthropic's text blocks.

    Raises:
        TypeError: for a response this does not know; write a check for your own type.
    """
    if isinstance(response, str):
        return response
    choice = _first_choice(response)
    if choice is not None:
        return str(_get(_get(choice, "message"), "content") or "")
    blocks = _get(response, "content")
    if isinstance(blocks, str):
        return blocks
    if isinstance(blocks, Sequence):
        return "".join(str(_get(b, "text") or "") for b in blocks if _get(b, "type") == "text")
    raise TypeError(
        f"cannot find the text of a {type(response).__name__}: "
        "pass validate= a function that checks it"
    )


def finish_reason_of(response: object) -> str | None:
    """openai's ``finish_reason`` of the first choice, or anthropic's ``stop_reason``."""
    choice = _first_choice(response)
    reason = _get(choice, "finish_reason") if choice is not None else _get(response, "stop_reason")
    return reason if isinstance(reason, str) else None


def not_empty(response: object) -> str | None:
    """Reject a response with no text: JSON mode "may return empty content"."""
    if content_of(response).strip():
        return None
    return (
        "empty: the response has no content (JSON mode can return none; say 'json' in the prompt)"
    )


def not_truncated(response: object) -> str | None:
    """Reject a response cut off at ``max_tokens`` (``finish_reason == "length"``)."""
    reason = finish_reason_of(response)
    if reason not in _TRUNCATED:
        return None
    return (
        f"truncated: {_TRUNCATED[reason]} is {reason!r}: the output hit max_tokens; "
        "raise max_tokens so the answer fits"
    )


def parses(
    parser: Callable[[str], object] = json.loads, *, content: Callable[[Any], str] = content_of
) -> Validator:
    """A check that the response's text parses with ``parser`` (``json.loads`` by default).

    Args:
        parser: raises on text it cannot parse (a pydantic model's ``model_validate_json``
            works too).
        content: how to get the text from the response.
    """

    def check(response: object) -> str | None:
        try:
            parser(content(response))
        except Exception as exc:  # noqa: BLE001 - any parser error is a reason to retry
            return f"unparseable: {type(exc).__name__}: {exc}"[:300]
        return None

    check.__name__ = f"parses_{getattr(parser, '__name__', 'text')}"
    return check


def all_of(*checks: Validator) -> Validator:
    """A check that runs ``checks`` in order and answers with the first reason."""

    def check(response: object) -> str | None:
        for one in checks:
            reason = one(response)
            if reason is not None:
                return reason
        return None

    return check


json_mode = all_of(not_truncated, not_empty, parses(json.loads))
"""JSON mode's check: not cut off at ``max_tokens``, not empty, and valid JSON."""
