"""Wait arithmetic: Retry-After is a floor over jittered backoff, capped; give up past the cap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import HTTPError
from llm_retry import Backoff, Fail, Policy, Retry
from llm_retry.decide.classify import Decision, classify
from llm_retry.decide.headers import ServerHint
from llm_retry.decide.waits import GiveUp, Wait, next_step

RATE = Retry("rate limited")


def decision(rule=None, hint=None, source="retry-after"):
    """A retry decision with an optional server hint."""
    server = ServerHint(hint, source if hint is not None else None)
    return Decision("retry", rule or Retry("rate limited"), "status 429", "E", 429, hint=server)


rands = st.floats(min_value=0, max_value=1, exclude_max=True)
backoffs = st.builds(
    Backoff,
    base=st.floats(min_value=0, max_value=100),
    cap=st.floats(min_value=0, max_value=1000),
    multiplier=st.floats(min_value=1, max_value=10),
    jitter=st.sampled_from(["full", "equal", "none"]),
)


@given(backoffs, st.integers(min_value=0, max_value=10_000), rands)
def test_backoff_is_within_zero_and_cap(backoff, retries, rand):
    """Every computed backoff lies in [0, cap] and never exceeds base * multiplier**n."""
    wait = backoff.compute(retries, rand)
    assert 0 <= wait <= backoff.cap
    assert wait <= backoff.ceiling(retries)


@given(
    backoffs,
    st.integers(min_value=1, max_value=50),
    rands,
    st.none() | st.floats(min_value=0, max_value=500),
    st.floats(min_value=0, max_value=300),
)
def test_wait_is_max_of_hint_and_backoff_within_caps(backoff, attempt, rand, hint, cap):
    """The wait is max(hint, backoff), never above max(cap, max_retry_after); else a give-up."""
    policy = Policy(backoff=backoff, attempts=100, max_retry_after=cap)
    step = next_step(decision(hint=hint), policy, attempt=attempt, rand=rand)
    expected_backoff = backoff.compute(attempt - 1, rand)
    if hint is not None and hint > cap:
        assert isinstance(step, GiveUp)
        assert "more than max_retry_after" in step.reason
        return
    assert isinstance(step, Wait)
    assert step.backoff == expected_backoff
    assert step.seconds == max(hint or 0.0, expected_backoff)
    assert 0 <= step.seconds <= max(backoff.cap, cap)
    assert step.source == (
        "retry-after" if hint is not None and hint >= expected_backoff else "backoff"
    )


@given(
    backoffs,
    st.integers(min_value=1, max_value=50),
    rands,
    st.integers(min_value=0, max_value=10**9),
    st.floats(min_value=0, max_value=300),
)
def test_a_rate_limit_reset_past_the_cap_leaves_the_backoff(backoff, attempt, rand, millis, cap):
    """A reset header is a floor like Retry-After; past the cap it is dropped, never a give-up."""
    policy = Policy(backoff=backoff, attempts=100, max_retry_after=cap, statuses={429: RATE})
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": f"{millis}ms"}
    reset = millis * 1e-3
    found = classify(HTTPError(429, headers), policy, now=0.0)
    step = next_step(found, policy, attempt=attempt, rand=rand)
    expected_backoff = backoff.compute(attempt - 1, rand)
    assert isinstance(step, Wait)
    assert step.seconds == max(reset if reset <= cap else 0.0, expected_backoff)
    assert 0 <= step.seconds <= max(backoff.cap, cap)
    if reset > cap:
        assert found.hint.seconds is None
        assert "is past max_retry_after" in found.hint.ignored[-1]


def test_retry_after_is_a_floor_not_a_ceiling():
    """A short hint does not shorten a longer backoff; a long hint lengthens a short one."""
    policy = Policy(backoff=Backoff(base=4, cap=4, jitter="none"))
    assert next_step(decision(hint=1), policy, attempt=1, rand=0.5) == Wait(
        4.0, "backoff", 4.0, 1.0
    )
    assert next_step(decision(hint=9), policy, attempt=1, rand=0.5) == Wait(
        9.0, "retry-after", 4.0, 9.0
    )


def test_hint_ignored_when_rule_or_policy_says_so():
    """retry_after=False on the rule or the policy leaves only the backoff."""
    policy = Policy(backoff=Backoff(base=0, cap=0))
    rule = Retry(retry_after=False)
    assert next_step(decision(rule, hint=50), policy, attempt=1, rand=0.5).seconds == 0
    no_hints = policy.evolve(retry_after=False)
    assert next_step(decision(hint=500), no_hints, attempt=1, rand=0.5).seconds == 0


@pytest.mark.parametrize(("rule_attempts", "limit"), [(None, 5), (3, 3)])
def test_attempts_exhausted(rule_attempts, limit):
    """The rule's attempts, else the policy's, bound the total attempts."""
    policy = Policy(attempts=5)
    rule = Retry("server error", attempts=rule_attempts)
    assert isinstance(next_step(decision(rule), policy, attempt=limit - 1, rand=0), Wait)
    step = next_step(decision(rule), policy, attempt=limit, rand=0)
    assert isinstance(step, GiveUp)
    assert step.reason.endswith(f"attempts exhausted ({limit} of {limit})")


def test_fail_rules_give_up_with_the_fix():
    """A Fail decision never waits; its reason carries the fix."""
    fail = Decision("fail", Fail("insufficient balance", fix="top up"), "status 402", "E", 402)
    step = next_step(fail, Policy(), attempt=1, rand=0)
    assert isinstance(step, GiveUp)
    assert "insufficient balance" in step.reason
    assert "fix: top up" in step.reason


def test_rule_backoff_overrides_policy_backoff():
    """A rule's own backoff replaces the policy's for that kind of failure."""
    rule = Retry(backoff=Backoff(base=7, cap=7, jitter="none"))
    step = next_step(decision(rule), Policy(), attempt=1, rand=0.3)
    assert step == Wait(7.0, "backoff", 7.0)
