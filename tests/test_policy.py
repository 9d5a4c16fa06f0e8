"""Policy objects: immutable, validated on construction, mergeable, queried in precedence order."""

from __future__ import annotations

import dataclasses

import pytest

from llm_retry import Backoff, Fail, Policy, PolicyError, Retry


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Backoff(base=-1), "Backoff.base must be >= 0"),
        (lambda: Backoff(cap=float("nan")), "Backoff.cap must be a finite number, not nan"),
        (lambda: Backoff(base=float("inf")), "Backoff.base must be a finite number, not inf"),
        (lambda: Backoff(multiplier=float("inf")), "Backoff.multiplier must be a finite number"),
        (lambda: Policy(max_retry_after=float("inf")), "max_retry_after must be a finite number"),
        (lambda: Policy(max_retry_after=10**400), "max_retry_after must be a finite number"),
        (lambda: Policy(max_retry_after=1e300), "max_retry_after must be at most 31622400 sec"),
        (lambda: Backoff(multiplier=0.5), "Backoff.multiplier must be >= 1"),
        (lambda: Backoff(jitter="sideways"), "Backoff.jitter must be one of full, equal, none"),
        (lambda: Backoff(base="1"), "Backoff.base must be a number"),
        (lambda: Retry(attempts=0), "Retry.attempts must be a whole number >= 1"),
        (lambda: Policy(attempts=0), "Policy.attempts must be a whole number >= 1"),
        (lambda: Policy(attempts=True), "Policy.attempts must be a whole number >= 1"),
        (lambda: Policy(max_retry_after=-5), "Policy.max_retry_after must be >= 0"),
        (lambda: Policy(statuses={600: Retry()}), "status 600 is not an HTTP status"),
        (lambda: Policy(statuses={"6xx": Retry()}), "status '6xx' is not an HTTP status"),
        (lambda: Policy(statuses={429: "retry"}), "must be Retry(...) or Fail(...)"),
        (lambda: Policy(transport={"dns": Retry()}), "transport 'dns' is not one of"),
        (lambda: Policy(codes={"": Fail()}), "error code '' must be a non-empty string"),
        (lambda: Policy(exceptions={"ValueError": Retry()}), "must be an exception class"),
        (lambda: Policy(otherwise=None), "Policy.otherwise must be Retry(...) or Fail(...)"),
        (lambda: Policy(retry_after="yes"), "Policy.retry_after must be true or false"),
    ],
)
def test_invalid_values_raise_policy_error(build, message):
    """Each impossible value is rejected with a PolicyError that says what is wrong."""
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_policy_error_is_a_value_error():
    """PolicyError can be caught as ValueError, as bad arguments usually are."""
    with pytest.raises(ValueError, match="attempts"):
        Policy(attempts=-1)


def test_policies_are_immutable():
    """Policies and their rule tables cannot be changed after construction."""
    policy = Policy(statuses={429: Retry()})
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.attempts = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.statuses[500] = Retry()  # type: ignore[index]


def test_status_keys_are_normalised():
    """String statuses from TOML become ints; classes are lower-cased."""
    policy = Policy(statuses={"429": Retry(), "5XX": Retry()})
    assert set(policy.statuses) == {429, "5xx"}


def test_exact_status_beats_class_and_codes_beat_status():
    """Lookup order is code, exact status, then status class."""
    policy = Policy(
        statuses={500: Retry("exact", attempts=2), "5xx": Retry("class")},
        codes={"insufficient_quota": Fail("billing")},
    )
    assert policy.rule_for_status(500) == (500, Retry("exact", attempts=2))
    assert policy.rule_for_status(503) == ("5xx", Retry("class"))
    assert policy.rule_for_status(404) is None
    assert policy.rule_for_codes(("rate_limit_exceeded", "insufficient_quota")) == (
        "insufficient_quota",
        Fail("billing"),
    )
    assert policy.rule_for_codes(("other",)) is None


def test_evolve_merges_rule_tables_and_replaces_the_rest():
    """evolve() merges rules key by key and validates the result."""
    base = Policy(statuses={429: Retry(), 500: Retry()}, attempts=5)
    changed = base.evolve(statuses={500: Fail("no")}, attempts=2)
    assert changed.statuses == {429: Retry(), 500: Fail("no")}
    assert changed.attempts == 2
    assert base.attempts == 5
    assert base.statuses[500] == Retry()
    with pytest.raises(PolicyError, match="unknown policy setting atempts"):
        base.evolve(atempts=2)
    with pytest.raises(PolicyError, match="attempts must be"):
        base.evolve(attempts=0)


def test_equal_policies_hash_equal():
    """Policies are values: equal content means equal and same hash."""
    one = Policy(statuses={429: Retry()}, codes={"x": Fail()})
    two = Policy(statuses={429: Retry()}, codes={"x": Fail()})
    assert one == two
    assert hash(one) == hash(two)
    assert one != one.evolve(attempts=2)


def test_exception_rules_match_subclasses():
    """Exception-class rules use isinstance, in declaration order."""
    policy = Policy(exceptions={LookupError: Retry("lookup"), ValueError: Fail("value")})
    assert policy.rule_for_exception(KeyError("k")) == ("LookupError", Retry("lookup"))
    assert policy.rule_for_exception(TypeError()) is None


def test_backoff_ceiling_and_jitter_modes():
    """The ceiling doubles from base up to cap; jitter modes draw from the documented ranges."""
    backoff = Backoff(base=1, cap=10)
    assert [backoff.ceiling(n) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert backoff.ceiling(10_000) == 10
    assert backoff.compute(2, 0.5) == 2.0
    assert Backoff(base=1, cap=10, jitter="equal").compute(2, 0.5) == 3.0
    assert Backoff(base=1, cap=10, jitter="none").compute(2, 0.1) == 4.0
