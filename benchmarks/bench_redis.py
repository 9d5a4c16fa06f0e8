"""The Redis store under load and when Redis hangs: circuits fail safe, the loop never stalls.

The script starts its own ``redis-server`` on a free loopback port (it must be on ``PATH``),
so that it can freeze it (SIGSTOP) and let it run again (SIGCONT). Three measurements:

* **open circuit under threads**: ``--threads`` threads (300) call a circuit forced open
  (``break_duration=60``) at once, through a URL-built `RedisStore` (a ``BlockingConnectionPool``
  of 50) and through a plain ``redis.Redis`` client (redis-py's default pool, which raises
  ``MaxConnectionsError`` past its limit). Calls admitted: must be 0.
* **half-open race**: the break of an open circuit with ``half_open_probes=K`` (3) is over;
  ``--race`` threads (1,000) call at once, and those admitted stay inside until every thread has
  tried. Probes admitted: must be K.
* **per-key memory**: ``--keys`` (99,000) calls, each under its own key, through one
  ``@budget(key=...)``: the throttles kept (at most 10,000) and the memory they hold
  (tracemalloc).
* **event-loop stall**: ``--coroutines`` coroutines (100) each make ``--calls`` async
  ``@circuit`` calls on a `RedisStore` (one ``GET`` each, through ``redis.asyncio``), while a
  watchdog coroutine that yields at every turn of the loop records the longest gap between its
  turns: the worst time the loop was blocked. A warm-up round first makes the loop's client and
  its connections; then Redis is left healthy, or frozen (the store's socket ``timeout`` is
  0.5 s). With 100 coroutines ready at once, one turn of the loop runs a step of each, so even
  the healthy figure is several milliseconds of work, not of waiting. For comparison, the same
  with the coroutines calling the store's sync client themselves, one ``GET`` each until the
  first failure and none after (what the async path did before it had a client of its own).

Run from the repository root::

    python benchmarks/bench_redis.py           # full run, about half a minute
    python benchmarks/bench_redis.py --quick   # smoke run for CI, a few seconds
    python benchmarks/bench_redis.py --json    # the results as JSON instead of text

The exit code is 0 whatever the results: this is a report.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
import redis.asyncio  # imported up front: an import inside the loop would count as a stall
import structlog

import _bench
from llm_retry import CircuitOpenError, circuit
from llm_retry.run import clock as _clock
from llm_retry.stores import RedisStore

K = 3


# -- a redis-server of our own ---------------------------------------------------------------


@contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A fresh redis-server on a free loopback port: its URL and process."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("bench_redis.py needs redis-server on PATH")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    url = f"redis://127.0.0.1:{port}/0"
    try:
        probe = redis.Redis.from_url(url)
        for _ in range(500):
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.01)
        probe.close()
        yield url, proc
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait(10)


# -- threads against a circuit ---------------------------------------------------------------


def race(wrapped_by: Callable[[Callable[[], None]], Callable[[], None]], threads: int) -> int:
    """``threads`` threads call at once; the calls admitted wait until every thread has tried.

    Returns how many were admitted.
    """
    admitted, arrived, gate = [], threading.Semaphore(0), threading.Event()

    def inside() -> None:
        admitted.append(1)
        arrived.release()
        gate.wait(60)

    call = wrapped_by(inside)
    start = threading.Barrier(threads)

    def caller() -> None:
        start.wait(60)
        try:
            call()
        except CircuitOpenError:
            arrived.release()

    pool = [threading.Thread(target=caller) for _ in range(threads)]
    for t in pool:
        t.start()
    for _ in range(threads):
        arrived.acquire(timeout=60)
    gate.set()
    for t in pool:
        t.join(60)
    return len(admitted)


def forced_open(url: str, threads: int) -> dict[str, int]:
    """Calls admitted through a forced-open circuit, per kind of client."""
    plain = redis.Redis.from_url(url)
    stores = {"RedisStore(url)": RedisStore(url), "RedisStore(redis.Redis)": RedisStore(plain)}
    found = {}
    for name, store in stores.items():
        breaker = circuit(f"forced-{name}", store=store, break_duration=60)
        breaker.open()
        found[name] = race(breaker, threads)
    plain.close()
    return found


def half_open(url: str, threads: int) -> int:
    """Probes admitted when ``threads`` threads race a circuit whose break is over.

    The circuit is opened 31 s in the past (on a clock set back for that one call), with a
    30 s break; the race itself runs on the real clock.
    """
    breaker = circuit("race", store=RedisStore(url), break_duration=30, half_open_probes=K)
    real = _clock.use(_clock.VirtualClock(wall_start=time.time() - 31))
    try:
        breaker.open()
    finally:
        _clock.use(real)
    return race(breaker, threads)


# -- the event loop ----------------------------------------------------------------------------


async def worst_stall(
    store: RedisStore, coroutines: int, calls: int, *, sync: bool, hang: Callable[[], None]
) -> dict[str, float]:
    """The worst loop stall, and the mean time per call, while coroutines call the store.

    ``hang`` is called after the warm-up, before the measured calls (to freeze Redis, or not).
    """
    breaker = circuit("stall", store=store)

    @breaker
    async def op() -> int:
        return 1

    failed = False

    def sync_get() -> None:
        """The sync client's ``GET``, until it first fails (then the store would skip Redis)."""
        nonlocal failed
        if not failed:
            try:
                store.client.get(store.prefix + "circuit:5:stall:")
            except redis.RedisError:
                failed = True

    async def worker() -> None:
        for _ in range(calls):
            if sync:
                sync_get()
                await asyncio.sleep(0)
            else:
                await op()

    # Warm up: this loop's client and its connections, and the sync client's (not measured).
    await asyncio.gather(*(op() for _ in range(coroutines)))
    sync_get()
    hang()
    done, worst = False, 0.0

    async def watchdog() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0)
            now = time.perf_counter()
            worst, last = max(worst, now - last), now

    dog = asyncio.create_task(watchdog())
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(coroutines)))
    elapsed = time.perf_counter() - started
    done = True
    await dog
    return {
        "worst_stall_ms": round(worst * 1e3, 3),
        "per_call_us": round(elapsed / (coroutines * calls) * 1e6, 1),
    }


