"""Retry budgets: the ledger's arithmetic, and storms of concurrent failing callers."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from helpers import HTTPError
from llm_retry import Backoff, Policy, Retry, budget, llm_retry
from llm_retry.decide.retry_budget import EMPTY, Limit, RetryBudget, deposit, withdraw
from llm_retry.stores import MemoryStore
from llm_retry.testing import capture_events, no_wait

POLICY = Policy(
    name="storm",
    statuses={503: Retry("overloaded"), 429: Retry("rate limited")},
    backoff=Backoff(base=0, cap=0),
    attempts=5,
)
CALLERS = 200
ALLOWED = 0.2 * CALLERS + 1 * 10  # ratio * calls + min_retries_per_sec * window


pytestmark = pytest.mark.usefixtures("fresh_budgets")


def test_withdrawals_stay_under_ratio_plus_floor():
    """A retry is allowed while retries + 1 <= ratio * calls + min_per_sec * window."""
    limit = Limit(ratio=0.5, min_retries_per_sec=0.1, window=10)
    ledger = deposit(EMPTY, 100.0, 4, limit.window)  # allowance 0.5 * 4 + 1 = 3
    answers = []
    for _ in range(4):
        answer, ledger = withdraw(ledger, 100.5, limit)
        answers.append(answer.allowed)
    assert answers == [True, True, True, False]
    assert ledger.totals() == (4, 3)


def test_calls_and_retries_leave_the_window():
    """Seconds older than the window are forgotten, so the budget refills."""
    limit = Limit(ratio=0.0, min_retries_per_sec=0.1, window=10)  # one retry per window
    ledger = EMPTY
    first, ledger = withdraw(ledger, 100.0, limit)
    second, ledger = withdraw(ledger, 109.9, limit)
    third, ledger = withdraw(ledger, 110.0, limit)
    assert (first.allowed, second.allowed, third.allowed) == (True, False, True)


def test_refusals_explain_themselves():
    """A refused withdrawal says how many retries, calls and what was allowed."""
    limit = Limit(ratio=0.2, min_retries_per_sec=0, window=10)
    answer, _ = withdraw(deposit(EMPTY, 5.0, 3, 10), 5.0, limit)
    assert not answer.allowed
    assert answer.explain("x", limit) == (
        "retry budget 'x' exhausted: 0 retries in the last 10 s, allowed 0 + 20% of 3 calls"
    )


def test_deposits_are_batched_per_second_and_written_before_a_withdrawal():
    """Calls in the same second are counted locally; a withdrawal sees them all."""
    store = MemoryStore()
    ledger = RetryBudget("b", store)
    for _ in range(10):
        ledger.deposit(50.2, 10)
    assert len(store) == 0  # nothing written yet
    assert ledger.snapshot(50.5) == (10, 0)
    answer = ledger.withdraw(50.5, Limit(0.1, 0, 10))
    assert answer.allowed
    assert answer.calls == 10
    ledger.deposit(51.0, 10)
    assert ledger.snapshot(51.0) == (11, 1)


def storm_ask(name, barrier_wait):
    """A call that waits for every caller's first attempt, then always fails with a 503."""
    attempts = []

    @budget(name, retry_ratio=0.2, min_retries_per_sec=1)
    @llm_retry(policy=POLICY)
    def ask():
        attempts.append(1)
        if len(attempts) <= CALLERS:
            barrier_wait()
        raise HTTPError(503)

    return ask, attempts


def test_a_storm_of_threads_is_capped_at_the_ratio():
    """200 threads failing together retry only ratio * calls + the floor times in all."""
    barrier = threading.Barrier(CALLERS)
    ask, attempts = storm_ask(f"storm-{uuid.uuid4()}", lambda: barrier.wait(timeout=30))
    errors = []

    def caller():
        try:
            ask()
        except HTTPError as exc:
            errors.append(exc)

    with no_wait(), capture_events() as events:
        threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert len(errors) == CALLERS
    assert len(attempts) - CALLERS == ALLOWED
    refused = [e for e in events if e["event"] == "llm_retry.budget_exhausted"]
    assert {e["kind"] for e in refused} == {"retry_budget"}
    by_budget = [e for e in errors if "retry budget 'storm-" in e.__notes__[-1]]
    by_attempts = [e for e in errors if "attempts exhausted" in e.__notes__[-1]]
    assert len(by_budget) == len(refused) >= CALLERS - ALLOWED / (POLICY.attempts - 1)
    assert len(by_budget) + len(by_attempts) == CALLERS


