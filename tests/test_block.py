"""``retrying(...)``: the block API runs the same decisions as the decorator."""

from __future__ import annotations

import asyncio

import pytest

from helpers import HTTPError
from llm_retry import Backoff, Fail, Policy, Retry, budget, retrying
from llm_retry.testing import capture_events, no_wait

POLICY = Policy(
    name="test",
    statuses={503: Retry("overloaded"), 402: Fail("no money", fix="top up")},
    backoff=Backoff(base=1, cap=8, jitter="none"),
    attempts=3,
)


def test_a_block_is_retried_then_succeeds_with_the_same_events():
    errors = [HTTPError(503), HTTPError(503)]
    numbers = []
    with no_wait() as clock, capture_events() as events:
        for attempt in retrying(policy=POLICY):
            with attempt:
                numbers.append(attempt.number)
                if errors:
                    raise errors.pop(0)
    assert numbers == [1, 2, 3]
    assert clock.waits == [1.0, 2.0]
    names = [e["event"] for e in events]
    assert names.count("llm_retry.attempt_failed") == 2
    assert names[-1] == "llm_retry.recovered"
    assert events[0]["callable"].endswith(
        "test_a_block_is_retried_then_succeeds_with_the_same_events"
    )


def test_a_block_that_gives_up_raises_the_error_itself_with_the_note():
    error = HTTPError(402)

    def pay() -> None:
        for attempt in retrying(policy=POLICY, name="pay"):
            with attempt:
                raise error

    with no_wait(), pytest.raises(HTTPError) as caught:
        pay()
    assert caught.value is error
    assert "gave up after 1 attempt" in caught.value.__notes__[-1]


def test_a_block_runs_once_without_events_when_it_succeeds():
    runs = 0
    with capture_events() as events:
        for attempt in retrying(policy=POLICY):
            with attempt:
                runs += 1
    assert runs == 1
    assert events == []


def test_an_async_block_is_retried():
    errors = [HTTPError(503)]

    async def main() -> int:
        runs = 0
        async for attempt in retrying(policy=POLICY):
            with attempt:
                runs += 1
                if errors:
                    raise errors.pop(0)
        return runs

    with no_wait():
        assert asyncio.run(main()) == 2


def test_a_block_inside_a_budget_keeps_its_deadline():
    @budget(total=2.5)
    def work() -> None:
        for attempt in retrying(policy=POLICY):
            with attempt:
                raise HTTPError(503)

    with no_wait(), pytest.raises(HTTPError) as caught:
        work()
    assert "exceeds the" in caught.value.__notes__[-1]  # the 2 s wait would cross the deadline
