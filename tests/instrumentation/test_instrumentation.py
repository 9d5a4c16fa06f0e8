"""Metrics, traces and logs from the events: Prometheus, OpenTelemetry, stdlib logging."""

from __future__ import annotations

import logging

import pytest
import structlog

from helpers import HTTPError, flaky, need
from llm_retry import Backoff, Policy, Retry, llm_retry
from llm_retry.events import emit
from llm_retry.instrumentation import default_hooks, get_hooks, set_hooks
from llm_retry.testing import no_wait


@pytest.fixture
def prometheus():
    """prometheus_client, or a skip where it is not installed."""
    return need("prometheus_client")


@pytest.fixture
def otel_sdk():
    """The OpenTelemetry SDK modules, or a skip where they are not installed."""
    need("opentelemetry.sdk")
    from opentelemetry.sdk import metrics, trace  # noqa: PLC0415
    from opentelemetry.sdk.metrics import export as metrics_export  # noqa: PLC0415
    from opentelemetry.sdk.trace import export as trace_export  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import in_memory_span_exporter  # noqa: PLC0415

    return metrics, metrics_export, trace, trace_export, in_memory_span_exporter


POLICY = Policy(
    name="metrics",
    statuses={503: Retry("overloaded"), 429: Retry("rate limited")},
    backoff=Backoff(base=1.0, cap=1.0, jitter="none"),
    attempts=3,
)


@pytest.fixture(autouse=True)
def _restore_hooks():
    """Every test goes back to the auto-detected hooks."""
    yield
    set_hooks(None)


def run_calls():
    """One call that recovers after a 503 and a 429 (Retry-After 4), one that gives up."""
    with no_wait():
        assert llm_retry(policy=POLICY)(
            flaky(HTTPError(503), HTTPError(429, {"Retry-After": "4"}))
        )()
        with pytest.raises(HTTPError):
            llm_retry(policy=POLICY)(flaky(*[HTTPError(503)] * 3))()