def test_a_storm_of_tasks_is_capped_at_the_ratio():
    """200 asyncio tasks failing together are capped the same way."""
    everyone = asyncio.Event()
    entered = []
    name = f"storm-{uuid.uuid4()}"
    attempts = []

    @budget(name, retry_ratio=0.2, min_retries_per_sec=1)
    @llm_retry(policy=POLICY)
    async def ask():
        attempts.append(1)
        if len(attempts) <= CALLERS:
            entered.append(1)
            if len(entered) == CALLERS:
                everyone.set()
            await everyone.wait()
        raise HTTPError(503)

    async def main():
        return await asyncio.gather(*(ask() for _ in range(CALLERS)), return_exceptions=True)

    with no_wait():
        results = asyncio.run(main())
    assert all(isinstance(r, HTTPError) for r in results)
    assert len(attempts) - CALLERS == ALLOWED


def test_first_attempts_are_never_refused():
    """With the budget spent, new calls still make their first attempt, and are not retried."""
    name = f"spent-{uuid.uuid4()}"
    attempts = []

    @budget(name, retry_ratio=0, min_retries_per_sec=0)
    @llm_retry(policy=POLICY)
    def ask():
        attempts.append(1)
        raise HTTPError(503)

    with no_wait():
        for _ in range(3):
            with pytest.raises(HTTPError) as caught:
                ask()
    assert len(attempts) == 3
    assert "retry budget" in caught.value.__notes__[-1]
    assert (
        "exhausted: 0 retries in the last 10 s, allowed 0 + 0% of 3 calls"
        in (caught.value.__notes__[-1])
    )


def test_budgets_of_the_same_name_are_shared():
    """Two functions under one budget name draw on one budget."""
    name = f"shared-{uuid.uuid4()}"
    counts = {"a": 0, "b": 0}

    def make(key):
        @budget(name, retry_ratio=0, min_retries_per_sec=0.2)  # two retries per 10 s window
        @llm_retry(policy=POLICY)
        def ask():
            counts[key] += 1
            raise HTTPError(503)

        return ask

    ask_a, ask_b = make("a"), make("b")
    with no_wait():
        with pytest.raises(HTTPError):
            ask_a()
        with pytest.raises(HTTPError):
            ask_b()
    assert counts == {"a": 3, "b": 1}


def test_an_anonymous_budget_has_no_retry_budget_unless_asked():
    """@budget(total=...) alone does not limit retries."""
    attempts = []

    @budget(total=100)
    @llm_retry(policy=POLICY)
    def ask():
        attempts.append(1)
        raise HTTPError(503)

    with no_wait(), pytest.raises(HTTPError):
        ask()
    assert len(attempts) == POLICY.attempts


def test_under_pacing_throttled_retries_wait_for_a_window_instead():
    """With pace=True a 429's retry is paced, not budgeted; a 500's retry still is budgeted."""
    name = f"paced-{uuid.uuid4()}"
    errors = [HTTPError(429), HTTPError(500)]
    attempts = []
    policy = POLICY.evolve(statuses={429: Retry("rate limited"), 500: Retry("server error")})

    @budget(name, pace=True, retry_ratio=0, min_retries_per_sec=0)
    @llm_retry(policy=policy)
    def ask():
        attempts.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    with no_wait(), pytest.raises(HTTPError) as caught:
        ask()
    assert len(attempts) == 2  # the 429 was retried; the 500 after it was not
    assert caught.value.status_code == 500
    assert "retry budget" in caught.value.__notes__[-1]
