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
skipped with a note. Two rows show the README's stack (``@budget(total=90)
@llm_retry(preset="deepseek") @circuit(...)``) with the preset's admission (concurrency limit
and rate windows under ``"deepseek"``, on by default) and with ``limits=False``.

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
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import _bench
from llm_retry import budget, llm_retry

REFERENCE = "tenacity"
SUBJECT = "llm_retry"
TARGETS_US = {"sync": 1.0, "async": 1.5}
DEFAULT_NUMBER, DEFAULT_REPEAT = 5_000, 20  # many short repetitions: min() finds a quiet one
QUICK_NUMBER, QUICK_REPEAT = 2_000, 2


@dataclass(frozen=True)
class Candidate:
    """One row of the tables: a decorator applied to `call` and to `acall`."""

    name: str
    sync: _bench.SyncFn
    async_: _bench.AsyncFn


@dataclass(frozen=True)
class Row:
    """The best timing of one candidate, in microseconds per call."""

    name: str
    total_us: float
    overhead_us: float
    vs_tenacity: float | None


# -- the candidates ------------------------------------------------------------------------


def _bare() -> Candidate:
    return Candidate(_bench.BASELINE, _bench.call, _bench.acall)


def _llm_retry() -> Candidate:
    return Candidate(SUBJECT, llm_retry(_bench.call), llm_retry(_bench.acall))


def _budget_deadline() -> Candidate:
    decorate = budget(total=90)
    return Candidate(
        "@budget(total=90) + llm_retry",
        decorate(llm_retry(_bench.call)),
        decorate(llm_retry(_bench.acall)),
    )


def _budget_named() -> Candidate:
    decorate = budget("bench", total=90)  # a retry budget and coordinated waits under "bench"
    return Candidate(
        '@budget("bench") + llm_retry',
        decorate(llm_retry(_bench.call)),
        decorate(llm_retry(_bench.acall)),
    )


def _readme_stack(*, limits: bool = True) -> Candidate:
    """The README's stack as written (its circuit in a store of its own, closed and clean)."""
    from llm_retry import circuit  # noqa: PLC0415
    from llm_retry.stores import MemoryStore  # noqa: PLC0415

    outer = budget(total=90)
    retry = llm_retry(preset="deepseek", limits=limits)
    breaker = circuit("bench-readme", preset="deepseek", store=MemoryStore())
    label = "README stack" if limits else "README stack, limits=False"
    return Candidate(label, outer(retry(breaker(_bench.call))), outer(retry(breaker(_bench.acall))))


def _readme_unlimited() -> Candidate:
    return _readme_stack(limits=False)


def _wrapt_passthru() -> Candidate:
    decorate = importlib.import_module("wrapt").decorator(_bench.passthru)
    return Candidate("wrapt pass-through", decorate(_bench.call), decorate(_bench.acall))


def _tenacity() -> Candidate:
    tenacity = importlib.import_module("tenacity")
    decorate = tenacity.retry(stop=tenacity.stop_after_attempt(5))
    return Candidate(REFERENCE, decorate(_bench.call), decorate(_bench.acall))


def _stamina() -> Candidate:
    stamina = importlib.import_module("stamina")
    decorate = stamina.retry(on=Exception, attempts=5)
    return Candidate("stamina", decorate(_bench.call), decorate(_bench.acall))


def _backoff() -> Candidate:
    backoff = importlib.import_module("backoff")
    decorate = backoff.on_exception(backoff.expo, Exception, max_tries=5)
    return Candidate("backoff", decorate(_bench.call), decorate(_bench.acall))


BUILDERS: tuple[Callable[[], Candidate], ...] = (
    _bare,
    _llm_retry,
    _budget_deadline,
    _budget_named,
    _readme_stack,
    _readme_unlimited,
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


def time_candidates(
    candidates: list[Candidate], mode: str, number: int, repeat: int
) -> dict[str, float]:
    """Each candidate's best repetition, in seconds per call; repetitions interleaved."""
    found = {c.name: c.sync if mode == "sync" else c.async_ for c in candidates}
    return _bench.best_seconds(found, mode, number, repeat)


def to_rows(best: dict[str, float]) -> list[Row]:
    """Microseconds per call, over the bare call, and as a multiple of tenacity's overhead."""
    return [Row(*timing) for timing in _bench.over_baseline(best, REFERENCE)]


# -- reporting -----------------------------------------------------------------------------


def format_table(title: str, rows: list[Row]) -> str:
    """An aligned text table of one mode's rows."""
    timings = [(r.name, r.total_us, r.overhead_us, r.vs_tenacity) for r in rows]
    return _bench.timing_table(
        title, timings, REFERENCE, ratio_width=14, ratio_suffix=f"x {REFERENCE}"
    )


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
    parser = _bench.arg_parser(__doc__)
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
        mode: to_rows(time_candidates(candidates, mode, args.number, args.repeat))
        for mode in ("sync", "async")
    }
    checks = check_targets(results)
    if args.json:
        report = {
            "environment": _bench.environment(),
            "number": args.number,
            "repeat": args.repeat,
            "skipped": skipped,
            "targets": checks,
            **{mode: [asdict(row) for row in rows] for mode, rows in results.items()},
        }
        return _bench.print_json(report)
    print(f"Happy-path overhead, {_bench.environment()}")
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
