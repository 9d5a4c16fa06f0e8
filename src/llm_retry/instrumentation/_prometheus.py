"""Prometheus counters and a circuit state gauge, named ``llm_retry_*``.

The metrics of the default registry are created once per process (Prometheus refuses the same
name twice); a hook given its own registry gets its own metrics. ``llm_retry_calls_total`` is
not moved by events: a collector reads the per-function call counters when it is scraped.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ._measures import METRICS, measures
from .calls import CALLS_DESCRIPTION, call_counts

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
    collector = CallsCollector()
    (prometheus_client.REGISTRY if registry is None else registry).register(collector)
    made["calls"] = collector
    return made


class CallsCollector:
    """``llm_retry_calls_total{callable, outcome}``, read from the call counters at scrape time."""

    def _family(self) -> Any:
        from prometheus_client.core import CounterMetricFamily  # noqa: PLC0415

        return CounterMetricFamily(
            "llm_retry_calls", CALLS_DESCRIPTION, labels=("callable", "outcome")
        )

    def describe(self) -> list[Any]:
        """The metric's name, without reading the counters."""
        return [self._family()]

    def collect(self) -> list[Any]:
        """The counts now."""
        family = self._family()
        for name, outcome, count in call_counts():
            family.add_metric((name, outcome), count)
        return [family]


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
        metrics: the metrics by key (``"attempts_failed"`` is ``llm_retry_attempts_failed_total``;
            ``"calls"`` is the collector of ``llm_retry_calls_total``).
    """

    def __init__(self, registry: Any = None) -> None:
        self.metrics = _default_metrics() if registry is None else _create(registry)
        self._children: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}

    def __call__(self, record: Mapping[str, Any]) -> None:
        """Apply one event to the metrics."""
        for measure in measures(record):
            where = (measure.metric, measure.labels)
            child = self._children.get(where)
            if child is None:  # prometheus_client keeps every child too: looked up once
                child = self._children[where] = self.metrics[measure.metric].labels(
                    **dict(measure.labels)
                )
            if METRICS[measure.metric].kind == "gauge":
                child.set(measure.value)
            else:
                child.inc(measure.value)

    def __repr__(self) -> str:
        return "PrometheusHook()"
