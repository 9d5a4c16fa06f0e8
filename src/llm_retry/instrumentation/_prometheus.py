"""Prometheus counters and a circuit state gauge, named ``llm_retry_*``.

The metrics of the default registry are created once per process (Prometheus refuses the same
name twice); a hook given its own registry gets its own metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ._measures import METRICS, measures

__all__ = ["PrometheusHook"]

_lock = threading.Lock()
_default: dict[str, Any] | None = None


def _create(registry: Any) -> dict[str, Any]:
    import prometheus_client  # noqa: PLC0415 - optional dependency

    made: dict[str, Any] = {}
    for key, metric in METRICS.items():
        kind = prometheus_client.Counter if metric.kind == "counter" else prometheus_client.Gauge
        options: dict[str, Any] = {"labelnames": metric.labels}
        if registry is not None:
            options["registry"] = registry
        made[key] = kind(f"llm_retry_{key}", metric.description, **options)
    return made


def _default_metrics() -> dict[str, Any]:
    global _default  # noqa: PLW0603 - one set of metrics per process and registry
    with _lock:
        if _default is None:
            _default = _create(None)
        return _default


class PrometheusHook:
    """Count llm-retry's events in Prometheus metrics.

    Args:
        registry: a ``prometheus_client.CollectorRegistry``; default: the global registry.

    Attributes:
        metrics: the metrics by key (``"attempts_failed"`` is ``llm_retry_attempts_failed_total``).
    """

    def __init__(self, registry: Any = None) -> None:
        self.metrics = _default_metrics() if registry is None else _create(registry)

    def __call__(self, record: Mapping[str, Any]) -> None:
        """Apply one event to the metrics."""
        for measure in measures(record):
            child = self.metrics[measure.metric].labels(**dict(measure.labels))
            if METRICS[measure.metric].kind == "gauge":
                child.set(measure.value)
            else:
                child.inc(measure.value)

    def __repr__(self) -> str:
        return "PrometheusHook()"
