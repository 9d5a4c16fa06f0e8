"""The circuit state machine, driven with explicit times: no I/O, no clock, no threads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_retry import PolicyError
from llm_retry.decide.breaker import CLOSED, BreakerState, CircuitSettings, admit, force, record

CFG = CircuitSettings(failures=3, break_duration=10)


def fail(s, now, cfg=CFG, probe=False):
    """Record a failure."""
    return record(s, "failure", probe=probe, now=now, cfg=cfg, reason="503")


def test_opens_after_n_consecutive_failures():
    """Three consecutive failures open it; a success in between resets the count."""
    s, _ = fail(CLOSED, 0)
    s, _ = fail(s, 1)
    s, _ = record(s, "success", probe=False, now=2, cfg=CFG)
    assert s.failures == 0
    for t in (3, 4):
        s, change = fail(s, t)
        assert change is None
    s, change = fail(s, 5)
    assert s.state == "open"
    assert s.open_until == 15
    assert (change.before, change.after, change.failures) == ("closed", "open", 3)
    assert "3 consecutive failures; last: 503" in change.reason


def test_open_rejects_until_the_break_is_over_then_admits_one_probe():
    """While open, calls are rejected with the time left; then exactly one probe goes."""
    s = BreakerState("open", 3, open_until=15)
    admission, s2, change = admit(s, 12, CFG)
    assert (admission.allowed, admission.retry_in, change) == (False, 3, None)
    admission, s3, change = admit(s2, 15, CFG)
    assert (admission.allowed, admission.probe, s3.state) == (True, True, "half_open")
    assert change.after == "half_open"
    admission, s4, _ = admit(s3, 15.5, CFG)
    assert (admission.allowed, admission.reason, s4.probes) == (False, "probe in flight", 1)


def test_probe_success_closes_and_probe_failure_reopens():
    """A successful probe closes the circuit; a failed one opens it for another break."""
    half = BreakerState("half_open", 3, open_until=25, probes=1)
    closed, change = record(half, "success", probe=True, now=16, cfg=CFG)
    assert closed == CLOSED
    assert (change.before, change.after) == ("half_open", "closed")
    reopened, change = fail(half, 16, probe=True)
    assert (reopened.state, reopened.open_until, reopened.reopens) == ("open", 26, 1)
    assert change.reason == "probe failed: 503"


def test_k_probes_must_all_succeed():
    """With half_open_probes=3, three probes are admitted and all three must succeed."""
    cfg = CircuitSettings(failures=1, break_duration=5, half_open_probes=3)
    s = BreakerState("open", 1, open_until=5)
    admitted = 0
    for _ in range(10):
        admission, s, _ = admit(s, 6, cfg)
        admitted += admission.allowed
    assert admitted == 3
    for n in range(2):
        s, change = record(s, "success", probe=True, now=7, cfg=cfg)
        assert (s.state, s.probe_successes, change) == ("half_open", n + 1, None)
    s, change = record(s, "success", probe=True, now=7, cfg=cfg)
    assert s == CLOSED


def test_break_grows_on_repeated_reopening_up_to_the_maximum():
    """With max_break_duration, each re-opening doubles the break, capped."""
    cfg = CircuitSettings(failures=1, break_duration=10, max_break_duration=35)
    assert [cfg.break_for(n) for n in range(4)] == [10, 20, 35, 35]
    s, _ = fail(CLOSED, 0, cfg)
    assert s.open_until == 10
    now = 10
    for expected in (20, 35, 35):
        _, s, _ = admit(s, now, cfg)
        s, _ = fail(s, now, cfg, probe=True)
        assert s.open_until - now == expected
        now = s.open_until


def test_account_errors_trip_at_once():
    """A trip outcome opens the circuit at once; turned off, it counts as one failure."""
    s, change = record(CLOSED, "trip", probe=False, now=0, cfg=CFG, reason="402")
    assert s.state == "open"
    assert change.reason == "402"
    calm = CircuitSettings(trip_on_account_errors=False)
    counted, change = record(CLOSED, "trip", probe=False, now=0, cfg=calm)
    assert (counted.state, counted.failures, change) == ("closed", 1, None)


def test_ignored_outcomes_do_not_count_but_release_a_probe():
    """An ignored outcome changes nothing while closed and frees the probe slot when probing."""
    assert record(CLOSED, "ignore", probe=False, now=0, cfg=CFG) == (CLOSED, None)
    half = BreakerState("half_open", open_until=20, probes=1)
    s, change = record(half, "ignore", probe=True, now=1, cfg=CFG)
    assert (s.state, s.probes, change) == ("half_open", 0, None)


def test_failure_rate_over_a_count_window_with_minimum_calls():
    """The rate rule waits for min_calls, then opens at the threshold."""
    cfg = CircuitSettings(failures=100, failure_rate=0.5, window=4, min_calls=4)
    s = CLOSED
    for t, outcome in enumerate(["success", "failure", "success"]):
        s, change = record(s, outcome, probe=False, now=t, cfg=cfg)
        assert change is None
    s, change = record(s, "failure", probe=False, now=3, cfg=cfg)
    assert s.state == "open"
    assert "failure rate 2/4 reached 0.5" in change.reason


def test_failure_rate_over_a_time_window_forgets_old_calls():
    """A time window only counts calls younger than window_seconds."""
    cfg = CircuitSettings(failures=100, failure_rate=0.5, window_seconds=10, min_calls=2)
    s, _ = record(CLOSED, "failure", probe=False, now=0, cfg=cfg)
    s, _ = record(s, "success", probe=False, now=20, cfg=cfg)
    assert len(s.window) == 1
    s, change = record(s, "success", probe=False, now=21, cfg=cfg)
    assert change is None


def test_a_silent_probe_is_replaced_after_a_break():
    """If a probe never reports (its process died), another is admitted after a break."""
    half = BreakerState("half_open", open_until=20, probes=1)
    assert not admit(half, 19, CFG)[0].allowed
    admission, s, _ = admit(half, 20, CFG)
    assert admission.probe
    assert s.open_until == 30


def test_stale_results_do_not_move_the_state():
    """Results of calls admitted before the state changed are ignored."""
    opened = BreakerState("open", open_until=50)
    assert record(opened, "success", probe=False, now=1, cfg=CFG) == (opened, None)
    half = BreakerState("half_open", open_until=50, probes=1)
    assert record(half, "failure", probe=False, now=1, cfg=CFG) == (half, None)
    assert record(CLOSED, "success", probe=True, now=1, cfg=CFG) == (CLOSED, None)


def test_manual_open_close_reset():
    """force() opens for a break, closes, and resets."""
    s, change = force(CLOSED, "open", 0, CFG, "maintenance")
    assert (s.state, s.open_until, change.reason) == ("open", 10, "maintenance")
    s2, change = force(s, "close", 1, CFG, "done")
    assert (s2, change.after) == (CLOSED, "closed")
    assert force(CLOSED, "reset", 1, CFG, "reset") == (CLOSED, None)


def test_state_round_trips_through_json():
    """States survive the JSON codec used by shared stores."""
    s = BreakerState("half_open", 2, 12.5, 1, 1, 0, ((1.0, True), (2.0, False)), "503")
    assert BreakerState.from_json(s.to_json()) == s


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failures": 0}, "failures must be a whole number >= 1"),
        ({"break_duration": -1}, "circuit break_duration must be >= 0, not -1"),
        ({"break_duration": float("inf")}, "break_duration must be a finite number, not inf"),
        ({"max_break_duration": 1e12}, "max_break_duration must be at most 31622400 seconds"),
        ({"half_open_probes": 0}, "half_open_probes must be a whole number >= 1"),
        ({"failure_rate": 1.5}, "failure_rate must be > 0 and <= 1, not 1.5"),
        ({"failure_rate": float("nan")}, "failure_rate must be a finite number, not nan"),
    ],
)
def test_settings_are_validated(kwargs, message):
    """Impossible settings raise PolicyError."""
    with pytest.raises(PolicyError, match=message):
        CircuitSettings(**kwargs)


def test_unknown_settings_are_named():
    """from_mapping names unknown keys."""
    with pytest.raises(PolicyError, match="unknown circuit setting failurs"):
        CircuitSettings.from_mapping({"failurs": 3})


outcomes = st.lists(st.sampled_from(["success", "failure", "ignore", "trip"]), max_size=60)


@given(outcomes, st.integers(min_value=1, max_value=4))
def test_probes_admitted_never_exceed_k_per_break(events, k):
    """Whatever happens, a half-open circuit never admits more than K probes at once."""
    cfg = CircuitSettings(failures=2, break_duration=1, half_open_probes=k)
    s, now, in_flight = CLOSED, 0.0, 0
    for outcome in events:
        now += 0.5
        admission, s, _ = admit(s, now, cfg)
        if admission.probe:
            in_flight += 1
        assert s.state != "half_open" or s.probes <= k
        s, _ = record(s, outcome, probe=admission.probe, now=now, cfg=cfg)
        if admission.probe:
            in_flight -= 1
        assert s.state in ("closed", "open", "half_open")
