"""Circuit breakers in an outage, and on the happy path, against their peers, in one run.

**Outage.** A local `FaultServer` answers every chat completion with 503 for ``--outage``
seconds, then with 200 (a timer in this script switches ``server.default``). ``--workers``
workers call it in a loop, each as fast as its contender lets it: a call that finally fails is
followed at once by the next call, so the only pauses are the contender's own waits (this
script adds none). A worker stops after its first success once the server is back, or when the
run ends ``--tail`` seconds after recovery. The contenders:

* ``naive tenacity``: ``tenacity.retry(wait=wait_random_exponential(multiplier=1, max=60),
  stop=stop_after_attempt(6))`` retrying ``openai.APIStatusError``/``APIConnectionError``
  around ``openai.AsyncOpenAI(max_retries=0)``; no circuit;
* ``openai max_retries=2``: the SDK's own retries (``AsyncOpenAI(max_retries=2)``), no circuit;
* ``pybreaker + tenacity``: ``pybreaker.CircuitBreaker(fail_max=5, reset_timeout=BREAK)``
  inside the same naive tenacity retry (which also retries ``CircuitBreakerError``, so a
  rejected call backs off instead of spinning). pybreaker has no asyncio support, so this one
  runs ``--workers`` threads sharing a sync ``openai.OpenAI(max_retries=0)``;
* ``@llm_retry + @circuit``: ``@llm_retry(preset="deepseek", max_retry_after=max(60, BREAK))``
  outside ``@circuit("bench-outage", failures=5, break_duration=BREAK, store=MemoryStore())``
  around ``AsyncOpenAI(max_retries=0)``, under the ``prod`` profile;
* ``README stack``: ``@budget(total=90) @llm_retry(preset="deepseek") @circuit("deepseek")``
  as the README writes it, with the preset's break (2 s, doubling up to 60 s) and its
  admission (the concurrency limit) on.

Each row reports the requests that reached the server during the outage (the 503 replies), per
worker, and the time from recovery to the first 200 the server sent (arrival times are the
server's ``time.monotonic()``). Targets, checked for every row:

* **outage load**: at most the first wave (one in-flight call per worker) plus K probes per
  break started during the outage: ``workers + K * ceil(outage / BREAK)``, K = 1 here;
* **recovery**: the first 200 within ``BREAK + 1 s`` of recovery;
* **10 % of naive over 60 s**: the load extrapolated to a 60 s outage with a 60 s break is at
  most 10 % of the naive client's. Method: the outage window is cut in halves; the first half
  holds the first wave and is counted as measured; the second half's request rate is taken as
  the steady state and continued to 60 s. For the two circuit breakers, whose steady-state
  requests are probes (one per break), that rate is also scaled by ``BREAK / 60 s``. The naive
  baseline is the smaller of its own extrapolation and a replay of its wait schedule (tenacity's
  ``wait_random_exponential`` drawn for 60 s, latency ignored), so the check never flatters
  the circuit by inflating the baseline.

**Overhead.** The happy path (a function that succeeds at once, the circuit closed and clean):
bare call, ``@circuit`` alone (`MemoryStore`), ``@llm_retry`` + ``@circuit`` stacked,
``pybreaker``'s ``@breaker`` (``pybreaker.CircuitBreaker()``) and ``circuitbreaker``'s
``@circuit()``; sync with `timeit`, async as awaits in one event loop, garbage collection off,
repetitions interleaved, the best kept (as ``bench_overhead.py`` does). ``over bare`` is what
the decorator adds; ``vs pybreaker`` (sync) and ``vs circuitbreaker`` (async, pybreaker has no
asyncio) divide that by the reference's. With ``--redis URL``, a row for ``@circuit`` on a
`RedisStore` is added: one ``GET`` per call, so it measures the round trip to that Redis.

Run from the repository root::

    python benchmarks/bench_circuit.py             # full run, about a minute
    python benchmarks/bench_circuit.py --break 5   # a longer break
    python benchmarks/bench_circuit.py --redis redis://127.0.0.1:6379/0   # plus a Redis row
    python benchmarks/bench_circuit.py --quick     # smoke run for CI, a few seconds
    python benchmarks/bench_circuit.py --json      # the results as JSON instead of tables

The exit code is 0 whatever the results: this is a report.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import math
import platform
import random
import sys
import textwrap
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Any

import openai
import structlog
import tenacity
import wrapt

import _bench
from llm_retry import circuit, llm_retry
from llm_retry.presets import use_profile
from llm_retry.stores import MemoryStore, Store
from llm_retry.testing import FaultServer, Reply, capture_events

MESSAGES = [{"role": "user", "content": "ping"}]
RETRIED = (openai.APIStatusError, openai.APIConnectionError)
PROBES = 1  # K: calls let through per half-open phase (@circuit's default; pybreaker's lock: 1)
HORIZON = 60.0  # the outage and break the 10 % check extrapolates to, in seconds
SHARE_TARGET = 0.10
SUBJECT = "@llm_retry + @circuit"
README = "README stack"
NAIVE = "naive tenacity"

FULL = {"workers": 20, "outage": 5.0, "break_s": 2.0, "number": 5_000, "repeat": 20}
QUICK = {"workers": 5, "outage": 1.0, "break_s": 0.5, "number": 500, "repeat": 2}


class _Stopped(BaseException):
    """Raised from a thread's sleep when the run ends, to unwind its worker."""


