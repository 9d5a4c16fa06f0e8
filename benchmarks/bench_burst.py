"""Bursts against a provider's limits: who loses calls, who floods the server, who crawls.

Two scenarios, each run with every client in the same run, through the real
``openai.AsyncOpenAI`` against the fault server (in its own process, so its threads do not share
the clients' interpreter lock):

* **rate** (issue #4): ``N`` concurrent calls against ``R`` requests per second (fixed one-second
  windows from the first request); the others get ``429`` with ``Retry-After`` and OpenAI's
  ``x-ratelimit-*-requests`` headers, as OpenAI's and Anthropic's rate limits answer. With
  ``N=100, R=20`` the ideal wall time is 4.0 s with 100 requests.
* **concurrency** (issue #12): at most ``C`` requests in flight, each answered after ``H``
  seconds; a request beyond that gets ``429`` with ``Retry-After: 1`` at once and no rate header,
  as DeepSeek's "dynamic concurrency limit" answers. With ``N=100, C=10, H=0.2`` the ideal is
  ``ceil(N / C) * H`` = 2.0 s with 100 requests.

Each row reports ``done`` / ``lost`` (calls that returned / raised), ``req/call`` (requests the
server received per call; 1.00 is perfect), ``wall`` (seconds from the first call to the last
answer) and ``x ideal``. The rows: openai's own retries (``max_retries=2``, its default, and
``8``); tenacity with the DeepSeek article's recipe (``wait_random_exponential`` +
``stop_after_attempt(5)``); stamina and backoff, configured alike; ``@llm_retry`` alone; three
``@budget`` variants (``key=``, a named budget, ``pace=True``); and the **README stack as
written**, ``@budget(total=90) @llm_retry(preset="deepseek") @circuit("deepseek")``, whose
preset's admission (concurrency limit and rate windows, `llm_retry.run.admission`) is on by
default. Every row gets a fresh client and fresh state.

``--processes N`` adds the rate scenario split over N worker processes (a real ``redis-server``
started on loopback): the README stack with ``store=RedisStore(...)`` (the processes share one
limit) and without (each process learns alone). ``--plot`` writes SVG charts of requests in
flight and 429s over time, per client, to ``docs/img/`` (for docs/performance.md).

Run from the repository root (real time, a couple of minutes)::

    python benchmarks/bench_burst.py                 # both scenarios
    python benchmarks/bench_burst.py --processes 4   # plus 4 processes sharing one Redis
    python benchmarks/bench_burst.py --plot          # plus the SVG charts
    python benchmarks/bench_burst.py --quick         # smoke run for CI: small and fast
    python benchmarks/bench_burst.py --json          # the results as JSON

The last lines check the targets (README stack: rate <= 1.15 req/call and <= 1.1x ideal;
concurrency <= 1.2 and <= 1.3x; 4 processes <= 1.2 and <= 1.15x; the paced row's older target
<= 1.3 and <= 1.1x) and print PASS or FAIL; the exit code is 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import openai

import _bench
from _burst_procs import README, readme_ask, redis_server, run_processes
from _svg import burst_svg
from llm_retry import budget, llm_retry
from llm_retry.stores import MemoryStore

Ask = Callable[[int], Awaitable[Any]]
Build = Callable[[openai.AsyncOpenAI], Ask]
MESSAGES = [{"role": "user", "content": "ping"}]
SUBJECT = "@budget(pace=True) + @llm_retry"
TARGETS = {  # (scenario, row): (requests per call, x ideal)
    ("rate", SUBJECT): (1.3, 1.1),
    ("rate", README): (1.15, 1.1),
    ("concurrency", README): (1.2, 1.3),
    ("processes", f"{README}, RedisStore"): (1.2, 1.15),
}


# -- the server, in its own process --------------------------------------------------------


def serve(conn: Connection, mode: dict[str, Any]) -> None:
    """Run a limited fault server; answer ``reset``, ``log`` and ``stop`` on ``conn``."""
    from llm_retry.testing import FaultServer  # noqa: PLC0415 - in the child process

    with FaultServer() as server:
        if mode["kind"] == "rate":
            server.rate_limit(
                mode["rate"], retry_after=mode["retry_after"], window=mode["window"], headers=True
            )
        else:
            server.concurrency_limit(mode["limit"], hold=mode["hold"], retry_after=1.0)
        conn.send(server.base_url)
        while True:
            command = conn.recv()
            if command == "reset":
                server.reset()
                conn.send(None)
            elif command == "log":
                conn.send([(r.at, r.reply.status, r.reply.delay) for r in server.requests])
            else:
                return


class Server:
    """The parent's handle on the server process."""

    def __init__(self, mode: dict[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, mode))
        self._process.start()
        self.base_url: str = self._conn.recv()

    def ask(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def close(self) -> None:
        self._conn.send("stop")
        self._process.join(10)


# -- the candidates ------------------------------------------------------------------------


def _create(client: openai.AsyncOpenAI) -> Callable[[int], Awaitable[Any]]:
    async def create(i: int) -> Any:
        return await client.chat.completions.create(
            model="deepseek-v4-flash", messages=MESSAGES, user=str(i)
        )

    return create


def openai_builtin(retries: int) -> tuple[str, int, Build]:
    return f"openai max_retries={retries}", retries, _create


def tenacity_article() -> tuple[str, int, Build]:
    import tenacity  # noqa: PLC0415 - a peer, imported when its row runs

    def build(client: openai.AsyncOpenAI) -> Ask:
        return tenacity.retry(
            wait=tenacity.wait_random_exponential(multiplier=1, max=60),
            stop=tenacity.stop_after_attempt(5),
            retry=tenacity.retry_if_exception_type(
                (openai.RateLimitError, openai.InternalServerError)
            ),
            reraise=True,
        )(_create(client))

    return "tenacity (article recipe)", 0, build


def stamina_row() -> tuple[str, int, Build]:
    import stamina  # noqa: PLC0415

    def build(client: openai.AsyncOpenAI) -> Ask:
        retry = stamina.retry(on=(openai.RateLimitError, openai.InternalServerError), attempts=10)
        return retry(_create(client))

    return "stamina (attempts=10)", 0, build


def backoff_row() -> tuple[str, int, Build]:
    import backoff  # noqa: PLC0415

    def build(client: openai.AsyncOpenAI) -> Ask:
        decorate = backoff.on_exception(
            backoff.expo, (openai.RateLimitError, openai.InternalServerError), max_tries=10
        )
        return decorate(_create(client))

    return "backoff (expo, max_tries=10)", 0, build


def llm_retry_alone() -> tuple[str, int, Build]:
    def build(client: openai.AsyncOpenAI) -> Ask:
        return llm_retry(preset="deepseek")(_create(client))

    return "@llm_retry alone", 0, build


def with_budget(label: str, **options: Any) -> tuple[str, int, Build]:
    def build(client: openai.AsyncOpenAI) -> Ask:
        decorate = budget(store=MemoryStore(), **options)  # fresh state for each row
        return decorate(llm_retry(preset="deepseek")(_create(client)))

    return label, 0, build


def readme_row() -> tuple[str, int, Build]:
    return README, 0, readme_ask


def candidates() -> list[tuple[str, int, Build]]:
    return [
        openai_builtin(2),
        openai_builtin(8),
        tenacity_article(),
        stamina_row(),
        backoff_row(),
        llm_retry_alone(),
        with_budget("@budget(key=) + @llm_retry", key="deepseek", total=90),
        with_budget('@budget("deepseek") + @llm_retry', preset="deepseek"),
        with_budget(SUBJECT, preset="deepseek", pace=True),
        readme_row(),
    ]


# -- running a row -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    done: int
    lost: int
    requests: int
    requests_per_call: float
    wall: float
    ratio: float
    first_error: str | None
    timeline: str = ""
    scenario: str = "rate"


async def _burst(base_url: str, retries: int, build: Build, n: int) -> tuple[list[Any], float]:
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key="sk-bench", max_retries=retries, timeout=60
    ) as client:
        ask = build(client)
        start = time.perf_counter()
        results = await asyncio.gather(*(ask(i) for i in range(n)), return_exceptions=True)
        return results, time.perf_counter() - start


