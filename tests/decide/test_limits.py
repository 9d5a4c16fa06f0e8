"""The adaptive concurrency limit and the rate windows: arithmetic, admission, Redis parity."""

from __future__ import annotations

import uuid

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_retry.decide import limits
from llm_retry.decide.limits import LimitSettings, decreased, increased, signal, slots
from llm_retry.errors import PolicyError
from llm_retry.run.admission import KeyAdmission, LocalLimits, Pass
from llm_retry.stores import RedisStore
from llm_retry.stores.redis_limits import RedisLimits

CFG = LimitSettings(initial=10, min=1, max=50, backoff=0.9)


# -- arithmetic ----------------------------------------------------------------------------
@given(
    limit=st.floats(1, 50),
    k=st.integers(0, 200),
    low=st.integers(1, 10),
    span=st.integers(0, 100),
    backoff=st.floats(0.5, 0.99),
)
def test_a_decrease_stays_in_bounds_and_lowers_the_limit(limit, k, low, span, backoff):
    cfg = LimitSettings(initial=low, min=low, max=low + span, backoff=backoff)
    limit = min(max(limit, cfg.min), cfg.max)
    new = decreased(limit, k, cfg)
    assert cfg.min <= new <= cfg.max
    assert new <= limit  # a drop never raises the limit
    if limit > cfg.min:
        assert new < limit  # ... and lowers it unless it is at the floor
    assert slots(new) >= 1  # never starves: one attempt is always let through


@given(limit=st.floats(1, 50), grown=st.integers(0, 10_000), full=st.booleans())
def test_an_increase_is_additive_bounded_and_only_when_the_limit_is_used(limit, grown, full):
    new, count = increased(limit, grown, full, CFG)
    assert count == grown + 1
    assert limit <= new <= max(limit, CFG.max)
    assert new - limit <= 1.0 / max(limit, 1.0) + 1e-12  # at most one slot per limit-full
    if not full:
        assert new == limit  # a limit the caller does not reach is not raised


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(["admit", "ok", "drop", "fail"]), st.integers(0, 60))))
def test_any_sequence_keeps_the_limit_in_bounds_and_lets_one_through(ops):
    state = LocalLimits(CFG)
    held: list[Pass] = []
    for op, k in ops:
        if op == "admit":
            ticket = Pass()
            if state.admit(1.0, 1.0, ticket, CFG) == 0:
                held.append(ticket)
        elif held:
            ticket = held.pop(k % len(held))
            state.release(ticket, op == "ok", CFG)
            if op == "drop":
                state.learn(ticket, "concurrency", (None, None), 1.0, CFG)
        assert CFG.min <= state.limit <= CFG.max
        assert state.inflight == len(held)
    for ticket in held:
        state.release(ticket, True, CFG)
    assert state.admit(1.0, 1.0, Pass(), CFG) == 0  # with nothing in flight, one always goes


def test_one_burst_of_refusals_is_one_decrease():
    state = LocalLimits(CFG)
    tickets = [Pass() for _ in range(10)]
    for ticket in tickets:
        assert state.admit(1.0, 1.0, ticket, CFG) == 0
    for ticket in tickets[5:]:  # the server held five: the sixth and later were refused
        state.release(ticket, False, CFG)
        state.learn(ticket, "concurrency", (1.0, None), 1.0, CFG)
    assert state.limit == 5  # what the server was seen to hold (the 6th in flight was refused)


def test_signals_tell_rate_limits_from_concurrency_limits_and_overloads():
    rate = {"x-ratelimit-remaining-requests": "0", "retry-after": "1"}
    assert signal(429, None, True, rate) == "rate"
    assert signal(429, None, True, {"anthropic-ratelimit-requests-remaining": "0"}) == "rate"
    assert signal(429, None, True, {"retry-after": "1"}) == "concurrency"
    assert signal(503, None, True, None) == "overload"
    assert signal(None, "overloaded_error", True, None) == "overload"
    assert signal(429, "insufficient_quota", False, None) == "ignore"  # billing, not a limit
    assert signal(500, None, True, None) == "ignore"


def test_settings_are_checked():
    with pytest.raises(PolicyError, match="min <= initial <= max"):
        LimitSettings(initial=5, min=6)
    with pytest.raises(PolicyError, match="backoff"):
        LimitSettings(backoff=1.0)
    with pytest.raises(PolicyError, match="unknown limits setting inital"):
        LimitSettings.from_mapping({"inital": 3})


# -- rate windows --------------------------------------------------------------------------
def test_a_rate_refusal_measures_the_quota_and_opens_windows():
    state = LocalLimits(CFG)
    sent = [Pass() for _ in range(8)]
    for ticket in sent:
        assert state.admit(100.0, 100.0, ticket, CFG) == 0
    for ticket in sent[5:]:  # the server admitted five in its window
        state.release(ticket, False, CFG)
        state.learn(ticket, "rate", (1.0, None), 100.01, CFG)
    assert state.quota == 5
    waits = [state.admit(100.02, 100.02, Pass(), CFG) for _ in range(6)]
    assert waits[:5] == [pytest.approx(0.99)] * 5  # the first window opens when told
    assert waits[5] == pytest.approx(1.99)  # the sixth goes in the next one


