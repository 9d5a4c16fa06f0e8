"""Happy-path overhead of ``@llm_retry`` against its peers, sync and async, in one process.

What is measured: the cost of calling a function that succeeds on its first attempt
(``def call(x): return x`` and its ``async def`` twin) through each decorator, no retry ever
happening. Each row reports

* ``µs/call``: the whole call, decorator included, per call;
* ``over bare``: that minus the undecorated function's ``µs/call``: what the decorator adds;
* ``vs tenacity``: the decorator's ``over bare`` divided by tenacity's (``0.05x tenacity``
  means it adds a twentieth of what ``@tenacity.retry`` adds).

The peers are configured alike: each would retry on ``Exception``, up to 5 attempts
(``tenacity.retry(stop=stop_after_attempt(5))``, ``stamina.retry(on=Exception, attempts=5)``,
``backoff.on_exception(backoff.expo, Exception, max_tries=5)``); a ``wrapt`` pass-through
decorator shows the floor any wrapt-based decorator pays. A peer that is not installed is
skipped with a note.

How: sync calls are timed with `timeit` (statement ``f(1)``, garbage collection off); async
calls as ``number`` awaits in a loop inside one `asyncio.run` per repetition, timed with
`time.perf_counter` inside the event loop (loop start-up is not counted), garbage collection
off. Repetitions are interleaved across decorators, so drift in machine load hits all rows
alike, and each row keeps its best (minimum) repetition.

Run from the repository root::

    python benchmarks/bench_overhead.py            # full run, well under a minute
    python benchmarks/bench_overhead.py --quick    # smoke run for CI, a couple of seconds
    python benchmarks/bench_overhead.py --json     # the results as JSON instead of tables

The last line checks the project's targets (``@llm_retry`` adds at most 1.0 µs per sync call
and 1.5 µs per async call) and prints PASS or FAIL; the exit code is 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import platform
import sys
import time
import timeit
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from llm_retry import budget, llm_retry

SyncFn = Callable[[int], int]
AsyncFn = Callable[[int], Awaitable[int]]

BASELINE = "bare call"
REFERENCE = "tenacity"
SUBJECT = "llm_retry"
TARGETS_US = {"sync": 1.0, "async": 1.5}
DEFAULT_NUMBER, DEFAULT_REPEAT = 5_000, 20  # many short repetitions: min() finds a quiet one
QUICK_NUMBER, QUICK_REPEAT = 2_000, 2


def call(x: int) -> int:
    """The function under test: succeeds at once."""
    return x


async def acall(x: int) -> int:
    """The async function under test: succeeds at once."""
    return x


@dataclass(frozen=True)
class Candidate:
    """One row of the tables: a decorator applied to `call` and to `acall`."""

    name: str
    sync: SyncFn
    async_: AsyncFn


@dataclass(frozen=True)
class Row:
    """The best timing of one candidate, in microseconds per call."""

    name: str
    total_us: float
    overhead_us: float
    vs_tenacity: float | None


# -- the candidates ------------------------------------------------------------------------


def _bare() -> Candidate:
    return Candidate(BASELINE, call, acall)


def _llm_retry() -> Candidate:
    return Candidate(SUBJECT, llm_retry(call), llm_retry(acall))


def _budget_deadline() -> Candidate:
    decorate = budget(total=90)
    return Candidate(
        "@budget(total=90) + llm_retry",
        decorate(llm_retry(call)),
        decorate(llm_retry(acall)),
    )


def _budget_named() -> Candidate:
    decorate = budget("bench", total=90)  # a retry budget and coordinated waits under "bench"
    return Candidate(
        '@budget("bench") + llm_retry',
        decorate(llm_retry(call)),
        decorate(llm_retry(acall)),
    )


def _wrapt_passthru() -> Candidate:
    wrapt = importlib.import_module("wrapt")

    @wrapt.decorator
    def passthru(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        return wrapped(*args, **kwargs)

    return Candidate("wrapt pass-through", passthru(call), passthru(acall))


def _tenacity() -> Candidate:
    tenacity = importlib.import_module("tenacity")
    decorate = tenacity.retry(stop=tenacity.stop_after_attempt(5))
    return Candidate(REFERENCE, decorate(call), decorate(acall))


def _stamina() -> Candidate:
    stamina = importlib.import_module("stamina")
    decorate = stamina.retry(on=Exception, attempts=5)
    return Candidate("stamina", decorate(call), decorate(acall))


def _backoff() -> Candidate:
    backoff = importlib.import_module("backoff")
    decorate = backoff.on_exception(backoff.expo, Exception, max_tries=5)
    return Candidate("backoff", decorate(call), decorate(acall))


BUILDERS: tuple[Callable[[], Candidate], ...] = (
    _bare,
    _llm_retry,
    _budget_deadline,
    _budget_named,
    _wrapt_passthru,
    _tenacity,
    _stamina,
    _backoff,
)


def build_candidates() -> tuple[list[Candidate], list[str]]:
    """Every candidate whose library imports, and a note for each one skipped."""
    candidates: list[Candidate] = []
    skipped: list[str] = []
    for build in BUILDERS:
        try:
            candidates.append(build())
        except ImportError as exc:
            skipped.append(f"{build.__name__.lstrip('_')}: not installed ({exc})")
    return candidates, skipped


# -- timing --------------------------------------------------------------------------------


@contextmanager
def gc_paused() -> Iterator[None]:
    """Garbage collection off for the block, as `timeit` does."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_sync(fn: SyncFn, number: int) -> float:
    """Seconds for ``number`` calls of ``fn(1)``."""
    return timeit.Timer("f(1)", globals={"f": fn}).timeit(number)


