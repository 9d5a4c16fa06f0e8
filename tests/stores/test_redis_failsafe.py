"""The Redis store fails safe: a busy pool is not an outage, an outage forgets nothing, async
callers never wait on a socket. Against a real redis-server; thread counts kept small here
(``benchmarks/bench_redis.py`` runs the 300- and 1,000-thread versions)."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable

import pytest
import redis
import redis.asyncio

from helpers import HTTPError
from llm_retry import Backoff, CircuitOpenError, Policy, Retry, budget, circuit, llm_retry
from llm_retry.run import clock as _clock
from llm_retry.stores import JSONCodec, RedisStore
from llm_retry.testing import capture_events, no_wait
from redis_server import RedisServer

COUNT: JSONCodec[int] = JSONCodec(lambda n: n, int)


class Down(Exception):
    """A 503."""

    status_code = 503


def race(call: object, threads: int) -> tuple[int, int]:
    """``threads`` threads call ``call`` at once; calls that got in block until all have tried.

    Returns (admitted, rejected).
    """
    admitted, rejected, arrived, gate = [], [], threading.Semaphore(0), threading.Event()

    def inside() -> None:
        admitted.append(1)
        arrived.release()
        gate.wait(30)

    wrapped = call(inside)  # type: ignore[operator]
    start = threading.Barrier(threads)

    def caller() -> None:
        start.wait(30)
        try:
            wrapped()
        except CircuitOpenError:
            rejected.append(1)
            arrived.release()

    pool = [threading.Thread(target=caller) for _ in range(threads)]
    for t in pool:
        t.start()
    for _ in range(threads):
        assert arrived.acquire(timeout=30)
    gate.set()
    for t in pool:
        t.join(30)
    return len(admitted), len(rejected)


def test_an_open_circuit_admits_no_call_from_more_threads_than_the_pool_holds(redis_server):
    """120 threads on a forced-open circuit, a pool of 8 connections: all are rejected."""
    store = RedisStore(redis_server.url, max_connections=8)
    breaker = circuit("forced", store=store, break_duration=60)
    breaker.open()
    with capture_events() as events:
        assert race(breaker, 120) == (0, 120)
    assert store.available
    assert not [e for e in events if e["event"] == "llm_retry.store_unavailable"]


def test_a_full_plain_pool_is_busy_not_down_and_keeps_the_circuit_open(redis_server):
    """A plain redis-py pool at its limit raises MaxConnectionsError: busy, answered from the
    last known state (open), and Redis is not given up on."""
    client = redis.Redis.from_url(redis_server.url, max_connections=1)
    store = RedisStore(client)
    breaker = circuit("plain", store=store, break_duration=60)
    breaker.open()
    held = client.connection_pool.get_connection()  # the one connection is in use
    try:
        with capture_events() as events, pytest.raises(CircuitOpenError):
            breaker(lambda: None)()
    finally:
        client.connection_pool.release(held)
    names = [e["event"] for e in events]
    assert "llm_retry.store_busy" in names
    assert "llm_retry.store_unavailable" not in names
    assert store.available
    client.close()


def test_a_full_blocking_pool_waits_a_bounded_time_then_answers_busy(redis_server):
    """Every connection of a URL-built store in use: the call waits ``pool_timeout``, then is
    answered from the last known state without writing."""
    store = RedisStore(redis_server.url, max_connections=1, pool_timeout=0.05)
    store.update("n", lambda n: (None, n + 1), 0, COUNT)
    held = store.client.connection_pool.get_connection()
    try:
        with capture_events() as events:
            started = time.monotonic()
            assert store.update("n", lambda n: (n, n + 1), 0, COUNT) == 1
            waited = time.monotonic() - started
    finally:
        store.client.connection_pool.release(held)
    assert 0.04 <= waited < 1.0
    assert store.peek("n", COUNT) == 1  # nothing was written while busy
    assert [e["event"] for e in events] == ["llm_retry.store_busy"]
    store.close()


def test_a_busy_store_lets_no_more_probes_through_than_k(redis_server):
    """While the pool stays full, calls after the break are answered from the last known
    state, and a probe let through that way counts: 20 threads racing get one probe."""
    clock = _clock.VirtualClock()
    _clock.use(clock)
    store = RedisStore(redis_server.url, max_connections=1, pool_timeout=0.01)
    breaker = circuit("busy-probes", store=store, break_duration=30)
    breaker.open()
    clock.advance(31)
    held = store.client.connection_pool.get_connection()
    try:
        with capture_events() as events:
            assert race(breaker, 20) == (1, 19)
    finally:
        store.client.connection_pool.release(held)
    assert "llm_retry.store_busy" in [e["event"] for e in events]
    store.close()


@pytest.mark.parametrize("k", [1, 3])
def test_a_half_open_race_of_200_threads_admits_exactly_k_probes(redis_server, k):
    """The break is over; 200 threads race for the probes: exactly K get in."""
    store = RedisStore(redis_server.url)
    breaker = circuit("probes", store=store, break_duration=30, half_open_probes=k)
    real = _clock.use(_clock.VirtualClock(wall_start=time.time() - 31))
    breaker.open()  # 31 s ago
    _clock.use(real)
    assert race(breaker, 200) == (k, 200 - k)  # on the real clock
    assert breaker.state().state == "closed"


def test_a_store_error_keeps_an_open_circuit_open(redis_server):
    """Redis dies while the circuit is open: calls are still rejected, until the break ends."""
    clock = _clock.VirtualClock()
    _clock.use(clock)
    store = RedisStore(redis_server.url, retry_interval=0.0)
    breaker = circuit("kept", store=store, break_duration=30)
    breaker.open(reason="provider down")
    redis_server.stop()
    calls = []
    with capture_events() as events:
        for _ in range(3):
            with pytest.raises(CircuitOpenError) as caught:
                breaker(lambda: calls.append(1))()
        assert "provider down" in caught.value.reason
        clock.advance(31)
        breaker(lambda: calls.append(1))()  # the break is over: one probe, locally
    assert calls == [1]
    assert [e["event"] for e in events].count("llm_retry.store_unavailable") == 1
    assert not store.available


def test_a_circuit_opened_elsewhere_stays_open_when_redis_goes(redis_server):
    """State read from Redis (opened by another client) is what an outage goes on with."""
    other = RedisStore(redis_server.url)
    circuit("elsewhere", store=other, break_duration=60).open()
    store = RedisStore(redis_server.url, retry_interval=0.0)
    breaker = circuit("elsewhere", store=store, break_duration=60)
    assert breaker.state().state == "open"  # read once from Redis
    redis_server.stop()
    with pytest.raises(CircuitOpenError):
        breaker(lambda: None)()
    assert breaker.state().state == "open"


def test_an_update_that_keeps_losing_the_race_is_bounded(redis_server):
    """Another writer changes the key between every read and write: after ``max_tries``
    rounds the update stops, answers from what it last saw, and writes nothing."""
    store = RedisStore(redis_server.url, max_tries=5)
    rival = redis.Redis.from_url(redis_server.url)
    rounds = []

    def step(n: int) -> tuple[int, int]:
        rounds.append(n)
        rival.incr(store.prefix + "contended")  # someone else wins every round
        return n, n + 100

    with capture_events() as events:
        store.update("contended", step, 0, COUNT)
    assert len(rounds) == 6  # five lost rounds, then the answer from the last value seen
    assert int(rival.get(store.prefix + "contended")) == 6
    assert [e["event"] for e in events] == ["llm_retry.store_busy"]
    assert store.available
    rival.close()


COUNTER = """
import sys, threading
from llm_retry.stores import JSONCodec, RedisStore
store, codec = RedisStore(sys.argv[1], timeout=5), JSONCodec(lambda n: n, int)
def add():
    for _ in range(25):
        store.update("shared-counter", lambda n: (None, n + 1), 0, codec)