def test_an_overload_lowers_the_concurrency_limit_not_the_rate():
    state = LocalLimits(CFG)
    ticket = Pass()
    state.admit(1.0, 1.0, ticket, CFG)
    state.learn(ticket, "overload", (None, None), 1.0, CFG)
    assert state.quota == 0  # no rate windows: recovery is not a crawl at one request a second
    assert state.limit == pytest.approx(9.0)


# -- the line --------------------------------------------------------------------------------
def test_callers_over_the_limit_are_served_first_come_first_served():
    cfg = LimitSettings(initial=2, min=1, max=2)
    gate = KeyAdmission("k", LocalLimits(cfg))
    running = [gate.admit(1.0, 1.0, None, cfg)[1] for _ in range(2)]
    waiting = [gate.admit(1.0, 1.0, None, cfg) for _ in range(5)]
    assert all(delay > 0 for delay, _ in waiting)
    order = []
    for _ in range(5):
        gate.settle(running.pop(0), True, cfg, 0.1)
        for _, ticket in waiting:  # everyone asks again; only the first in line may go
            if ticket.admitted or ticket in order:
                continue
            if gate.admit(1.1, 1.1, ticket, cfg)[0] == 0:
                order.append(ticket)
                running.append(ticket)
    assert order == [ticket for _, ticket in waiting]  # nobody overtakes, nobody starves


# -- Redis: the same arithmetic, shared ----------------------------------------------------
OPS = st.lists(
    st.tuples(
        st.sampled_from(["admit", "ok", "drop", "overload", "rate", "fail"]), st.integers(0, 9)
    ),
    max_size=40,
)


@pytest.fixture
def redis_store(redis_server):
    store = RedisStore(redis.Redis.from_url(redis_server.url), prefix=f"t{uuid.uuid4().hex}:")
    yield store
    store.client.close()


def _replay(state, ops):
    held: list[Pass] = []
    now = 1000.0
    trace = []
    for op, n in ops:
        now += 0.01 * n
        if op == "admit":
            ticket = Pass()
            found = state.admit(now, now, ticket, CFG)
            trace.append(("admit", None if found is None else round(found, 6)))
            if found == 0:
                held.append(ticket)
        elif held:
            ticket = held.pop(n % len(held))
            state.release(ticket, op == "ok", CFG)
            if op in ("drop", "overload", "rate"):
                sig = "concurrency" if op == "drop" else op
                state.learn(
                    ticket,
                    sig,
                    (1.0, 0.5 if n % 2 else None) if op == "rate" else (None, None),
                    now,
                    CFG,
                )
        snap = state.snapshot()
        trace.append((round(snap["limit"], 9), int(snap["inflight"]), int(snap["quota"])))
    return trace


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_the_redis_script_does_what_the_local_state_does(redis_server, ops):
    store = RedisStore(redis.Redis.from_url(redis_server.url), prefix=f"t{uuid.uuid4().hex}:")
    try:
        shared = RedisLimits(store, "parity", LocalLimits(CFG))
        assert _replay(shared, ops) == _replay(LocalLimits(CFG), ops)
    finally:
        store.client.close()


def test_processes_share_one_limit_through_redis(redis_store):
    """Two processes' backends on one key: in flight counts add up, a drop lowers both."""
    first = RedisLimits(redis_store, "shared", LocalLimits(CFG))
    port = redis_store.client.connection_pool.connection_kwargs["port"]
    other = RedisStore(redis.Redis(port=port), prefix=redis_store.prefix)  # another client
    second = RedisLimits(other, "shared", LocalLimits(CFG))
    tickets = []
    for backend in [first, second] * 5:
        ticket = Pass()
        assert backend.admit(1.0, 1.0, ticket, CFG) == 0
        tickets.append(ticket)
    assert first.admit(1.0, 1.0, Pass(), CFG) is None  # ten in flight between them: full
    second.release(tickets[-1], False, CFG)
    second.learn(tickets[-1], "concurrency", (None, None), 1.0, CFG)
    assert first.snapshot()["limit"] == pytest.approx(9.0)
    assert limits.slots(first.snapshot()["limit"]) == 9


def test_without_redis_admission_goes_on_with_local_state(redis_server):
    """Redis down: passes are admitted and released locally, with one warning event."""
    from llm_retry.testing import capture_events  # noqa: PLC0415

    store = RedisStore(redis.Redis(port=redis_server.port, socket_timeout=0.5))
    shared = RedisLimits(store, "down", LocalLimits(CFG))
    ticket = Pass()
    assert shared.admit(1.0, 1.0, ticket, CFG) == 0
    assert not ticket.local
    redis_server.stop()
    with capture_events() as events:
        passes = [Pass() for _ in range(3)]
        assert [shared.admit(2.0, 2.0, p, CFG) for p in passes] == [0, 0, 0]
    assert all(p.local for p in passes)
    assert shared.local.inflight == 3
    for p in passes:
        shared.release(p, True, CFG)
    assert shared.local.inflight == 0
    assert [e["event"] for e in events] == ["llm_retry.store_unavailable"]
