"""Every decision is an event on the structlog logger ``llm_retry``.

Events are flat key/value records (the field table is in the docs), logged through structlog
once the program configures it, else through the standard library's ``logging`` (logger
``llm_retry``), and fed to the instrumentation hooks (`llm_retry.instrumentation`). Before
anything leaves this module, API keys and ``Authorization`` values are redacted from every
string it carries, exception messages included. Tests and users can capture events with
`llm_retry.testing.capture_events`, whatever structlog's configuration.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from .instrumentation import dispatch

__all__ = ["REDACTED", "emit", "redact", "subscribe"]

REDACTED = "***"
_PATTERNS = (
    # key-looking tokens: OpenAI/DeepSeek "sk-...", Anthropic "sk-ant-...", "sk-proj-..."
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    # header or parameter style: "Authorization: Bearer x", "x-api-key=x", "'api_key': 'x'"
    re.compile(
        r"(?i)((?:authorization|proxy-authorization|x-api-key|api[-_]?key)[\"']?\s*[:=]\s*[\"']?"
        r"(?:bearer\s+|basic\s+)?)[^\s\"',}]+"
    ),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=\-]+"),
)

_subscribers: list[Callable[[dict[str, Any]], None]] = []


def _redact_text(text: str) -> str:
    text = _PATTERNS[0].sub(REDACTED, text)
    for pattern in _PATTERNS[1:]:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


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