def make_row(scenario: str, name: str, n: int, ideal: float, outcome: Any, log: Any) -> Row:
    """A row from the calls' outcome ``(done, lost, first error, wall)`` and the server's log."""
    done, lost, first, wall = outcome
    return Row(
        name=name,
        done=done,
        lost=lost,
        requests=len(log),
        requests_per_call=len(log) / n,
        wall=wall,
        ratio=wall / ideal if ideal > 0 else math.nan,
        first_error=first,
        timeline=timeline(log),
        scenario=scenario,
    )


def run_row(
    server: Server, candidate: tuple[str, int, Build], n: int, ideal: float, scenario: str
) -> tuple[Row, list[Any]]:
    name, retries, build = candidate
    server.ask("reset")
    results, wall = asyncio.run(_burst(server.base_url, retries, build, n))
    log = server.ask("log")
    errors = [r for r in results if isinstance(r, BaseException)]
    first = f"{type(errors[0]).__name__}: {errors[0]}"[:120] if errors else None
    return make_row(scenario, name, n, ideal, (n - len(errors), len(errors), first, wall), log), log


def timeline(log: list[tuple[float, int, float]]) -> str:
    """Requests per tenth of a second as ``t:admitted/refused``, for the rows' ``--timeline``."""
    if not log:
        return ""
    start = log[0][0]
    slots: dict[int, list[int]] = {}
    for at, status, _ in log:
        slot = slots.setdefault(int((at - start) * 10), [0, 0])
        slot[status == 429] += 1
    return " ".join(f"{k / 10:.1f}:{ok}/{no}" for k, (ok, no) in sorted(slots.items()))