def summed(registry, name, **labels):
    """The sum of a metric's samples whose labels include ``labels``."""
    return sum(
        sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def test_prometheus_counters_count_the_decisions(prometheus):
    """Failed attempts, retries, waits by source, recoveries and give-ups are counted."""
    from llm_retry.instrumentation import PrometheusHook  # noqa: PLC0415

    registry = prometheus.CollectorRegistry()
    set_hooks([PrometheusHook(registry)])
    run_calls()
    assert summed(registry, "llm_retry_attempts_failed_total", rule="status 503") == 4
    assert summed(registry, "llm_retry_attempts_failed_total", classification="retry") == 5
    assert summed(registry, "llm_retry_retries_total", source="backoff") == 3
    assert summed(registry, "llm_retry_retries_total", source="retry-after") == 1
    assert summed(registry, "llm_retry_wait_seconds_total", source="retry-after") == 4.0
    assert summed(registry, "llm_retry_wait_seconds_total", source="backoff") == 3.0
    assert summed(registry, "llm_retry_recoveries_total", policy="metrics") == 1
    assert summed(registry, "llm_retry_give_ups_total", policy="metrics") == 1
    assert summed(registry, "llm_retry_events_total", event="llm_retry.attempt_failed") == 5


def test_prometheus_circuit_state_and_billing(prometheus):
    """Circuit events move the transition counter and the state gauge; billing is counted."""
    from llm_retry.instrumentation import PrometheusHook  # noqa: PLC0415

    registry = prometheus.CollectorRegistry()
    set_hooks([PrometheusHook(registry)])
    emit("llm_retry.circuit_open", "warning", circuit="deepseek", before="closed")
    emit("llm_retry.circuit_rejected", "info", circuit="deepseek", state="open")
    emit("llm_retry.circuit_half_open", "info", circuit="deepseek", before="open")
    value = registry.get_sample_value
    assert value("llm_retry_circuit_state", {"circuit": "deepseek"}) == 1
    assert value("llm_retry_circuit_rejections_total", {"circuit": "deepseek"}) == 1
    opened = {"circuit": "deepseek", "state": "open"}
    assert value("llm_retry_circuit_transitions_total", opened) == 1
    emit(
        "llm_retry.attempt_failed",
        "warning",
        callable="f",
        policy="p",
        classification="retry",
        rule="result empty",
        billing="billed",
    )
    billed = {"callable": "f", "policy": "p", "billing": "billed"}
    assert value("llm_retry_billed_attempts_total", billed) == 1


def test_opentelemetry_counters_and_span_events(otel_sdk):
    """The OpenTelemetry hook adds to counters on the meter and events to the current span."""
    from llm_retry.instrumentation import OpenTelemetryHook  # noqa: PLC0415

    metrics, metrics_export, trace, trace_export, in_memory = otel_sdk
    reader = metrics_export.InMemoryMetricReader()
    set_hooks([OpenTelemetryHook(metrics.MeterProvider(metric_readers=[reader]))])
    exporter = in_memory.InMemorySpanExporter()
    tracer_provider = trace.TracerProvider()
    tracer_provider.add_span_processor(trace_export.SimpleSpanProcessor(exporter))
    with tracer_provider.get_tracer("test").start_as_current_span("ask"):
        run_calls()
    sums: dict[str, float] = {}
    attributes: dict[str, set[str]] = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                sums[metric.name] = sum(p.value for p in metric.data.data_points)
                attributes[metric.name] = {k for p in metric.data.data_points for k in p.attributes}
    assert sums["llm_retry.attempts_failed"] == 5
    assert sums["llm_retry.retries"] == 4
    assert sums["llm_retry.wait"] == 7.0  # the unit (s) is not in the name twice
    assert "llm_retry.wait_seconds" not in sums
    assert sums["llm_retry.give_ups"] == 1
    assert attributes["llm_retry.retries"] == {
        "code.function.name",
        "llm_retry.policy",
        "llm_retry.source",
    }
    (span,) = exporter.get_finished_spans()
    names = [event.name for event in span.events]
    assert names.count("llm_retry.attempt_failed") == 5
    assert span.events[0].attributes["http.response.status_code"] == 503
    assert span.events[0].attributes["error.type"] == "helpers.HTTPError"
    assert span.events[1].attributes["http.request.resend_count"] == 1  # retry_scheduled
    tracer_provider.shutdown()


def test_hooks_are_auto_detected_and_replaceable(prometheus, otel_sdk):
    """Both installed backends are detected; set_hooks replaces them, None restores them."""
    kinds = {type(hook).__name__ for hook in default_hooks()}
    assert kinds == {"PrometheusHook", "OpenTelemetryHook"}
    seen = []
    set_hooks([seen.append])
    assert get_hooks() == (seen.append,)
    emit("llm_retry.recovered", "info", callable="f", attempts=2)
    assert seen == [
        {"event": "llm_retry.recovered", "log_level": "info", "callable": "f", "attempts": 2}
    ]
    set_hooks(None)
    assert {type(h).__name__ for h in get_hooks()} == kinds


def test_a_broken_hook_never_breaks_a_call(caplog):
    """A hook that raises is reported once on the llm_retry logger; the call still succeeds."""

    def broken(record):
        raise RuntimeError("metrics backend down")

    set_hooks([broken])
    with no_wait(), caplog.at_level(logging.WARNING, logger="llm_retry"):
        assert llm_retry(policy=POLICY)(flaky(HTTPError(503), HTTPError(503)))() == "ok"
    reports = [r for r in caplog.records if "instrumentation hook" in r.getMessage()]
    assert len(reports) == 1


def test_stdlib_logging_when_structlog_is_not_configured(unconfigured_structlog, caplog, capsys):
    """Without a structlog setup, events are logging records on 'llm_retry', not stdout."""
    with no_wait(), caplog.at_level(logging.INFO, logger="llm_retry"):
        llm_retry(policy=POLICY)(flaky(HTTPError(503)))()
    records = [r for r in caplog.records if r.name == "llm_retry"]
    assert [r.llm_retry["event"] for r in records] == [
        "llm_retry.attempt_failed",
        "llm_retry.retry_scheduled",
        "llm_retry.recovered",
    ]
    assert records[0].levelno == logging.WARNING
    assert records[0].getMessage().startswith("llm_retry.attempt_failed callable=")
    assert "rule='status 503'" in records[0].getMessage()
    assert capsys.readouterr().out == ""


def test_structlog_when_configured(caplog):
    """Once structlog is configured, events go through it and not to logging."""
    with no_wait(), structlog.testing.capture_logs() as logs, caplog.at_level(logging.INFO):
        llm_retry(policy=POLICY)(flaky(HTTPError(503)))()
    assert logs[0]["event"] == "llm_retry.attempt_failed"
    assert not [r for r in caplog.records if r.name == "llm_retry"]
