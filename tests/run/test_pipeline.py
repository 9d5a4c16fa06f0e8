"""A stack of llm-retry decorators is one pipeline: one wrapper, strategies in written order."""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any

import pytest

from helpers import HTTPError, flaky
from llm_retry import (
    Backoff,
    CircuitOpenError,
    Policy,
    Retry,
    budget,
    circuit,
    fallback,
    llm_retry,
    remaining,
)
from llm_retry.decide import classify as classify_module
from llm_retry.run.pipeline import Pipelined
from llm_retry.testing import capture_events, no_wait

POLICY = Policy(
    name="test",
    statuses={503: Retry("overloaded")},
    backoff=Backoff(base=0.1, cap=1.0, jitter="none"),
    attempts=3,
)


def test_a_stack_is_one_wrapper_over_the_original_function():
    def ask(prompt: str) -> str:
        return prompt

    stacked = fallback(ask)(budget(total=30)(llm_retry(policy=POLICY)(circuit("p-one")(ask))))
    assert isinstance(stacked, Pipelined)
    assert stacked.__wrapped__ is ask  # one wrapt layer, not four
    strategies = stacked._self_pipeline.strategies
    assert [type(s).__name__ for s in strategies] == [
        "_Strategy",
        "_BudgetHook",
        "RetryStrategy",
        "Circuit",
    ]
    assert stacked("hi") == "hi"
    assert inspect.signature(stacked) == inspect.signature(ask)


def test_a_circuit_below_the_retry_gates_every_attempt():
    """Written below @llm_retry, the circuit counts each failed attempt and opens mid-call."""
    breaker = circuit("p-below", failures=2, break_duration=30)
    call = flaky(HTTPError(503), HTTPError(503), HTTPError(503))
    decorated = llm_retry(policy=POLICY.evolve(max_retry_after=5))(breaker(call))
    with no_wait(), capture_events() as events, pytest.raises(CircuitOpenError) as caught:
        decorated()
    names = [e["event"] for e in events]
    assert "llm_retry.circuit_open" in names  # opened by the call's own attempts
    assert call.calls == 2  # the third attempt was refused by the open circuit, not sent
    assert "circuit" in str(getattr(caught.value, "__notes__", [""])[-1])


def test_a_circuit_above_the_retry_sees_one_outcome_per_call():
    """Written above @llm_retry, the circuit sees the call as a whole: recovered is success."""
    breaker = circuit("p-above", failures=2, break_duration=30)
    call = flaky(HTTPError(503), HTTPError(503))
    decorated = breaker(llm_retry(policy=POLICY)(call))
    with no_wait(), capture_events() as events:
        assert decorated() == "ok"
    assert call.calls == 3
    assert "llm_retry.circuit_open" not in [e["event"] for e in events]
    assert breaker.state().state == "closed"


def test_a_budget_above_covers_every_attempt_and_wait():
    seen: list[float | None] = []

    def call() -> str:
        seen.append(remaining())
        if len(seen) < 3:
            raise HTTPError(503)
        return "ok"

    decorated = budget(total=30)(llm_retry(policy=POLICY)(call))
    with no_wait():
        assert decorated() == "ok"
    assert len(seen) == 3
    assert all(s is not None and s <= 30 for s in seen)
    assert seen[0] >= seen[1] >= seen[2]  # one deadline over the whole call


def test_a_foreign_decorator_in_between_still_works():
    """A functools.wraps decorator between two of ours ends the fusion, not the behaviour."""
    layers: list[str] = []

    def foreign(func: Any) -> Any:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            layers.append("foreign")
            return func(*args, **kwargs)

        return wrapper

    call = flaky(HTTPError(503))
    inner = circuit("p-foreign")(call)
    decorated = llm_retry(policy=POLICY)(foreign(inner))
    with no_wait():
        assert decorated() == "ok"
    assert layers == ["foreign", "foreign"]  # retried through the foreign layer
    assert isinstance(decorated, Pipelined)
    assert len(decorated._self_pipeline.strategies) == 1


def test_stacked_async_keeps_coroutine_function_and_retries():
    calls = flaky(HTTPError(503))

    async def ask() -> str:
        return calls()

    decorated = budget(total=30)(llm_retry(policy=POLICY)(circuit("p-async")(ask)))
    assert inspect.iscoroutinefunction(decorated)
    with no_wait():
        assert asyncio.run(decorated()) == "ok"
    assert calls.calls == 2


def test_stacked_methods_bind_once():
    class Client:
        def __init__(self) -> None:
            self.calls = flaky(HTTPError(503))

        @budget(total=30)
        @llm_retry(policy=POLICY)
        @circuit("p-method")
        def ask(self, prompt: str) -> str:
            return f"{self.calls()} {prompt}"

    client = Client()
    with no_wait():
        assert client.ask("x") == "ok x"
    assert client.calls.calls == 2


def test_a_failure_is_classified_once_for_the_circuit_and_the_retry(monkeypatch):
    """The circuit below the retry and the retry loop share one Decision per failure."""
    seen: list[object] = []
    real = classify_module._classify

    def counting(outcome: object, policy: object, now: float) -> object:
        seen.append(outcome)
        return real(outcome, policy, now)  # type: ignore[arg-type]

    monkeypatch.setattr(classify_module, "_classify", counting)
    first, second = HTTPError(503), HTTPError(503)
    call = flaky(first, second)
    decorated = llm_retry(preset="deepseek")(circuit("p-once", preset="deepseek")(call))
    with no_wait():
        assert decorated() == "ok"
    assert seen == [first, second]