# -- reporting -----------------------------------------------------------------------------


def format_table(rows: list[Row]) -> str:
    width = max(len(r.name) for r in rows)
    header = (
        f"{'client':<{width}}  {'done':>5}  {'lost':>5}  {'requests':>8}  {'req/call':>8}  "
        f"{'wall s':>7}  {'x ideal':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.name:<{width}}  {r.done:>5}  {r.lost:>5}  {r.requests:>8}  "
            f"{r.requests_per_call:>8.2f}  {r.wall:>7.2f}  {r.ratio:>7.2f}"
        )
    return "\n".join(lines)


def check_targets(rows: list[Row]) -> list[dict[str, Any]]:
    checks = []
    for (scenario, name), (per_call, ratio) in TARGETS.items():
        row = next((r for r in rows if (r.scenario, r.name) == (scenario, name)), None)
        if row is None:
            continue
        passed = row.lost == 0 and row.requests_per_call <= per_call and row.ratio <= ratio
        checks.append(
            {
                "scenario": scenario,
                "row": name,
                "requests_per_call": per_call,
                "ratio": ratio,
                "passed": passed,
            }
        )
    return checks


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _bench.arg_parser(__doc__, quick="small smoke run (CI)")
    parser.add_argument("-n", type=int, help="concurrent calls (default 100, quick 12)")
    parser.add_argument("-r", "--rate", type=float, help="requests admitted per second")
    parser.add_argument("--window", type=float, help="rate window in seconds (default 1)")
    parser.add_argument("--retry-after", type=float, help="seconds (default: the window)")
    parser.add_argument("--limit", type=int, help="concurrency limit (default 10, quick 3)")
    parser.add_argument("--hold", type=float, help="seconds per request under it (default 0.2)")
    parser.add_argument(
        "--scenario", choices=("rate", "concurrency", "both"), default="both", help="which bursts"
    )
    parser.add_argument("--processes", type=int, default=0, help="also split over N processes")
    parser.add_argument("--plot", action="store_true", help="write SVG charts to docs/img/")
    parser.add_argument("--only", help="run only the rows whose name contains this")
    parser.add_argument(
        "--timeline", action="store_true", help="print each row's requests per 0.1 s"
    )
    args = parser.parse_args(argv)
    args.n = args.n or (12 if args.quick else 100)
    args.window = args.window or (0.25 if args.quick else 1.0)
    args.rate = args.rate or (12.0 if args.quick else 20.0)
    args.retry_after = args.window if args.retry_after is None else args.retry_after
    args.limit = args.limit or (3 if args.quick else 10)
    args.hold = args.hold or (0.05 if args.quick else 0.2)
    return args


def scenarios(args: argparse.Namespace) -> list[tuple[str, dict[str, Any], float, str]]:
    """``(name, server mode, ideal seconds, description)`` of each scenario to run."""
    found = []
    if args.scenario in ("rate", "both") or args.processes:
        per_window = max(1, math.floor(args.rate * args.window))
        ideal = (math.ceil(args.n / per_window) - 1) * args.window
        mode = {
            "kind": "rate",
            "rate": args.rate,
            "retry_after": args.retry_after,
            "window": args.window,
        }
        about = (
            f"rate: N={args.n} concurrent calls, R={args.rate:g}/s in {args.window:g} s windows, "
            f"Retry-After {args.retry_after:g} s and rate headers; ideal {ideal:.1f} s"
        )
        found.append(("rate", mode, ideal, about))
    if args.scenario in ("concurrency", "both"):
        ideal = math.ceil(args.n / args.limit) * args.hold
        mode = {"kind": "concurrency", "limit": args.limit, "hold": args.hold}
        about = (
            f"concurrency: N={args.n} calls, at most {args.limit} in flight, {args.hold:g} s "
            f"each, 429 + Retry-After 1 beyond (no rate header); ideal {ideal:.1f} s"
        )
        found.append(("concurrency", mode, ideal, about))
    return found


