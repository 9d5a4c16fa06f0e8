"""Every decision is an event on the structlog logger ``llm_retry``.

Events are flat key/value records (the field table is in the docs), logged through structlog
once the program configures it, else through the standard library's ``logging`` (logger
``llm_retry``), and fed to the instrumentation hooks (`llm_retry.instrumentation`). Before
anything leaves this module, API keys and ``Authorization`` values are redacted from every
string it carries, exception messages included. Tests and users can capture events with
`llm_retry.testing.capture_events`, whatever structlog's configuration.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from .instrumentation import dispatch

__all__ = ["REDACTED", "emit", "redact", "secret_name", "subscribe"]

REDACTED = "***"
_NAMED = (  # names whose value is a secret, after ":" or "=" (headers, parameters, reprs)
    r"authorization|proxy-authorization|ocp-apim-subscription-key|subscription-key|x-api-key"
    r"|api[-_]?key|access[-_]token|refresh[-_]token|client[-_]secret|password|passwd"
)
_FIELDS = r"key|token|secret|auth|" + _NAMED  # also secret as a JSON field or a URL parameter
_SHAPES = (
    # key-shaped tokens: OpenAI/DeepSeek "sk-...", "sk-proj-...", Anthropic "sk-ant-...", Groq
    # "gsk_...", xAI "xai-...", Hugging Face "hf_...", Google "AIza..."
    (
        r"\b(?:sk-[A-Za-z0-9_\-]{6,}|gsk_[A-Za-z0-9]{10,}|xai-[A-Za-z0-9]{10,}"
        r"|hf_[A-Za-z0-9]{10,}|AIza[A-Za-z0-9_\-]{20,})"
    ),
    # header or parameter style: "Authorization: Bearer x", "x-api-key=x", "'api_key': 'x'",
    # escaped JSON '\\"api_key\\": \\"x\\"'
    rf"(?i)((?:{_NAMED})\\?[\"']?\s*[:=]\s*\\?[\"']?(?:bearer\s+|basic\s+)?)[^\s\"'\\,;&}}]+",
    # JSON or repr fields: '"key": "x"', "'token': 'x'", escaped '\\"token\\": \\"x\\"'
    rf"(?i)(\\?[\"'](?:{_FIELDS})\\?[\"']\s*:\s*\\?[\"'])[^\"'\\]+",
    # URL parameters, plain or percent-encoded: "?key=x", "&access_token=x", "api_key%3Dx"
    rf"(?i)((?:[?&;](?:{_FIELDS})=)|(?:\b(?:{_FIELDS})%3D))(?:[^&%\s\"'#<>]|%(?!26))+",
    # the password of a URL's user info: "http://user:secret@proxy:3128"
    r"(://[^/\s:@]*:)[^/\s@]+(?=@)",
    # "api key X" in prose, X a key-like word (8+ characters with a digit)
    r"(?i)(\bapi key(?:\s+provided)?:?\s+[\"']?)(?=[^\s\"',;.]*\d)[^\s\"',;]{8,}",
    r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=\-]+",
)
"""Secret shapes, each linear-time: every repetition takes one character at a time from choices
that do not overlap (a character class, at most with a one-character lookahead), so a long
hostile string is scanned, never backtracked into (tests time them on hostile inputs). They are
compiled on first use: a program whose calls never fail never pays for them."""

_subscribers: list[Callable[[dict[str, Any]], None]] = []


@functools.cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(shape) for shape in _SHAPES)


def _redact_text(text: str) -> str:
    tokens, *prefixed = _patterns()
    text = tokens.sub(REDACTED, text)
    for pattern in prefixed:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def secret_name(name: str) -> bool:
    """Whether a parameter called ``name`` (``api_key``, ``key``, ``token``) holds a secret."""
    return re.search(r"(?i)key|token|secret|password|passwd|auth|credential", name) is not None


def redact(value: Any) -> Any:
    """``value`` with secrets replaced by ``***`` in every string, at any depth."""
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, Mapping):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item) for item in value)
    return value


def subscribe(callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    """Call ``callback`` with every event dict; returns a function that unsubscribes."""
    _subscribers.append(callback)
    return lambda: _subscribers.remove(callback)


def emit(event: str, level: str = "info", **fields: Any) -> None:
    """Redact ``fields`` and log ``event`` on the ``llm_retry`` logger at ``level``."""
    clean = {key: redact(value) for key, value in fields.items() if value is not None}
    for callback in tuple(_subscribers):
        callback({"event": event, "log_level": level, **clean})
    dispatch({"event": event, "log_level": level, **clean})
    # A program that configured structlog has imported it: no import here on its behalf.
    structlog = sys.modules.get("structlog")
    if structlog is not None and structlog.is_configured():
        getattr(structlog.get_logger("llm_retry"), level)(event, **clean)
    else:  # no structlog pipeline of the program's own: the standard library's logging
        from .instrumentation._logging import log  # noqa: PLC0415 - only once an event is out

        log(event, level, clean)
