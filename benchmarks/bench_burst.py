"""A burst of concurrent calls against one rate limit: who loses calls, who floods the server.

The scenario of issue #4: ``N`` concurrent async calls through the real ``openai.AsyncOpenAI``
against the fault server in rate mode, which admits ``R`` requests per second (fixed one-second
windows from the first request) and answers the others ``429`` with ``Retry-After``. With
``N=100, R=20`` no client can finish before the fifth window opens: the ideal wall time is 4.0 s,
with 100 requests (``ceil(N / per window) - 1`` windows). Each row reports

* ``done`` / ``lost``: calls that returned / raised;
* ``req/call``: requests the server received, per call (1.00 is perfect);
* ``wall``: seconds from the first call to the last answer, and ``x ideal`` its ratio to the
  ideal.

The rows: openai's own retries (``max_retries=2``, its default, and ``8``); tenacity with the
DeepSeek article's recipe (``wait_random_exponential`` + ``stop_after_attempt(5)``, retrying
``RateLimitError`` and 5xx); stamina and backoff, configured alike; ``@llm_retry`` alone; and
``@budget`` + ``@llm_retry(preset="deepseek")`` three ways: coordinated ``Retry-After`` only
(``key=``), a named budget (coordination plus the preset's retry budget), and ``pace=True``.

The server runs in its own process (so its threads do not share the clients' interpreter lock),
is reset between rows, and every row gets a fresh client and fresh budget state. Run from the
repository root (real time, about a minute)::

    python benchmarks/bench_burst.py             # N=100, R=20, Retry-After 1 s
    python benchmarks/bench_burst.py --quick     # smoke run for CI: N=12, 3 per 0.25 s window
    python benchmarks/bench_burst.py --json      # the results as JSON

The last line checks the issue's target for the paced row (no call lost, at most 1.3 requests
per call, wall time within 1.1x of ideal) and prints PASS or FAIL; the exit code is 0 either way.
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
from typing import Any

import openai

import _bench
from llm_retry import budget, llm_retry
from llm_retry.stores import MemoryStore

Ask = Callable[[int], Awaitable[Any]]
Build = Callable[[openai.AsyncOpenAI], Ask]
MESSAGES = [{"role": "user", "content": "ping"}]
TARGET = {"requests_per_call": 1.3, "ratio": 1.1}
SUBJECT = "@budget(pace=True) + @llm_retry"


# -- the server, in its own process --------------------------------------------------------


def serve(conn: Connection, rate: float, retry_after: float, window: float) -> None:
    """Run a rate-limited fault server; answer ``reset``, ``log`` and ``stop`` on ``conn``."""
    from llm_retry.testing import FaultServer  # noqa: PLC0415 - in the child process

    with FaultServer() as server:
        server.rate_limit(rate, retry_after=retry_after, window=window)
        conn.send(server.base_url)
        while True:
            command = conn.recv()
            if command == "reset":
                server.reset()
                conn.send(None)
            elif command == "log":
                conn.send([(r.at, r.reply.status) for r in server.requests])
            else:
                return


class Server:
    """The parent's handle on the server process."""

    def __init__(self, rate: float, retry_after: float, window: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, rate, retry_after, window))
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


async def _burst(base_url: str, retries: int, build: Build, n: int) -> tuple[list[Any], float]:
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key="sk-bench", max_retries=retries, timeout=60
    ) as client:
        ask = build(client)
        start = time.perf_counter()
        results = await asyncio.gather(*(ask(i) for i in range(n)), return_exceptions=True)
        return results, time.perf_counter() - start


def run_row(server: Server, candidate: tuple[str, int, Build], n: int, ideal: float) -> Row:
    name, retries, build = candidate
    server.ask("reset")
    results, wall = asyncio.run(_burst(server.base_url, retries, build, n))
    log = server.ask("log")
    statuses = [status for _, status in log]
    errors = [r for r in results if isinstance(r, BaseException)]
    return Row(
        name=name,
        done=n - len(errors),
        lost=len(errors),
        requests=len(statuses),
        requests_per_call=len(statuses) / n,
        wall=wall,
        ratio=wall / ideal if ideal > 0 else math.nan,
        first_error=f"{type(errors[0]).__name__}: {errors[0]}"[:120] if errors else None,
        timeline=timeline(log),
    )


def timeline(log: list[tuple[float, int]]) -> str:
    """Requests per tenth of a second as ``t:admitted/refused``, for the rows' ``--timeline``."""
    if not log:
        return ""
    start = log[0][0]
    slots: dict[int, list[int]] = {}
    for at, status in log:
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


def check_target(rows: list[Row]) -> dict[str, Any]:
    row = next(r for r in rows if r.name == SUBJECT)
    passed = (
        row.lost == 0
        and row.requests_per_call <= TARGET["requests_per_call"]
        and row.ratio <= TARGET["ratio"]
    )
    return {"row": SUBJECT, **TARGET, "passed": passed}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _bench.arg_parser(__doc__, quick="small smoke run (CI)")
    parser.add_argument("-n", type=int, help="concurrent calls (default 100, quick 12)")
    parser.add_argument("-r", "--rate", type=float, help="requests admitted per second")
    parser.add_argument("--window", type=float, help="rate window in seconds (default 1)")
    parser.add_argument("--retry-after", type=float, help="seconds (default: the window)")
    parser.add_argument("--only", help="run only the rows whose name contains this")
    parser.add_argument(
        "--timeline", action="store_true", help="print each row's requests per 0.1 s"
    )
    args = parser.parse_args(argv)
    args.n = args.n or (12 if args.quick else 100)
    args.window = args.window or (0.25 if args.quick else 1.0)
    args.rate = args.rate or (12.0 if args.quick else 20.0)
    args.retry_after = args.window if args.retry_after is None else args.retry_after
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import structlog  # noqa: PLC0415 - keep thousands of retry events off the terminal

    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    per_window = max(1, math.floor(args.rate * args.window))
    ideal = (math.ceil(args.n / per_window) - 1) * args.window
    chosen = [c for c in candidates() if args.only is None or args.only in c[0]]
    server = Server(args.rate, args.retry_after, args.window)
    started = time.perf_counter()
    try:
        rows = [run_row(server, c, args.n, ideal) for c in chosen]
    finally:
        server.close()
    target = check_target(rows) if any(r.name == SUBJECT for r in rows) else None
    versions = f"{_bench.environment(implementation=False)}, openai {openai.__version__}"
    if args.json:
        report = {
            "environment": versions,
            "n": args.n,
            "rate": args.rate,
            "retry_after": args.retry_after,
            "window": args.window,
            "ideal": ideal,
            "rows": [asdict(r) for r in rows],
            "target": target,
        }
        return _bench.print_json(report)
    print(
        f"Burst: N={args.n} concurrent calls, R={args.rate:g}/s in {args.window:g} s windows, "
        f"Retry-After {args.retry_after:g} s"
    )
    print(f"ideal wall time {ideal:.1f} s; {versions}")
    print()
    print(format_table(rows))
    print()
    for r in rows:
        if r.first_error:
            print(f"{r.name}: first lost call: {r.first_error}")
        if args.timeline:
            print(f"{r.name}: seconds:admitted/refused {r.timeline}")
    print(f"measured in {time.perf_counter() - started:.1f} s")
    if target is not None:
        print(
            f"target for {SUBJECT}: no call lost, <= {TARGET['requests_per_call']} req/call, "
            f"<= {TARGET['ratio']}x ideal: {'PASS' if target['passed'] else 'FAIL'}"
        )
    if args.quick:
        print("(--quick is a smoke run: too small for the target to mean much)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