def run_scenario(
    args: argparse.Namespace, name: str, mode: dict[str, Any], ideal: float
) -> tuple[list[Row], list[tuple[str, Any]]]:
    chosen = [c for c in candidates() if args.only is None or args.only in c[0]]
    if args.quick and name == "concurrency":  # a smoke run: two rows are enough
        chosen = [c for c in chosen if c[0] in (README, "tenacity (article recipe)")]
    server = Server(mode)
    rows, logs = [], []
    try:
        if args.scenario == "both" or args.scenario == name:
            for candidate in chosen:
                row, log = run_row(server, candidate, args.n, ideal, name)
                rows.append(row)
                logs.append((row.name, log))
        if name == "rate" and args.processes:
            rows += run_shared(args, server, ideal, logs)
    finally:
        server.close()
    return rows, logs


def run_shared(
    args: argparse.Namespace, server: Server, ideal: float, logs: list[tuple[str, Any]]
) -> list[Row]:
    """The rate burst split over ``--processes`` workers, with and without a shared Redis."""
    rows = []
    with redis_server() as url:
        for label, redis_url in ((f"{README}, RedisStore", url), (f"{README}, alone", None)):
            name = f"{label} ({args.processes} processes)"
            server.ask("reset")
            outcome = run_processes(server.base_url, args.n, args.processes, redis_url)
            log = server.ask("log")
            rows.append(make_row("processes", label, args.n, ideal, outcome, log))
            logs.append((name, log))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import structlog  # noqa: PLC0415 - keep thousands of retry events off the terminal

    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    started = time.perf_counter()
    results: dict[str, Any] = {}
    for name, mode, ideal, about in scenarios(args):
        rows, logs = run_scenario(args, name, mode, ideal)
        results[name] = {"about": about, "ideal": ideal, "rows": rows}
        if args.plot:
            for scenario in ("rate", "concurrency", "processes"):
                panels = [
                    (n, log)
                    for (n, log), r in zip(logs, rows, strict=True)
                    if r.scenario == scenario
                ]
                if panels:
                    path = Path("docs/img") / f"burst-{scenario}.svg"
                    burst_svg(
                        about
                        if scenario != "processes"
                        else f"{args.processes} processes, " + about,
                        panels,
                        path,
                    )
    every = [row for found in results.values() for row in found["rows"]]
    checks = check_targets(every)
    versions = f"{_bench.environment(implementation=False)}, openai {openai.__version__}"
    if args.json:
        rate = results.get("rate", {"rows": [], "ideal": 0.0})
        report = {
            "environment": versions,
            "n": args.n,
            "rate": args.rate,
            "retry_after": args.retry_after,
            "window": args.window,
            "ideal": rate["ideal"],
            "rows": [asdict(r) for r in rate["rows"] if r.scenario == "rate"],
            "scenarios": {
                name: {**found, "rows": [asdict(r) for r in found["rows"]]}
                for name, found in results.items()
            },
            "targets": checks,
            "target": next((c for c in checks if c["row"] == SUBJECT), None),
        }
        return _bench.print_json(report)
    print(versions)
    for found in results.values():
        print()
        print(found["about"])
        for scenario in ("rate", "concurrency", "processes"):
            rows = [r for r in found["rows"] if r.scenario == scenario]
            if rows:
                if scenario == "processes":
                    print(f"split over {args.processes} processes:")
                print(format_table(rows))
        for r in found["rows"]:
            if r.first_error:
                print(f"{r.name}: first lost call: {r.first_error}")
            if args.timeline:
                print(f"{r.name}: seconds:admitted/refused {r.timeline}")
    print()
    print(f"measured in {time.perf_counter() - started:.1f} s")
    for c in checks:
        print(
            f"target [{c['scenario']}] {c['row']}: no call lost, <= {c['requests_per_call']} "
            f"req/call, <= {c['ratio']}x ideal: {'PASS' if c['passed'] else 'FAIL'}"
        )
    if args.quick:
        print("(--quick is a smoke run: too small for the targets to mean much)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