@dataclass(frozen=True)
class Settings:
    """One run's parameters."""

    workers: int
    outage: float
    break_s: float
    tail: float


@dataclass
class OutageRow:
    """What one contender did in the outage."""

    name: str
    breaker: bool
    requests_during_outage: int = 0
    per_worker: float = 0.0
    load_bound: int = 0
    recovery_s: float | None = None
    workers_recovered: int = 0
    all_recovered_s: float | None = None
    early: int = 0
    late: int = 0
    load_60s: float = 0.0
    share_of_naive_60s: float | None = None
    targets: dict[str, bool] = field(default_factory=dict)
    circuit_events: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Timing:
    """The best timing of one decorator, in microseconds per call."""

    name: str
    total_us: float
    overhead_us: float
    vs_reference: float | None


# -- the outage contenders -----------------------------------------------------------------


def naive_retry(*extra: type[BaseException], sleep: Callable[[float], Any] | None = None) -> Any:
    """The naive client's tenacity decorator: random exponential waits, 6 attempts."""
    options: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    return tenacity.retry(
        wait=tenacity.wait_random_exponential(multiplier=1, max=60),
        stop=tenacity.stop_after_attempt(6),
        retry=tenacity.retry_if_exception_type((*RETRIED, *extra)),
        **options,
    )


async def asend(client: openai.AsyncOpenAI) -> str:
    """One chat completion request."""
    reply = await client.chat.completions.create(model="bench", messages=MESSAGES)
    return reply.choices[0].message.content or ""


def send(client: openai.OpenAI) -> str:
    """One chat completion request, sync."""
    reply = client.chat.completions.create(model="bench", messages=MESSAGES)
    return reply.choices[0].message.content or ""


def build_naive(client: openai.AsyncOpenAI, s: Settings) -> Callable[[], Awaitable[str]]:
    @naive_retry()
    async def ask() -> str:
        return await asend(client)

    return ask


def build_sdk(client: openai.AsyncOpenAI, s: Settings) -> Callable[[], Awaitable[str]]:
    async def ask() -> str:
        return await asend(client)

    return ask


def build_circuit(client: openai.AsyncOpenAI, s: Settings) -> Callable[[], Awaitable[str]]:
    @llm_retry(preset="deepseek", max_retry_after=max(60.0, s.break_s))
    @circuit("bench-outage", failures=5, break_duration=s.break_s, store=MemoryStore())
    async def ask() -> str:
        return await asend(client)

    return ask


def build_readme(client: openai.AsyncOpenAI, s: Settings) -> Callable[[], Awaitable[str]]:
    """The README's stack as written: the deepseek preset's break (2 s doubling to 60 s)."""
    from llm_retry import budget  # noqa: PLC0415
    from llm_retry.run import keys  # noqa: PLC0415

    keys.reset()  # fresh admission state, as a fresh process has
    circuit("deepseek").reset()

    @budget(total=90)
    @llm_retry(preset="deepseek")
    @circuit("deepseek")
    async def ask() -> str:
        return await asend(client)

    return ask