async def _await_loop(fn: AsyncFn, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        await fn(1)
    return time.perf_counter() - start


def time_async(fn: AsyncFn, number: int) -> float:
    """Seconds for ``number`` awaits of ``fn(1)``, inside one fresh event loop."""
    with gc_paused():
        return asyncio.run(_await_loop(fn, number))


def best_seconds(
    candidates: list[Candidate], mode: str, number: int, repeat: int
) -> dict[str, float]:
    """Each candidate's best repetition, in seconds per call; repetitions interleaved."""
    runner: Callable[[Any, int], float] = time_sync if mode == "sync" else time_async
    pick: Callable[[Candidate], Any] = (lambda c: c.sync) if mode == "sync" else lambda c: c.async_
    for candidate in candidates:  # warm up: first-call caches, lazy imports
        runner(pick(candidate), min(number, 1_000))
    best = {c.name: float("inf") for c in candidates}
    for _ in range(repeat):
        for candidate in candidates:
            seconds = runner(pick(candidate), number) / number
            best[candidate.name] = min(best[candidate.name], seconds)
    return best


def to_rows(best: dict[str, float]) -> list[Row]:
    """Microseconds per call, over the bare call, and as a multiple of tenacity's overhead."""
    bare = best[BASELINE]
    reference = best.get(REFERENCE)
    reference_overhead = None if reference is None else reference - bare
    rows = []
    for name, seconds in best.items():
        overhead = seconds - bare
        ratio = None
        if name != BASELINE and reference_overhead is not None and reference_overhead > 0:
            ratio = overhead / reference_overhead
        rows.append(Row(name, seconds * 1e6, overhead * 1e6, ratio))
    return rows


# -- reporting -----------------------------------------------------------------------------


def format_table(title: str, rows: list[Row]) -> str:
    """An aligned text table of one mode's rows."""
    width = max(len(row.name) for row in rows)
    header = f"{'decorator':<{width}}  {'µs/call':>9}  {'over bare':>10}  {'vs tenacity':>14}"
    lines = [title, header, "-" * len(header)]
    for row in rows:
        over = "-" if row.name == BASELINE else f"{row.overhead_us:+.3f}"
        ratio = "-" if row.vs_tenacity is None else f"{row.vs_tenacity:.3f}x tenacity"
        lines.append(f"{row.name:<{width}}  {row.total_us:>9.3f}  {over:>10}  {ratio:>14}")
    return "\n".join(lines)


def check_targets(results: dict[str, list[Row]]) -> dict[str, dict[str, Any]]:
    """``@llm_retry``'s overhead in each mode against its target."""
    checks = {}
    for mode, target in TARGETS_US.items():
        row = next(r for r in results[mode] if r.name == SUBJECT)
        checks[mode] = {
            "overhead_us": row.overhead_us,
            "target_us": target,
            "passed": row.overhead_us <= target,
        }
    return checks


def format_targets(checks: dict[str, dict[str, Any]]) -> str:
    """One line: each target, the measured overhead, PASS or FAIL."""
    parts = [
        f"{mode} {c['overhead_us']:.3f} µs <= {c['target_us']} µs "
        f"{'PASS' if c['passed'] else 'FAIL'}"
        for mode, c in checks.items()
    ]
    return "targets for @llm_retry over the bare call: " + "; ".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (CI)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--number", type=int, help="calls per repetition")
    parser.add_argument("--repeat", type=int, help="repetitions (the best is kept)")
    args = parser.parse_args(argv)
    args.number = args.number or (QUICK_NUMBER if args.quick else DEFAULT_NUMBER)
    args.repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    candidates, skipped = build_candidates()
    started = time.perf_counter()
    results = {
        mode: to_rows(best_seconds(candidates, mode, args.number, args.repeat))
        for mode in ("sync", "async")
    }
    checks = check_targets(results)
    environment = (
        f"Python {platform.python_version()} ({platform.python_implementation()}) "
        f"on {platform.machine()} {platform.system()}"
    )
    if args.json:
        report = {
            "environment": environment,
            "number": args.number,
            "repeat": args.repeat,
            "skipped": skipped,
            "targets": checks,
            **{mode: [asdict(row) for row in rows] for mode, rows in results.items()},
        }
        print(json.dumps(report, indent=2))
        return 0
    print(f"Happy-path overhead, {environment}")
    print(f"{args.number:,} calls x {args.repeat} repetitions per row, best repetition kept")
    for note in skipped:
        print(f"skipped {note}")
    for mode, rows in results.items():
        print()
        print(format_table(f"{mode}:", rows))
    print()
    print(f"measured in {time.perf_counter() - started:.1f} s")
    print(format_targets(checks))
    if args.quick:
        print("(--quick is a smoke run: too short for the targets to mean much)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