threads = [threading.Thread(target=add) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(store.available, store.failover.busy_calls)
"""


def test_updates_from_four_processes_lose_nothing(redis_server):
    """Four processes of eight threads add 25 each to one key: the compare-and-set races
    across processes lose no increment, except those answered as busy (an update that lost
    ``max_tries`` rounds in a row: rare, and counted)."""
    procs = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", COUNTER, redis_server.url], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    reports = [p.communicate(timeout=120)[0].split() for p in procs]
    assert [available for available, _ in reports] == ["True"] * 4
    busy = sum(int(calls) for _, calls in reports)
    assert busy <= 40  # of 800: answering busy is the bound, not the rule
    assert RedisStore(redis_server.url).peek("shared-counter", COUNT) == 4 * 8 * 25 - busy


# -- async ---------------------------------------------------------------------------------


def client_names(url: str) -> set[str]:
    """The names of the clients connected to the server."""
    admin = redis.Redis.from_url(url)
    try:
        return {c["name"] for c in admin.client_list() if c["name"]}
    finally:
        admin.close()


def test_async_circuits_use_the_asyncio_client(redis_server):
    """An async circuit reads and writes through redis.asyncio; the sync client stays idle."""
    sync = redis.Redis.from_url(redis_server.url, client_name="llm-sync")
    store = RedisStore(
        sync,
        async_client=lambda: redis.asyncio.Redis.from_url(
            redis_server.url, client_name="llm-async"
        ),
    )
    breaker = circuit("aio", store=store, failures=2)

    @breaker
    async def down() -> None:
        raise Down

    async def main() -> set[str]:
        for _ in range(2):
            with pytest.raises(Down):
                await down()
        with pytest.raises(CircuitOpenError):
            await down()
        names = client_names(redis_server.url)
        await store.aclose()
        return names

    names = asyncio.run(main())
    assert "llm-async" in names
    assert "llm-sync" not in names
    assert breaker.state().state == "open"
    sync.close()


ONCE = llm_retry(attempts=1)  # in the stack, not retrying: a retry would wait out the break
STACKS = {
    "circuit": lambda c: c,
    "retry + circuit": lambda c: lambda f: ONCE(c(f)),
    "budget + retry + circuit": lambda c: lambda f: budget(total=30, key="k")(ONCE(c(f))),
}


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_async_callers_of_a_fresh_process_find_an_open_circuit_open(redis_server, stack):
    """Another process opened the circuit; 50 coroutines of a process that never read it call
    at once, through each stack: none gets in (each admission awaits Redis, none is answered
    from a local state that knows nothing yet)."""
    circuit("fresh", store=RedisStore(redis_server.url), break_duration=60).open()
    store = RedisStore(redis_server.url, timeout=5)  # a loaded machine is not an outage here
    entered = []

    @STACKS[stack](circuit("fresh", store=store, break_duration=60))
    async def call() -> None:
        entered.append(1)

    async def main() -> list[object]:
        found = await asyncio.gather(*(call() for _ in range(50)), return_exceptions=True)
        await store.aclose()
        return found

    with capture_events():
        results = asyncio.run(main())
    assert entered == []
    assert all(isinstance(r, CircuitOpenError) for r in results), results[:3]
    store.close()


def test_async_budgets_read_blocks_through_the_asyncio_client(redis_server):
    """An async call under a keyed ``@budget`` reads the key's block with redis.asyncio."""
    sync = redis.Redis.from_url(redis_server.url, client_name="llm-sync")
    store = RedisStore(
        sync,
        async_client=lambda: redis.asyncio.Redis.from_url(
            redis_server.url, client_name="llm-async"
        ),
    )

    @budget(total=5, key="tenant-a", store=store)
    @llm_retry
    async def ask() -> str:
        return "ok"

    async def main() -> set[str]:
        assert await ask() == "ok"
        names = client_names(redis_server.url)
        await store.aclose()
        return names

    names = asyncio.run(main())
    assert "llm-async" in names
    assert "llm-sync" not in names
    sync.close()


def test_sync_store_calls_inside_an_event_loop_do_not_wait_on_redis(redis_server):
    """A 429 in an async call under a keyed budget blocks the key (a store write made while
    the retry is planned, in sync code): it reaches Redis through redis.asyncio, in the
    background, and the sync client never connects."""
    sync = redis.Redis.from_url(redis_server.url, client_name="llm-sync")
    store = RedisStore(
        sync,
        async_client=lambda: redis.asyncio.Redis.from_url(
            redis_server.url, client_name="llm-async"
        ),
    )
    failures = [HTTPError(429, {"retry-after": "7"})]

    @budget(total=60, key="tenant-b", store=store)
    @llm_retry(policy=Policy(statuses={429: Retry()}, backoff=Backoff(0, 0), attempts=2))
    async def ask() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    async def main() -> set[str]:
        assert await ask() == "ok"
        names = client_names(redis_server.url)
        await store.aclose()  # waits for the background write
        return names

    with no_wait() as clock:
        names = asyncio.run(main())
    assert clock.waits == [pytest.approx(7.0)]
    assert "llm-async" in names
    assert "llm-sync" not in names
    block = sync.get(store.prefix + "throttle:tenant-b")
    assert block is not None
    assert json.loads(block)[1] == 7.0
    sync.close()


def test_each_loops_client_is_closed_when_the_loop_shuts_down(redis_server):
    """``asyncio.run`` twice without ``aclose``: each loop's connections are closed by the
    loop's shutdown, so none is left for the garbage collector to warn about."""
    store = RedisStore(redis_server.url)
    breaker = circuit("loops", store=store)

    @breaker
    async def ok() -> str:
        return "ok"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            assert asyncio.run(ok()) == "ok"
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert len(store._loops) == 0  # nothing kept for loops that are gone
    store.close()


@pytest.mark.parametrize("decode", [False, True])
def test_the_async_client_is_derived_from_a_sync_client(redis_server, decode):
    """Given a sync client, the async twin connects to the same server and database (and
    decodes replies, or not, as it does)."""
    sync = redis.Redis.from_url(redis_server.url.replace("/0", "/3"), decode_responses=decode)
    store = RedisStore(sync)

    async def main() -> int | None:
        await store.aupdate("n", lambda n: (None, n + 7), 0, COUNT)
        found: int | None = await store.apeek("n", COUNT)
        await store.aclose()
        return found

    assert asyncio.run(main()) == 7
    store.update("n", lambda n: (None, n + 1), 0, COUNT)  # the sync compare-and-set, too
    assert store.peek("n", COUNT) == 8
    sync.close()


async def worst_stall(
    store: RedisStore, coroutines: int, calls: int, before: Callable[[], None] = lambda: None
) -> float:
    """The longest the event loop went without running a watchdog coroutine that yields at
    every turn, while ``coroutines`` coroutines make ``calls`` async circuit calls each
    (after a warm-up round, then ``before``)."""
    breaker = circuit("stall", store=store)

    @breaker
    async def op() -> int:
        return 1

    await asyncio.gather(*(op() for _ in range(coroutines)))  # warm up: connections made
    before()
    done, worst = False, 0.0

    async def watchdog() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0)
            now = time.perf_counter()
            worst, last = max(worst, now - last), now

    async def worker() -> None:
        for _ in range(calls):
            await op()

    dog = asyncio.create_task(watchdog())
    await asyncio.gather(*(worker() for _ in range(coroutines)))
    done = True
    await dog
    return worst


def test_a_hung_redis_does_not_stall_the_event_loop(redis_server: RedisServer):
    """Redis frozen (SIGSTOP): 50 coroutines' calls go on with the last known state, and the
    loop is never blocked for anything like the store's socket timeout."""
    store = RedisStore(redis_server.url, timeout=0.5, retry_interval=60)

    async def main() -> tuple[float, float]:
        healthy = await worst_stall(store, 50, 5)
        try:
            hung = await worst_stall(store, 50, 5, before=redis_server.pause)
        finally:
            redis_server.resume()
        await store.aclose()
        return healthy, hung

    with capture_events() as events:
        healthy, hung = asyncio.run(main())
    assert hung < 0.25, (healthy, hung)  # a sync client would block 0.5 s at once
    assert "llm_retry.store_unavailable" in [e["event"] for e in events]