@dataclass(frozen=True)
class Contender:
    """One way of calling the API through an outage."""

    name: str
    breaker: bool
    build: Callable[[openai.AsyncOpenAI, Settings], Callable[[], Awaitable[str]]] | None
    max_retries: int = 0  # the SDK's own retries


ASYNC_CONTENDERS = (
    Contender(NAIVE, False, build_naive),
    Contender("openai max_retries=2", False, build_sdk, max_retries=2),
    Contender(SUBJECT, True, build_circuit),
    Contender(README, True, build_readme),
)


@dataclass
class Run:
    """What one contender's run recorded: the server's requests and the workers' successes."""

    requests: list[Any]
    started: float
    recovered: float
    successes: list[float]
    events: list[dict[str, Any]]


async def run_async(contender: Contender, s: Settings) -> Run:
    """``s.workers`` tasks calling in a loop through the outage and after it."""
    assert contender.build is not None
    with (
        FaultServer(default=Reply(503)) as server,
        capture_events() as events,
    ):
        client = openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-bench", max_retries=contender.max_retries
        )
        ask = contender.build(client, s)
        back = asyncio.Event()
        successes: list[float] = []

        async def worker() -> None:
            while True:
                try:
                    await ask()
                except Exception:  # noqa: BLE001, S112 - a failed call: the next call at once
                    continue
                if back.is_set():
                    successes.append(time.monotonic())
                    return

        started = time.monotonic()
        tasks = [asyncio.create_task(worker()) for _ in range(s.workers)]
        await asyncio.sleep(s.outage)
        recovered = time.monotonic()
        server.default = Reply(200, content="pong")
        back.set()
        _, pending = await asyncio.wait(tasks, timeout=s.tail)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await client.close()
        return Run(server.requests, started, recovered, successes, list(events))


def run_pybreaker(s: Settings) -> Run:
    """``s.workers`` threads calling through pybreaker inside the naive retry."""
    pybreaker = importlib.import_module("pybreaker")
    stop = threading.Event()

    def pause(seconds: float) -> None:
        if stop.wait(seconds):
            raise _Stopped

    with (
        FaultServer(default=Reply(503)) as server,
        openai.OpenAI(base_url=server.base_url, api_key="sk-bench", max_retries=0) as client,
    ):
        breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=s.break_s)

        @naive_retry(pybreaker.CircuitBreakerError, sleep=pause)
        def ask() -> str:
            return breaker.call(send, client)

        back = threading.Event()
        successes: list[float] = []
        lock = threading.Lock()

        def worker() -> None:
            while not stop.is_set():
                try:
                    ask()
                except _Stopped:
                    return
                except Exception:  # noqa: BLE001, S112 - a failed call: the next call at once
                    continue
                if back.is_set():
                    with lock:
                        successes.append(time.monotonic())
                    return

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(s.workers)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(s.outage)
        recovered = time.monotonic()
        server.default = Reply(200, content="pong")
        back.set()
        deadline = recovered + s.tail
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stop.set()
        for thread in threads:
            thread.join(5)
        return Run(server.requests, started, recovered, successes, [])


# -- outage analysis -----------------------------------------------------------------------


def analyse(name: str, breaker: bool, run: Run, s: Settings) -> OutageRow:
    """Count the outage's requests, time the recovery, extrapolate to a 60 s outage."""
    failed = [r.at for r in run.requests if r.reply.status == 503]
    first_ok = next((r.at for r in run.requests if r.reply.status == 200), None)
    half = run.started + s.outage / 2
    early = sum(1 for at in failed if at < half)
    late = len(failed) - early
    rate = late / (s.outage / 2)
    if breaker:  # probes come once per break: a 60 s break probes 60/BREAK times less often
        rate *= s.break_s / HORIZON
    row = OutageRow(name, breaker)
    row.requests_during_outage = len(failed)
    row.per_worker = len(failed) / s.workers
    row.load_bound = s.workers + PROBES * math.ceil(s.outage / s.break_s - 1e-9)
    row.recovery_s = None if first_ok is None else first_ok - run.recovered
    row.workers_recovered = len(run.successes)
    if len(run.successes) == s.workers:
        row.all_recovered_s = max(run.successes) - run.recovered
    row.early, row.late = early, late
    row.load_60s = early + rate * (HORIZON - s.outage / 2)
    names = ("circuit_open", "circuit_half_open", "circuit_closed", "circuit_rejected")
    for event in run.events:
        short = str(event["event"]).removeprefix("llm_retry.")
        if short in names:
            row.circuit_events[short] = row.circuit_events.get(short, 0) + 1
    return row


