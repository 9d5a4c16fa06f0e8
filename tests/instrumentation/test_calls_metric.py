"""Calls by outcome (``llm_retry_calls_total``) and a span per attempt, with the real openai
client against the fault server."""

from __future__ import annotations

import re

import openai
import pytest

from helpers import need
from llm_retry import BudgetExhaustedError, CircuitOpenError, budget, circuit, llm_retry
from llm_retry.instrumentation import OUTCOMES, call_counts, set_hooks
from llm_retry.instrumentation.calls import call_counter, outcome_of
from llm_retry.testing import FaultServer, Reply, no_wait


@pytest.fixture(autouse=True)
def _restore_hooks():
    """Every test goes back to the auto-detected hooks."""
    yield
    set_hooks(None)


def counts(name: str) -> dict[str, int]:
    """The outcomes counted so far for the decorated function called ``name``."""
    return {outcome: n for callable_, outcome, n in call_counts() if callable_ == name}


def make_ask(client: openai.OpenAI, **options):
    """A function asking the fault server through ``client``, under the deepseek preset."""

    @llm_retry(preset="deepseek", **options)
    def ask(prompt: str) -> str:
        r = client.chat.completions.create(
            model="deepseek-v4-flash", messages=[{"role": "user", "content": prompt}]
        )
        return r.choices[0].message.content or ""

    return ask


def test_every_outcome_is_counted(server: FaultServer, gpt: openai.OpenAI):
    """First-time successes, recoveries, fail-fast and exhausted calls each get their outcome."""
    ask = make_ask(gpt, attempts=2)
    name = f"{__name__}.make_ask.<locals>.ask"
    before = counts(name) or dict.fromkeys(OUTCOMES, 0)
    with no_wait():
        server.script(Reply(200, content="a"))
        ask("one")
        server.script(Reply(503), Reply(200, content="b"))
        ask("two")
        server.script(Reply(402, code="insufficient_balance"))
        with pytest.raises(openai.APIStatusError):
            ask("three")
        server.script(Reply(503), Reply(503))
        with pytest.raises(openai.InternalServerError):
            ask("four")
    after = counts(name)
    delta = {outcome: after[outcome] - before[outcome] for outcome in OUTCOMES}
    assert delta == {
        "succeeded_first_time": 1,
        "succeeded_after_retries": 1,
        "failed_not_retried": 1,
        "failed_after_retries": 1,
        "refused_by_circuit": 0,
        "refused_by_budget": 0,
    }


def test_refusals_by_the_circuit_and_the_budget_are_counted():
    """A call an open circuit or a spent budget refuses counts as refused, not as failed."""
    breaker = circuit("calls-metric", failures=1, break_duration=60)

    @llm_retry(attempts=1)
    @breaker
    def guarded() -> str:
        return "ok"

    @llm_retry(attempts=3)
    def inner() -> str:
        return "ok"

    breaker.open()
    with pytest.raises(CircuitOpenError):
        guarded()
    breaker.reset()
    assert counts(f"{__name__}.{guarded.__qualname__}")["refused_by_circuit"] == 1
    with no_wait() as clock:

        @budget(total=1)
        def outer() -> str:
            clock.advance(2)  # the call took all the budget's time before asking
            return inner()

        with pytest.raises(BudgetExhaustedError):
            outer()
    assert counts(f"{__name__}.{inner.__qualname__}")["refused_by_budget"] == 1
    assert outcome_of(BudgetExhaustedError("call not made"), 3) == "refused_by_budget"


def test_the_happy_path_is_one_increment():
    """A first attempt that succeeds adds one to its function's counter, nothing else."""

    @llm_retry
    def fine() -> int:
        return 1

    counter = call_counter(f"{__name__}.{fine.__qualname__}")
    start = counter.first_time
    for _ in range(1000):
        fine()
    assert counter.first_time - start == 1000
    assert sum(counter.counts().values()) - counter.first_time == 0


def test_a_prometheus_scrape_after_a_retried_call(server: FaultServer, gpt: openai.OpenAI):
    """After a retried call, the scrape has llm_retry_calls_total by outcome next to the rest."""
    prometheus = need("prometheus_client")
    from llm_retry.instrumentation import PrometheusHook  # noqa: PLC0415

    registry = prometheus.CollectorRegistry()
    set_hooks([PrometheusHook(registry)])
    ask = make_ask(gpt)
    with no_wait():
        server.script(Reply(429, headers={"Retry-After": "2"}), Reply(200, content="ok"))
        assert ask("hello") == "ok"
    text = prometheus.generate_latest(registry).decode()
    names = set(re.findall(r"^(llm_retry_\w+?)(?:\{| )", text, re.MULTILINE))
    assert {
        "llm_retry_calls_total",
        "llm_retry_events_total",
        "llm_retry_attempts_failed_total",
        "llm_retry_retries_total",
        "llm_retry_wait_seconds_total",
        "llm_retry_recoveries_total",
    } <= names
    name = f"{__name__}.make_ask.<locals>.ask"
    sample = registry.get_sample_value(
        "llm_retry_calls_total", {"callable": name, "outcome": "succeeded_after_retries"}
    )
    assert sample is not None
    assert sample >= 1


