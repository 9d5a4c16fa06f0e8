"""The Redis store against a real redis-server: shared circuits across processes, outages."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import redis

from helpers import run_python
from llm_retry import CircuitOpenError, circuit
from llm_retry.decide.breaker import BreakerState
from llm_retry.stores import JSONCodec, MemoryStore, RedisStore
from llm_retry.testing import capture_events

CODEC = JSONCodec(BreakerState.to_json, BreakerState.from_json)


class Down(Exception):
    """A 503."""

    status_code = 503


def last_line(code: str, *args: str) -> str:
    """Run Python code in a separate process and return the last line it printed."""
    printed = run_python("-c", code, *args, timeout=120)
    return printed.strip().splitlines()[-1]  # events are printed before the answer


TRIP = """
import sys
from llm_retry import circuit
from llm_retry.stores import RedisStore
breaker = circuit("shared", store=RedisStore(sys.argv[1]), failures=2)
class Down(Exception):
    status_code = 503
@breaker
def call():
    raise Down()
for _ in range(2):
    try:
        call()
    except Down:
        pass
print(breaker.state().state)
"""


def test_a_circuit_tripped_in_one_process_is_open_in_another(redis_server):
    """Another process trips the circuit; this one sees it open and is rejected."""
    assert last_line(TRIP, redis_server.url).strip() == "open"
    breaker = circuit("shared", store=RedisStore(redis_server.url), failures=2)
    calls = []
    with pytest.raises(CircuitOpenError) as caught:
        breaker(lambda: calls.append(1))()
    assert calls == []
    assert caught.value.retry_in is not None
    assert 0 < caught.value.retry_in <= 60
    assert "2 consecutive failures" in caught.value.reason


PROBE = """
import sys, threading, time
from llm_retry import CircuitOpenError, circuit
from llm_retry.stores import RedisStore
breaker = circuit("race", store=RedisStore(sys.argv[1]), half_open_probes=int(sys.argv[2]))
start_at = float(sys.argv[3])
gate = threading.Event()
probes = []
@breaker
def call():
    probes.append(1)
    gate.wait(20)
def caller():
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        call()
    except CircuitOpenError:
        pass
threads = [threading.Thread(target=caller) for _ in range(25)]
for t in threads:
    t.start()
time.sleep(max(0, start_at - time.time()) + 1.0)
gate.set()
for t in threads:
    t.join()
print(len(probes))
"""


@pytest.mark.parametrize("k", [1, 3])
def test_half_open_probe_count_holds_across_processes(redis_server, k):
    """Four processes of 25 threads race a half-open Redis circuit: exactly K probes in all."""
    store = RedisStore(redis_server.url)
    circuit("race", store=store, break_duration=0.5).open()  # probes allowed well before start_at
    start_at = str(time.time() + 2.0)
    procs = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", PROBE, redis_server.url, str(k), start_at],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    counts = [int(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert sum(counts) == k
    assert circuit("race", store=store).state().state == "closed"


def test_concurrent_updates_are_atomic(redis_server):
    """Forty threads each adding one through update() lose no increment (compare-and-set)."""
    store = RedisStore(redis_server.url)
    codec = JSONCodec(lambda n: n, int)

    def add() -> None:
        for _ in range(10):
            store.update("counter", lambda n: (None, n + 1), 0, codec)

    threads = [threading.Thread(target=add) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.peek("counter", codec) == 400


def test_redis_killed_mid_run_leaves_calls_working(redis_server):
    """With Redis gone, calls go on with local state and one warning; its return is noticed."""
    store = RedisStore(redis_server.url, retry_interval=0.0)
    breaker = circuit("svc", store=store, failures=3)
    calls = []

    @breaker
    def ok() -> str:
        calls.append(1)
        return "ok"

    @breaker
    def down() -> None:
        raise Down

    with capture_events() as events:
        assert ok() == "ok"
        redis_server.stop()
        for _ in range(5):
            assert ok() == "ok"
        for _ in range(3):
            with pytest.raises(Down):
                down()
        with pytest.raises(CircuitOpenError):
            ok()
        redis_server.start()
        assert ok() == "ok"
    assert len(calls) == 7
    names = [e["event"] for e in events]
    assert names.count("llm_retry.store_unavailable") == 1
    assert names.count("llm_retry.store_recovered") == 1
    warning = next(e for e in events if e["event"] == "llm_retry.store_unavailable")
    assert warning["log_level"] == "warning"
    assert warning["fallback"] == "last known state, kept in this process"
    assert store.available
    assert breaker.state().state == "closed"


def test_a_redis_error_never_replaces_the_callers_error(redis_server):
    """A read-only Redis (any RedisError) falls back to local state; the API error comes out."""
    admin = redis.Redis.from_url(redis_server.url)
    admin.execute_command("REPLICAOF", "127.0.0.1", "1")  # writes now fail with READONLY
    breaker = circuit("svc", store=RedisStore(redis_server.url), failures=2)

    @breaker
    def down() -> None:
        raise Down

    with capture_events() as events:
        for _ in range(2):
            with pytest.raises(Down):
                down()
        with pytest.raises(CircuitOpenError):
            down()
    admin.close()
    unavailable = [e for e in events if e["event"] == "llm_retry.store_unavailable"]
    assert len(unavailable) == 1
    assert unavailable[0]["error"] == "ReadOnlyError"


def test_local_state_is_dropped_when_redis_returns(redis_server):
    """State kept locally during one outage does not come back in the next one."""
    store = RedisStore(redis_server.url, retry_interval=0.0)
    breaker = circuit("svc", store=store, failures=1)
    redis_server.stop()
    breaker.open(reason="opened while redis was down")
    assert breaker.state().state == "open"
    redis_server.start()
    assert breaker.state().state == "closed"
    redis_server.stop()
    assert breaker.state().state == "closed"


def test_circuit_names_with_colons_do_not_collide():
    """Circuit 'a:b' and circuit 'a' with key 'b' are different circuits."""
    store = MemoryStore()
    circuit("a:b", store=store).open()
    keyed = circuit("a", store=store, key=lambda k: k)
    assert keyed.state("b").state == "closed"
    assert keyed.state("b:").state == "closed"
    assert circuit("a:b", store=store).state().state == "open"