def simulate_naive(workers: int, horizon: float = HORIZON, runs: int = 2_000) -> float:
    """The naive client's requests in ``horizon`` s of outage, replaying its wait schedule.

    Each worker makes a call of up to 6 attempts with tenacity's own
    ``wait_random_exponential(multiplier=1, max=60)`` between them, then the next call at once;
    request latency is taken as zero.
    """
    wait = tenacity.wait_random_exponential(multiplier=1, max=60)
    total = 0
    for _ in range(runs):
        t = 0.0
        while t < horizon:
            for attempt in range(1, 7):
                if t >= horizon:
                    break
                total += 1
                if attempt < 6:
                    t += wait(SimpleNamespace(attempt_number=attempt))  # type: ignore[arg-type]
    return total / runs * workers


def judge(rows: list[OutageRow], s: Settings, naive_baseline: float) -> None:
    """Fill each row's share of the naive load and its targets."""
    for row in rows:
        row.share_of_naive_60s = row.load_60s / naive_baseline if naive_baseline else None
        row.targets = {
            "outage_load": row.requests_during_outage <= row.load_bound,
            "recovery": row.recovery_s is not None and row.recovery_s <= s.break_s + 1.0,
        }
        if row.name != NAIVE:  # the baseline itself is not judged against itself
            row.targets["ten_percent_of_naive_60s"] = (
                row.share_of_naive_60s is not None and row.share_of_naive_60s <= SHARE_TARGET
            )


def run_outage(s: Settings) -> tuple[list[OutageRow], dict[str, float], list[str]]:
    """Every contender through the same outage, one after the other."""
    rows: list[OutageRow] = []
    skipped: list[str] = []
    for contender in ASYNC_CONTENDERS[:2]:
        rows.append(analyse(contender.name, False, asyncio.run(run_async(contender, s)), s))
    try:
        rows.append(analyse("pybreaker + tenacity", True, run_pybreaker(s), s))
    except ImportError as exc:
        skipped.append(f"pybreaker: not installed ({exc})")
    with use_profile("prod"):
        for subject in ASYNC_CONTENDERS[2:]:
            rows.append(analyse(subject.name, True, asyncio.run(run_async(subject, s)), s))
    naive = next(r for r in rows if r.name == NAIVE)
    replayed = simulate_naive(s.workers)
    estimates = {"extrapolated": naive.load_60s, "replayed": replayed}
    naive.load_60s = estimates["baseline"] = min(naive.load_60s, replayed)
    judge(rows, s, naive.load_60s)
    return rows, estimates, skipped


# -- overhead ------------------------------------------------------------------------------


def redis_store(url: str) -> Store:
    """A `RedisStore` at ``url`` that answers, or exit with why (a silent local fallback would
    measure the wrong thing)."""
    try:
        from llm_retry.stores import RedisStore  # noqa: PLC0415 - an optional dependency

        store = RedisStore(url)
        store.client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: no Redis row
        raise SystemExit(f"--redis {url}: cannot use it: {type(exc).__name__}: {exc}") from None
    return store