@pytest.fixture
def tracing():
    """An OpenTelemetry tracer provider with an in-memory exporter, and a meter reader."""
    need("opentelemetry.sdk")
    from opentelemetry.sdk import metrics, trace  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )

    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter, metrics.MeterProvider(metric_readers=[reader]), reader
    provider.shutdown()


def test_one_span_per_attempt_with_the_exception(server, gpt, tracing):
    """Each attempt of a retried call is a child span with semconv attributes and its error."""
    from llm_retry.instrumentation import OpenTelemetryHook  # noqa: PLC0415

    provider, exporter, meters, reader = tracing
    set_hooks([OpenTelemetryHook(meters, tracer_provider=provider)])
    ask = make_ask(gpt)
    gpt_key = gpt.api_key
    with no_wait(), provider.get_tracer("test").start_as_current_span("ask"):
        server.script(Reply(429, headers={"Retry-After": "2"}), Reply(503), Reply(200))
        ask("hello")
    spans = exporter.get_finished_spans()
    attempts = [s for s in spans if s.name == "llm_retry.attempt"]
    (parent,) = [s for s in spans if s.name == "ask"]
    assert [s.attributes["llm_retry.attempt"] for s in attempts] == [1, 2, 3]
    assert all(s.parent.span_id == parent.context.span_id for s in attempts)
    first, second, third = attempts
    assert first.attributes["http.response.status_code"] == 429
    assert first.attributes["error.type"] == "openai.RateLimitError"
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.request.resend_count"] == 1
    assert third.attributes["http.request.resend_count"] == 2
    assert third.status.is_ok
    assert not first.status.is_ok
    (exception,) = [e for e in first.events if e.name == "exception"]
    assert exception.attributes["exception.type"].endswith("RateLimitError")
    assert gpt_key not in str(exception.attributes)
    assert second.start_time >= first.end_time + 2_000_000_000  # the Retry-After wait between
    points = {
        tuple(sorted(p.attributes.items())): p.value
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "llm_retry.calls"
        for p in metric.data.data_points
    }
    key = (
        ("code.function.name", f"{__name__}.make_ask.<locals>.ask"),
        ("llm_retry.outcome", "succeeded_after_retries"),
    )
    assert points[key] >= 1


def test_blocks_are_counted_too():
    """A retried block's first-time success and its recovery count under the block's name."""
    from llm_retry import retrying  # noqa: PLC0415

    before = counts("calls-metric-block") or dict.fromkeys(OUTCOMES, 0)
    failures = [ConnectionError("reset")]
    with no_wait():
        for _ in range(2):
            for attempt in retrying(name="calls-metric-block", attempts=3):
                with attempt:
                    if failures:
                        raise failures.pop()
    after = counts("calls-metric-block")
    assert after["succeeded_after_retries"] - before["succeeded_after_retries"] == 1
    assert after["succeeded_first_time"] - before["succeeded_first_time"] == 1


def test_async_calls_are_counted():
    """An async function's first-time successes and recoveries are counted like sync ones."""
    import asyncio  # noqa: PLC0415

    failures = [ConnectionError("reset")]

    @llm_retry(attempts=3)
    async def answer() -> int:
        if failures:
            raise failures.pop()
        return 1

    async def main() -> None:
        for _ in range(3):
            await answer()

    with no_wait():
        asyncio.run(main())
    counted = counts(f"{__name__}.{answer.__qualname__}")
    assert counted["succeeded_after_retries"] == 1
    assert counted["succeeded_first_time"] == 2


def test_attempt_spans_never_carry_secrets(tracing):
    """A key in an exception's message is redacted in the span's exception event."""
    from helpers import HTTPError  # noqa: PLC0415
    from llm_retry.instrumentation import OpenTelemetryHook  # noqa: PLC0415

    provider, exporter, meters, _ = tracing
    set_hooks([OpenTelemetryHook(meters, tracer_provider=provider)])

    class LeakyError(HTTPError):
        def __str__(self) -> str:
            return "HTTP 503 for Authorization: Bearer sk-leaked-secret-123"

    failures = [LeakyError(503)]

    @llm_retry(attempts=2)
    def leaky() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    with no_wait():
        assert leaky() == "ok"
    (failed, _) = [s for s in exporter.get_finished_spans() if s.name == "llm_retry.attempt"]
    (exception,) = [e for e in failed.events if e.name == "exception"]
    recorded = str(dict(exception.attributes))
    assert "sk-leaked-secret-123" not in recorded
    assert "Bearer ***" in recorded
