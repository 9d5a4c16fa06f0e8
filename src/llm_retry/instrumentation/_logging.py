"""The standard library's ``logging``, for programs that never configured structlog.

structlog's defaults print to standard output, which no library should do uninvited. Until the
program configures structlog, llm-retry's events go to ``logging.getLogger("llm_retry")``
instead: one record per event, ``"EVENT key=value ..."``, with the event dict in
``record.llm_retry`` for handlers that want the fields.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["LOGGER", "log"]

LOGGER = logging.getLogger("llm_retry")
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in "='\"" for c in value):
        return value
    return repr(value)


def log(event: str, level: str, fields: Mapping[str, Any]) -> None:
    """Log ``event`` with ``fields`` on the ``llm_retry`` logger at ``level``."""
    levelno = _LEVELS.get(level, logging.INFO)
    if not LOGGER.isEnabledFor(levelno):
        return
    text = " ".join(f"{key}={_value(value)}" for key, value in fields.items())
    LOGGER.log(levelno, "%s %s", event, text, extra={"llm_retry": {"event": event, **fields}})