def overhead_candidates(mode: str, redis: Store | None) -> tuple[dict[str, Any], list[str]]:
    """Name -> decorated function for ``mode``, and a note for each peer not installed."""
    fn: Any = _bench.call if mode == "sync" else _bench.acall
    found: dict[str, Any] = {_bench.BASELINE: fn}
    found["wrapt pass-through"] = wrapt.decorator(_bench.passthru)(fn)
    found["@circuit"] = circuit(f"bench-{mode}", store=MemoryStore())(fn)
    stacked = circuit(f"bench-{mode}-stacked", store=MemoryStore())(fn)
    found["@llm_retry + @circuit"] = llm_retry(preset="deepseek")(stacked)
    if redis is not None:
        found["@circuit (RedisStore)"] = circuit(f"bench-{mode}-redis", store=redis)(fn)
    skipped = []
    if mode == "sync":
        try:
            found["pybreaker"] = importlib.import_module("pybreaker").CircuitBreaker()(fn)
        except ImportError as exc:
            skipped.append(f"pybreaker: not installed ({exc})")
    try:
        found["circuitbreaker"] = importlib.import_module("circuitbreaker").circuit()(fn)
    except ImportError as exc:
        skipped.append(f"circuitbreaker: not installed ({exc})")
    return found, skipped


def to_timings(best: dict[str, float], reference: str) -> list[Timing]:
    """Microseconds per call, over the bare call, and as a multiple of the reference's."""
    return [Timing(*timing) for timing in _bench.over_baseline(best, reference)]


REFERENCES = {"sync": "pybreaker", "async": "circuitbreaker"}


def run_overhead(
    number: int, repeat: int, redis: Store | None = None
) -> tuple[dict[str, list[Timing]], list[str]]:
    """The happy-path tables, sync and async."""
    results: dict[str, list[Timing]] = {}
    skipped: list[str] = []
    with use_profile("prod"):
        for mode in ("sync", "async"):
            found, missing = overhead_candidates(mode, redis)
            skipped += missing
            results[mode] = to_timings(
                _bench.best_seconds(found, mode, number, repeat), REFERENCES[mode]
            )
    return results, sorted(set(skipped))


# -- reporting -----------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "ok" if ok else "FAIL"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_outage(rows: list[OutageRow], s: Settings) -> str:
    """The outage table: load, recovery, extrapolation, targets."""
    width = max(len(r.name) for r in rows)
    header = (
        f"{'contender':<{width}}  {'outage reqs':>11}  {'/worker':>7}  {'bound':>9}  "
        f"{'recovery s':>13}  {'all back s':>10}  {'60 s load':>9}  {'vs naive':>13}"
    )
    lines = [header, "-" * len(header)]
    limit = s.break_s + 1.0
    for r in rows:
        bound = f"{r.load_bound} {_mark(r.targets['outage_load'])}"
        recovery = f"{_seconds(r.recovery_s)} {_mark(r.targets['recovery'])}"
        back = (
            _seconds(r.all_recovered_s)
            if r.all_recovered_s is not None
            else f"{r.workers_recovered}/{s.workers}"
        )
        if r.name == NAIVE:
            share = "baseline"
        else:
            share = "-" if r.share_of_naive_60s is None else f"{r.share_of_naive_60s:.1%}"
            share += f" {_mark(r.targets['ten_percent_of_naive_60s'])}"
        lines.append(
            f"{r.name:<{width}}  {r.requests_during_outage:>11}  {r.per_worker:>7.1f}  "
            f"{bound:>9}  {recovery:>13}  {back:>10}  {r.load_60s:>9.0f}  {share:>13}"
        )
    lines.append(
        f"bound = {s.workers} workers (first wave) + {PROBES} probe x ceil({s.outage:g} s / "
        f"{s.break_s:g} s break); recovery target <= {limit:g} s (break + 1 s); "
        f"vs naive target <= {SHARE_TARGET:.0%}"
    )
    return "\n".join(lines)


def format_timings(title: str, rows: list[Timing], reference: str) -> str:
    """An aligned text table of one mode's timings."""
    timings = [(r.name, r.total_us, r.overhead_us, r.vs_reference) for r in rows]
    return _bench.timing_table(title, timings, reference, ratio_width=18)


