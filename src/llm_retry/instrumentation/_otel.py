"""OpenTelemetry: counters on the meter ``llm_retry``, and each event on the current span.

Without an OpenTelemetry SDK configured, the API's no-op meter and tracer make this free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._measures import METRICS, measures

__all__ = ["OpenTelemetryHook"]

_SCALARS = (str, bool, int, float)


def _instruments(meter: Any) -> dict[str, Any]:
    made: dict[str, Any] = {}
    for key, metric in METRICS.items():
        name = f"llm_retry.{key}"
        if metric.kind == "counter":
            made[key] = meter.create_counter(name, unit=metric.unit, description=metric.description)
        elif hasattr(meter, "create_gauge"):  # opentelemetry-api >= 1.23
            made[key] = meter.create_gauge(name, description=metric.description)
    return made


class OpenTelemetryHook:
    """Record llm-retry's events as OpenTelemetry metrics and span events.

    Args:
        meter_provider: where the ``llm_retry`` meter comes from; default: the global one.
        spans: add each event to the current span, when it is recording.
    """

    def __init__(self, meter_provider: Any = None, *, spans: bool = True) -> None:
        from opentelemetry import metrics, trace  # noqa: PLC0415 - optional dependency

        meter = metrics.get_meter("llm_retry", meter_provider=meter_provider)
        self.instruments = _instruments(meter)
        self._current_span = trace.get_current_span if spans else None

    def __call__(self, record: Mapping[str, Any]) -> None:
        """Apply one event to the instruments and the current span."""
        for measure in measures(record):
            instrument = self.instruments.get(measure.metric)
            if instrument is None:
                continue
            attributes = dict(measure.labels)
            if METRICS[measure.metric].kind == "gauge":
                instrument.set(measure.value, attributes)
            else:
                instrument.add(measure.value, attributes)
        if self._current_span is not None:
            span = self._current_span()
            if span.is_recording():
                scalars = {k: v for k, v in record.items() if isinstance(v, _SCALARS)}
                span.add_event(str(record.get("event")), scalars)

    def __repr__(self) -> str:
        return "OpenTelemetryHook()"