def stalls(url: str, proc: subprocess.Popen[bytes], coroutines: int, calls: int) -> dict[str, Any]:
    """Worst stalls, healthy and with Redis frozen, async path and sync baseline."""
    found: dict[str, Any] = {}
    for mode, sync in (("async (redis.asyncio)", False), ("sync client in coroutines", True)):
        rows = {}
        for state in ("healthy", "hung"):
            store = RedisStore(url, timeout=0.5, retry_interval=60)
            hang = (lambda: proc.send_signal(signal.SIGSTOP)) if state == "hung" else (lambda: None)

            async def main(
                store: RedisStore = store, sync: bool = sync, hang: Callable[[], None] = hang
            ) -> dict[str, float]:
                row = await worst_stall(store, coroutines, calls, sync=sync, hang=hang)
                proc.send_signal(signal.SIGCONT)
                await store.aclose()
                return row

            try:
                rows[state] = asyncio.run(main())
            finally:
                proc.send_signal(signal.SIGCONT)
            store.close()
        found[mode] = rows
    return found


# -- per-key state ------------------------------------------------------------------------------


def per_key_memory(keys: int) -> dict[str, float]:
    """Memory kept after calls under ``keys`` distinct keys of one ``@budget(key=...)``."""
    from llm_retry import budget  # noqa: PLC0415
    from llm_retry.run import keys as shared  # noqa: PLC0415

    shared.reset()

    @budget(total=60, key=lambda i: f"tenant-{i}")
    def call(i: int) -> int:
        return i

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(keys):
        call(i)
    kept = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    found = {"keys": keys, "throttles_kept": len(shared._throttles), "mb": round(kept / 1e6, 1)}
    shared.reset()
    return found


# -- the report ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _bench.arg_parser(__doc__, quick="small smoke run (CI)")
    parser.add_argument("--threads", type=int, default=300, help="threads on the open circuit")
    parser.add_argument("--race", type=int, default=1000, help="threads in the half-open race")
    parser.add_argument("--coroutines", type=int, default=100, help="coroutines in the stall run")
    parser.add_argument("--calls", type=int, default=20, help="calls per coroutine")
    parser.add_argument("--keys", type=int, default=99_000, help="keys of one keyed budget")
    args = parser.parse_args(argv)
    if args.quick:
        args.threads, args.race, args.coroutines, args.calls, args.keys = 60, 100, 20, 3, 12_000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # events: not the point
    with redis_server() as (url, proc):
        report = {
            "environment": _bench.environment(),
            "redis": redis.__version__,
            "threads": args.threads,
            "race": args.race,
            "k": K,
            "coroutines": args.coroutines,
            "calls": args.calls,
            "open_circuit_admitted": forced_open(url, args.threads),
            "half_open_probes_admitted": half_open(url, args.race),
            "stall": stalls(url, proc, args.coroutines, args.calls),
            "per_key": per_key_memory(args.keys),
        }
    if args.json:
        return _bench.print_json(report)
    print(f"{report['environment']}, redis-py {report['redis']}")
    print(f"\nopen circuit (break 60 s), {args.threads} threads: calls admitted (must be 0)")
    for name, admitted in report["open_circuit_admitted"].items():
        print(f"  {name:<26} {admitted}")
    print(f"\nhalf-open race, {args.race} threads, K={K}: probes admitted (must be {K})")
    print(f"  RedisStore(url)            {report['half_open_probes_admitted']}")
    print(f"\nevent loop, {args.coroutines} coroutines x {args.calls} calls (socket timeout 0.5 s)")
    print(f"  {'path':<28} {'state':<8} {'worst stall ms':>14} {'µs/call':>9}")
    for mode, rows in report["stall"].items():
        for state, row in rows.items():
            print(
                f"  {mode:<28} {state:<8} {row['worst_stall_ms']:>14.3f} {row['per_call_us']:>9.1f}"
            )
    per_key = report["per_key"]
    print(f"\nper-key state: {per_key['keys']:,} keys through one @budget(key=...)")
    print(f"  throttles kept {per_key['throttles_kept']:,}, memory kept {per_key['mb']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