EXPLANATION = """\
How to read it. "outage reqs" are the 503s the server sent; "recovery s" is from the switch
to 200 to the first 200 sent; "all back s" is when the last worker had its first success
(or how many had, when the run ended first). "60 s load" extrapolates to a 60 s outage with a
60 s break: the first half of the measured outage is counted as is (the first wave), the
second half's rate is continued to 60 s, scaled by BREAK/60 s for the breakers (their
later requests are probes, one per break). The naive baseline for "vs naive" is the smaller of
its extrapolation ({extrapolated:.0f} requests) and a replay of its wait schedule over 60 s
({replayed:.0f}). With a 60 s break a breaker sends the first wave plus about one probe per
minute, and its first success comes up to one break (60 s) after recovery: the recovery
target scales with the break, the request count does not. pybreaker holds one lock across
every call, so its threads call one at a time, also while the provider is healthy: its small
first wave is serialisation, not a design that sheds load."""


def report_text(
    s: Settings,
    rows: list[OutageRow],
    naive: dict[str, float],
    timings: dict[str, list[Timing]],
    skipped: list[str],
    number: int,
    repeat: int,
    quick: bool,
) -> str:
    lines = [
        f"Circuit breakers, {_bench.environment()}",
        "",
        f"Outage: {s.workers} workers, 503 for {s.outage:g} s then 200, break {s.break_s:g} s, "
        f"run ends {s.tail:g} s after recovery (or when every worker has succeeded)",
    ]
    lines += [f"skipped {note}" for note in skipped]
    lines += [format_outage(rows, s), ""]
    subject = next((r for r in rows if r.name == SUBJECT), None)
    if subject is not None and subject.circuit_events:
        counts = ", ".join(f"{k} {v}" for k, v in subject.circuit_events.items())
        lines += [f"@circuit events: {counts}", ""]
    lines += [textwrap.fill(" ".join(EXPLANATION.format(**naive).split()), width=95), ""]
    lines.append(f"Happy path: {number:,} calls x {repeat} repetitions per row, best kept")
    for mode, table in timings.items():
        lines += ["", format_timings(f"{mode}:", table, REFERENCES[mode])]
    if subject is not None:
        verdict = "; ".join(f"{k} {_mark(v)}" for k, v in subject.targets.items())
        lines += ["", f"targets for {SUBJECT}: {verdict}"]
    if quick:
        lines.append("(--quick is a smoke run: too short for the targets to mean much)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _bench.arg_parser(__doc__)
    parser.add_argument("--workers", type=int, help="concurrent workers (20; quick 5)")
    parser.add_argument("--outage", type=float, help="seconds of 503s (5; quick 1)")
    parser.add_argument(
        "--break", dest="break_s", type=float, help="circuit break duration, s (2; quick 0.5)"
    )
    parser.add_argument("--tail", type=float, help="seconds the run goes on after recovery")
    parser.add_argument("--number", type=int, help="calls per overhead repetition")
    parser.add_argument("--repeat", type=int, help="overhead repetitions (the best is kept)")
    parser.add_argument("--redis", metavar="URL", help="add a row for @circuit on this Redis")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.tail is None:
        args.tail = 2.0 * args.break_s + 2.0 if args.quick else args.break_s + 8.0
    return args


def quiet_events() -> None:
    """Keep llm-retry's structlog events off the report (they are counted, not printed)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_events()
    random.seed()
    s = Settings(args.workers, args.outage, args.break_s, args.tail)
    redis = None if args.redis is None else redis_store(args.redis)
    started = time.perf_counter()
    rows, naive, skipped = run_outage(s)
    timings, missing = run_overhead(args.number, args.repeat, redis)
    skipped += missing
    if args.json:
        report = {
            "environment": f"Python {platform.python_version()} on {platform.system()}",
            "settings": asdict(s) | {"probes": PROBES, "horizon_s": HORIZON},
            "skipped": skipped,
            "outage": [asdict(row) for row in rows],
            "naive_60s": naive,
            "overhead": {mode: [asdict(t) for t in table] for mode, table in timings.items()},
            "number": args.number,
            "repeat": args.repeat,
            "seconds": round(time.perf_counter() - started, 1),
        }
        return _bench.print_json(report)
    print(report_text(s, rows, naive, timings, skipped, args.number, args.repeat, args.quick))
    print(f"measured in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
