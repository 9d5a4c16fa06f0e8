"""OpenTelemetry: instruments on the meter ``llm_retry``, span events, and a span per attempt.

Attributes, on spans and on metrics alike, follow the semantic conventions where one exists
(`semconv_attributes`): ``http.response.status_code``, ``error.type``,
``http.request.resend_count`` and ``code.function.name``; llm-retry's own fields and labels are
namespaced ``llm_retry.*`` (``llm_retry.policy``, ``llm_retry.source``, ...). Without an
OpenTelemetry SDK configured, the API's no-op meter and tracer make all of this free.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Mapping
from typing import Any

from llm_retry.events import redact

from ._measures import METRICS, measures
from .attempts import Attempt
from .calls import CALLS_DESCRIPTION, call_counts

__all__ = ["OpenTelemetryHook", "semconv_attributes"]

_SCALARS = (str, bool, int, float)
_SEMCONV = {
    "status": "http.response.status_code",
    "error": "error.type",
    "callable": "code.function.name",
}
_ATTEMPT_EVENTS = ("llm_retry.attempt_failed", "llm_retry.retry_scheduled")


def _name(field: str) -> str:
    """The OpenTelemetry attribute name of an event field or metric label."""
    return _SEMCONV.get(field, f"llm_retry.{field}")


def semconv_attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    """An event's fields as OpenTelemetry attributes, named after the semantic conventions.

    ``status`` is ``http.response.status_code``, ``error`` is ``error.type``, ``callable`` is
    ``code.function.name``; an event about attempt N also carries ``http.request.resend_count``
    (N - 1, from the second attempt on). Every other scalar field is ``llm_retry.FIELD``.
    """
    attributes: dict[str, Any] = {}
    for key, value in record.items():
        if key in ("event", "log_level") or not isinstance(value, _SCALARS):
            continue
        attributes[_name(key)] = value
    attempt = record.get("attempt")
    if record.get("event") in _ATTEMPT_EVENTS and isinstance(attempt, int) and attempt > 1:
        attributes["http.request.resend_count"] = attempt - 1
    return attributes


def _instruments(meter: Any) -> dict[str, Any]:
    made: dict[str, Any] = {}
    for key, metric in METRICS.items():
        name = metric.otel_name(key)
        if metric.kind == "counter":
            made[key] = meter.create_counter(name, unit=metric.unit, description=metric.description)
        elif hasattr(meter, "create_gauge"):  # opentelemetry-api >= 1.23
            made[key] = meter.create_gauge(name, description=metric.description)
    made["calls"] = meter.create_observable_counter(
        "llm_retry.calls", callbacks=[_observe_calls], unit="{call}", description=CALLS_DESCRIPTION
    )
    return made


def _observe_calls(options: Any) -> Iterator[Any]:
    """The call counters, read when the meter collects."""
    from opentelemetry.metrics import Observation  # noqa: PLC0415 - optional dependency

    for name, outcome, count in call_counts():
        yield Observation(count, {"code.function.name": name, "llm_retry.outcome": outcome})


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


class OpenTelemetryHook:
    """Record llm-retry's events as OpenTelemetry metrics, span events and attempt spans.

    Args:
        meter_provider: where the ``llm_retry`` meter comes from; default: the global one.
        spans: add each event to the current span, when it is recording, and trace each
            attempt of a call that needed the retry loop as a span ``llm_retry.attempt`` (a
            child of the current span, with the exception recorded, its secrets redacted).
        tracer_provider: where the ``llm_retry`` tracer comes from; default: the global one.
    """

    def __init__(
        self, meter_provider: Any = None, *, spans: bool = True, tracer_provider: Any = None
    ) -> None:
        from opentelemetry import metrics, trace  # noqa: PLC0415 - optional dependency

        meter = metrics.get_meter("llm_retry", meter_provider=meter_provider)
        self.instruments = _instruments(meter)
        self._current_span = trace.get_current_span if spans else None
        self._tracer = trace.get_tracer("llm_retry", tracer_provider=tracer_provider)
        self._spans = spans
        self._attributes: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    def __call__(self, record: Mapping[str, Any]) -> None:
        """Apply one event to the instruments and the current span."""
        for measure in measures(record):
            instrument = self.instruments.get(measure.metric)
            if instrument is None:
                continue
            attributes = self._attributes.get(measure.labels)
            if attributes is None:  # the same labels come again and again: named once
                attributes = {_name(label): value for label, value in measure.labels}
                self._attributes[measure.labels] = attributes
            if METRICS[measure.metric].kind == "gauge":
                instrument.set(measure.value, attributes)
            else:
                instrument.add(measure.value, attributes)
        if self._current_span is not None:
            span = self._current_span()
            if span.is_recording():
                span.add_event(str(record.get("event")), semconv_attributes(record))

    def attempt(self, attempt: Attempt) -> None:
        """Trace one attempt as a span, from its start to its end, with its exception."""
        if not self._spans:
            return
        from opentelemetry.trace import Status, StatusCode  # noqa: PLC0415

        attributes: dict[str, Any] = {
            "code.function.name": attempt.callable,
            "llm_retry.policy": attempt.policy,
            "llm_retry.attempt": attempt.number,
        }
        if attempt.number > 1:
            attributes["http.request.resend_count"] = attempt.number - 1
        if attempt.status is not None:
            attributes["http.response.status_code"] = attempt.status
        if attempt.error_type is not None:
            attributes["error.type"] = attempt.error_type
        if attempt.classification is not None:
            attributes["llm_retry.classification"] = attempt.classification
        if attempt.reason is not None:
            attributes["llm_retry.reason"] = attempt.reason
        span = self._tracer.start_span(
            "llm_retry.attempt", start_time=_ns(attempt.start), attributes=attributes
        )
        error = attempt.error
        if error is not None:
            stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            span.record_exception(
                error,
                attributes={
                    "exception.message": redact(str(error)),
                    "exception.stacktrace": redact(stack),
                },
                timestamp=_ns(attempt.end),
            )
            span.set_status(Status(StatusCode.ERROR, attempt.reason or attempt.error_type))
        span.end(end_time=_ns(attempt.end))

    def __repr__(self) -> str:
        return "OpenTelemetryHook()"
