"""Metrics and traces from llm-retry's events, with the backends found installed.

Like stamina's instrumentation: the first time llm-retry emits an event, it looks for
``prometheus_client`` (Prometheus counters ``llm_retry_*`` in the default registry) and
``opentelemetry`` (counters on the meter ``llm_retry`` and events on the current span) and
feeds every event to them. Install them with the ``prometheus`` and ``otel`` extras.

`set_hooks` replaces that choice: your own hooks (any callable taking the event dict), the
built-in ones with other arguments (``PrometheusHook(registry)``), or none at all::

    from llm_retry.instrumentation import PrometheusHook, set_hooks

    set_hooks([PrometheusHook(my_registry)])
    set_hooks([])       # no metrics
    set_hooks(None)     # back to the auto-detected hooks

Besides the events: ``llm_retry_calls_total`` counts calls by outcome (`OUTCOMES`, read from
`call_counts` when a backend collects), and a hook with an ``attempt`` method gets an `Attempt`
for each attempt of a retried call (`OpenTelemetryHook` draws a span from it).

A hook that raises is reported once on the ``llm_retry`` logger and never breaks a call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from .calls import OUTCOMES, call_counts

if TYPE_CHECKING:
    from ._otel import OpenTelemetryHook
    from ._prometheus import PrometheusHook
    from .attempts import Attempt

__all__ = [
    "OUTCOMES",
    "Attempt",
    "Hook",
    "OpenTelemetryHook",
    "PrometheusHook",
    "call_counts",
    "default_hooks",
    "dispatch",
    "get_hooks",
    "set_hooks",
]

Hook = Callable[[Mapping[str, Any]], None]
"""Called with every event dict: ``{"event": ..., "log_level": ..., **fields}``."""

_lock = threading.Lock()
_hooks: tuple[Hook, ...] | None = None  # None: not chosen yet (auto-detect on first event)
_broken: set[int] = set()


def _hook_class(name: str) -> Any:
    """The hook classes and `Attempt`, imported only when asked for (backends are optional)."""
    if name == "Attempt":
        from .attempts import Attempt  # noqa: PLC0415

        return Attempt
    if name == "PrometheusHook":
        from ._prometheus import PrometheusHook  # noqa: PLC0415

        return PrometheusHook
    if name == "OpenTelemetryHook":
        from ._otel import OpenTelemetryHook  # noqa: PLC0415

        return OpenTelemetryHook
    raise AttributeError(f"module 'llm_retry.instrumentation' has no attribute {name!r}")


if not TYPE_CHECKING:  # for type checkers the classes are the imports above; typos stay errors
    __getattr__ = _hook_class


def default_hooks() -> tuple[Hook, ...]:
    """A hook for each backend that is installed: Prometheus, then OpenTelemetry."""
    hooks: list[Hook] = []
    if find_spec("prometheus_client") is not None:
        hooks.append(_hook_class("PrometheusHook")())
    if find_spec("opentelemetry") is not None and find_spec("opentelemetry.metrics") is not None:
        hooks.append(_hook_class("OpenTelemetryHook")())
    return tuple(hooks)


def set_hooks(hooks: Iterable[Hook] | None) -> None:
    """Use ``hooks`` for every later event; ``None`` goes back to the auto-detected ones."""
    global _hooks  # noqa: PLW0603 - one process-wide choice, like stamina's
    with _lock:
        _hooks = None if hooks is None else tuple(hooks)
        _broken.clear()


def get_hooks() -> tuple[Hook, ...]:
    """The hooks in use, detecting the default ones on first use."""
    global _hooks  # noqa: PLW0603 - chosen once, on first use
    hooks = _hooks
    if hooks is None:
        with _lock:
            if _hooks is None:
                _hooks = default_hooks()
            hooks = _hooks
    return hooks


def dispatch(record: Mapping[str, Any]) -> None:
    """Feed one event to every hook; a failing hook is reported once, never raised."""
    for hook in get_hooks():
        try:
            hook(record)
        except Exception:  # noqa: BLE001 - metrics must never break a call
            report_failure(hook)


def report_failure(hook: object) -> None:
    """Log, once per hook, that ``hook`` raised (call it from an ``except`` block)."""
    key = id(getattr(hook, "__self__", hook))
    if key not in _broken:
        _broken.add(key)
        from ._logging import LOGGER  # noqa: PLC0415

        LOGGER.warning("llm-retry instrumentation hook %r failed", hook, exc_info=True)
