"""@budget deadlines: waits that cross the deadline, nesting, propagation, timeouts, errors."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import HTTPError, flaky
from llm_retry import (
    Backoff,
    BudgetExhaustedError,
    Policy,
    PolicyError,
    Retry,
    attempt_timeout,
    budget,
    llm_retry,
    remaining,
    use_profile,
)
from llm_retry.testing import capture_events, no_wait

POLICY = Policy(
    name="test",
    statuses={429: Retry("rate limited"), 503: Retry("overloaded")},
    backoff=Backoff(base=4, cap=60, jitter="none"),
    attempts=10,
)


pytestmark = pytest.mark.usefixtures("fresh_budgets")


def test_a_wait_crossing_the_deadline_is_not_slept():
    """The wait that would cross the deadline gives up at once, saying how much was left."""
    seen = []
    body = flaky(*[HTTPError(503)] * 5, on_call=lambda: seen.append(remaining()))
    ask = budget(total=10)(llm_retry(policy=POLICY)(body))
    with no_wait() as clock, capture_events() as events, pytest.raises(HTTPError) as caught:
        ask()
    assert clock.waits == [4.0]
    assert seen == [10.0, 6.0]
    (note,) = caught.value.__notes__
    assert "gave up after 2 attempts in 4.0 s: next wait 8.0 s exceeds the 6.0 s left" in note
    exhausted = [e for e in events if e["event"] == "llm_retry.budget_exhausted"]
    assert exhausted == [
        {
            "event": "llm_retry.budget_exhausted",
            "log_level": "warning",
            "callable": exhausted[0]["callable"],
            "kind": "deadline",
            "attempt": 3,
            "reason": exhausted[0]["reason"],
            "remaining": 6.0,
            "total": 10,
        }
    ]
    assert exhausted[0]["reason"].startswith("next wait 8.0 s exceeds the 6.0 s left (budget of")


def test_a_server_hint_past_the_deadline_gives_up_with_the_hint():
    """A Retry-After longer than what is left is not slept either."""
    ask = budget(total=5.1)(llm_retry(policy=POLICY)(flaky(HTTPError(429, {"Retry-After": "12"}))))
    with no_wait() as clock, pytest.raises(HTTPError) as caught:
        ask()
    assert clock.waits == []
    assert "next wait 12.0 s exceeds the 5.1 s left" in caught.value.__notes__[0]


def test_success_inside_the_budget_is_untouched():
    """A call that recovers within the deadline returns normally, with its waits."""
    ask = budget(total=30)(llm_retry(policy=POLICY)(flaky(HTTPError(503), HTTPError(503))))
    with no_wait() as clock:
        assert ask() == "ok"
    assert clock.waits == [4.0, 8.0]


@settings(max_examples=150, deadline=None)
@given(
    total=st.floats(0.5, 120),
    hints=st.lists(st.one_of(st.none(), st.floats(0, 90)), min_size=1, max_size=12),
    durations=st.lists(st.floats(0, 40), min_size=1, max_size=12),
    per_attempt=st.one_of(st.none(), st.floats(0.1, 30)),
)
def test_the_deadline_is_never_overshot(total, hints, durations, per_attempt):
    """Whatever the hints and attempt durations, a call never runs past its deadline.

    Each attempt takes its duration, or less if the SDK timeout (`attempt_timeout()`) is
    shorter, as a client passed ``timeout=attempt_timeout()`` would.
    """
    policy = POLICY.evolve(attempts=20, max_retry_after=100)
    attempt = iter(range(1000))

    @budget(total=total, attempt_timeout=per_attempt)
    @llm_retry(policy=policy)
    def ask():
        n = next(attempt)
        clock.advance(min(durations[n % len(durations)], attempt_timeout()))
        hint = hints[n % len(hints)]
        raise HTTPError(429, {} if hint is None else {"Retry-After": f"{hint:.3f}"})

    with no_wait() as clock:
        start = clock.now()
        with pytest.raises((HTTPError, BudgetExhaustedError)):
            ask()
    assert clock.now() - start <= total + 1e-6
    assert sum(clock.waits) <= total


def test_nested_budgets_shrink_and_never_extend():
    """An inner budget keeps the outer deadline when it is sooner, and shortens it otherwise."""
    seen = {}

    @budget(total=100)
    def inner_long():
        seen["long"] = remaining()

    @budget(total=3)
    def inner_short():
        seen["short"] = remaining()

    @budget(total=10)
    def outer():
        clock.advance(2)
        inner_long()
        inner_short()
        seen["outer"] = remaining()

    with no_wait() as clock:
        outer()
    assert seen == {"long": 8.0, "short": 3.0, "outer": 8.0}


def test_remaining_and_attempt_timeout_outside_and_inside():
    """Outside any budget both are None; inside, the per-attempt timeout is cut to what is left."""
    assert remaining() is None
    assert attempt_timeout() is None
    seen = []

    @budget(total=10, attempt_timeout=4)
    def ask():
        seen.append((remaining(), attempt_timeout()))
        clock.advance(8)
        seen.append((remaining(), attempt_timeout()))

    with no_wait() as clock:
        ask()
    assert seen == [(10.0, 4.0), (2.0, 2.0)]


def test_a_budget_without_a_total_still_gives_attempt_timeouts():
    """attempt_timeout alone sets no deadline: remaining() stays None."""

    @budget(attempt_timeout=7)
    def ask():
        return remaining(), attempt_timeout()

    assert ask() == (None, 7)


def test_a_spent_deadline_raises_budget_exhausted_before_any_attempt():
    """A nested call made after the outer deadline passed is not made, with the cause chained."""
    first = HTTPError(503)
    body = flaky(first)
    calls = []

    @llm_retry(policy=POLICY.evolve(attempts=1))
    def call():
        calls.append(1)
        return body()

    @budget(total=5)
    def outer():
        with pytest.raises(HTTPError):
            call()
        clock.advance(6)
        call()

    with (
        no_wait() as clock,
        capture_events() as events,
        pytest.raises(BudgetExhaustedError) as caught,
    ):
        outer()
    assert calls == [1]
    assert caught.value.__cause__ is first
    assert "no time left before attempt 1" in str(caught.value)
    assert events[-1]["event"] == "llm_retry.budget_exhausted"
    assert events[-1]["kind"] == "deadline"


def test_an_inner_budget_entered_after_the_deadline_raises_at_once():
    """Entering a nested @budget with no time left raises BudgetExhaustedError at once."""

    @budget(total=1)
    def inner():
        raise AssertionError("never called")

    @budget(total=2)
    def outer():
        clock.advance(3)
        inner()

    with no_wait() as clock, pytest.raises(BudgetExhaustedError, match="no time left when"):
        outer()


def test_the_scope_follows_awaits_and_tasks():
    """remaining() is the same across await and inside tasks started within the budget."""
    seen = []

    async def child():
        await asyncio.sleep(0)
        seen.append(("task", remaining()))

    @budget(total=20)
    async def parent():
        await asyncio.sleep(0)
        seen.append(("awaited", remaining()))
        await asyncio.create_task(child())
        return remaining()

    with no_wait():
        assert asyncio.run(parent()) == 20.0
    assert seen == [("awaited", 20.0), ("task", 20.0)]
    assert remaining() is None


def test_a_task_started_inside_keeps_the_deadline_for_its_retries():
    """A decorated call inside a task started under the budget gives up at the deadline."""

    @llm_retry(policy=POLICY)
    async def ask():
        raise HTTPError(503)

    @budget(total=10)
    async def parent():
        return await asyncio.create_task(ask())

    with no_wait() as clock, pytest.raises(HTTPError) as caught:
        asyncio.run(parent())
    assert clock.waits == [4.0]
    assert "exceeds the 6.0 s left" in caught.value.__notes__[0]


def test_async_attempts_are_cancelled_past_the_attempt_timeout():
    """A hanging async attempt is cancelled at attempt_timeout, classified a timeout, retried."""
    attempts = []

    policy = POLICY.evolve(transport={"timeout": Retry("timed out")}, backoff=Backoff(0, 0))

    @budget(attempt_timeout=0.05)
    @llm_retry(policy=policy)
    async def ask():
        attempts.append(attempt_timeout())
        if len(attempts) == 1:
            await asyncio.Event().wait()  # hangs until cancelled
        return "ok"

    with no_wait(), capture_events() as events:
        assert asyncio.run(ask()) == "ok"
    assert len(attempts) == 2
    failed = events[0]
    assert failed["rule"] == "transport timeout"
    assert failed["error"] == "TimeoutError"
    assert "attempt cancelled after its 0.05 s timeout" in failed["message"]


def test_async_attempt_timeout_is_cut_to_the_deadline():
    """The per-attempt timeout is never longer than what is left of the budget."""

    @budget(total=3, attempt_timeout=30)
    @llm_retry(policy=POLICY)
    async def ask():
        return attempt_timeout()

    with no_wait():
        assert asyncio.run(ask()) == 3.0


def test_an_exception_that_ends_the_call_is_never_hidden():
    """A failure llm-retry does not retry passes through @budget unchanged."""
    error = ValueError("bug")

    @budget(total=10)
    @llm_retry(policy=POLICY)
    def ask():
        raise error

    with no_wait(), pytest.raises(ValueError, match="bug") as caught:
        ask()
    assert caught.value is error


class Service:
    """A class with budgeted methods."""

    def __init__(self):
        self.calls = 0

    @budget(total=10)
    @llm_retry(policy=POLICY)
    def ask(self, prompt):
        self.calls += 1
        if self.calls == 1:
            raise HTTPError(503)
        return prompt, remaining()

    @classmethod
    @budget(total=5)
    def klass(cls):
        return cls.__name__, remaining()

    @budget(total=7)
    async def aask(self):
        return remaining()


def test_methods_classmethods_and_async_methods():
    """Budgets work on methods, classmethods and async methods, and bind self and cls."""
    service = Service()
    with no_wait():
        assert service.ask("hi") == ("hi", 6.0)
        assert Service.klass() == ("Service", 5.0)
        assert asyncio.run(service.aask()) == 7.0
    assert inspect.iscoroutinefunction(Service.aask)


def test_signature_and_coroutine_function_are_kept():
    """The decorator keeps the signature, name and iscoroutinefunction of what it wraps."""

    async def ask(prompt: str, *, n: int = 1) -> str:
        """Ask."""
        return prompt

    wrapped = budget(total=5)(ask)
    assert inspect.signature(wrapped) == inspect.signature(ask)
    assert inspect.iscoroutinefunction(wrapped)
    assert wrapped.__doc__ == "Ask."


def test_preset_settings_follow_the_profile_at_call_time():
    """@budget(preset=...) reads the preset's [budget] under the profile active at the call."""

    @budget(preset="deepseek")
    def ask():
        return remaining()

    with no_wait():
        assert ask() == 90.0
        with use_profile("dev"):
            assert ask() == 30.0


def test_explicit_settings_override_the_preset():
    """An argument given to @budget beats the preset's value."""
    with no_wait():
        assert budget(preset="deepseek", total=12)(remaining)() == 12.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"total": 0}, "budget total must be > 0"),
        ({"total": "90"}, "budget total must be a number"),
        ({"retry_ratio": -0.1}, "budget retry_ratio must be >= 0"),
        ({"preset": "nope"}, "unknown preset 'nope'"),
        ({"pace": True}, "pace=True needs a key"),
    ],
)
def test_bad_settings_fail_at_decoration(kwargs, message):
    """Invalid settings raise PolicyError when decorating, not on the first call."""
    with pytest.raises(PolicyError, match=message):
        budget(**kwargs)


def test_bare_use_is_refused_with_a_hint():
    """@budget without arguments is a mistake that says how to write it."""
    with pytest.raises(PolicyError, match="budget needs arguments"):
        budget(remaining)  # type: ignore[arg-type]
