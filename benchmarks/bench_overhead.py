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

Besides the per-call tables it measures, in the same run: a call refused by an open circuit
(metric hooks on) against pybreaker's refusal; memory per async call in flight (10,000 calls
blocked inside the stack, against the same calls bare, by ``tracemalloc``); and the time of
``import llm_retry`` against ``import tenacity`` (fresh interpreters, best of several).

The last lines check the project's targets and print PASS or FAIL; the exit code is 0 either
way. The README stack is ``@budget(total=90) @llm_retry(preset="deepseek") @circuit(...)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import math
import subprocess
import sys
import time
import timeit
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import _bench
from llm_retry import budget, circuit, fallback, llm_retry

REFERENCE = "tenacity"
SUBJECT = "llm_retry"
STACK = "README stack"
FALLBACK = "@fallback + README stack"
TARGETS_US = {
    (SUBJECT, "sync"): 1.0,
    (SUBJECT, "async"): 1.0,
    (STACK, "sync"): 2.0,
    (STACK, "async"): 3.0,
    (FALLBACK, "sync"): 2.5,
    (FALLBACK, "async"): 3.5,
}
STACK_VS_TENACITY = 0.12  # the stack adds at most this share of what tenacity adds
REFUSAL_US = 5.0  # a call an open circuit refuses, metric hooks on
MEMORY_RATIO = 2.0  # bytes per async call in flight through the stack, against bare
IMPORT_RATIO = 2.0  # import llm_retry against import tenacity
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


def _stack(name: str) -> Callable[[Any], Any]:
    def decorate(fn: Any) -> Any:
        breaker = circuit(f"bench-{name}-{fn.__name__}", preset="deepseek")
        return budget(total=90)(llm_retry(preset="deepseek")(breaker(fn)))

    return decorate


def _readme_stack() -> Candidate:
    decorate = _stack("stack")
    return Candidate(STACK, decorate(_bench.call), decorate(_bench.acall))


def _fallback_stack() -> Candidate:
    decorate = _stack("fallback")
    return Candidate(
        FALLBACK,
        fallback(_bench.call)(decorate(_bench.call)),
        fallback(_bench.acall)(decorate(_bench.acall)),
    )


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
    _fallback_stack,
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


def check_targets(
    results: dict[str, list[Row]], extras: dict[str, Any]
) -> list[tuple[str, float, float, bool]]:
    """Each target: what it is, the figure, the bound, and whether the figure is within it."""
    checks = []
    for (name, mode), bound in TARGETS_US.items():
        row = next((r for r in results[mode] if r.name == name), None)
        if row is not None:
            checks.append((f"{name} {mode} µs over bare", row.overhead_us, bound, False))
    for mode in ("sync", "async"):
        row = next((r for r in results[mode] if r.name == STACK), None)
        if row is not None and row.vs_tenacity is not None:
            label = f"{STACK} {mode} x tenacity"
            checks.append((label, row.vs_tenacity, STACK_VS_TENACITY, False))
    checks.append(("refusal by an open circuit µs", extras["refusal_us"], REFUSAL_US, False))
    checks.append(("memory per call in flight x bare", extras["memory_ratio"], MEMORY_RATIO, False))
    checks.append(("import llm_retry x tenacity", extras["import_ratio"], IMPORT_RATIO, False))
    return [(label, value, bound, value <= bound) for label, value, bound, _ in checks]


def format_targets(checks: list[tuple[str, float, float, bool]]) -> str:
    """One line per target: the figure, the bound, PASS or FAIL."""
    return "\n".join(
        f"target {label}: {value:.3f} <= {bound} {'PASS' if ok else 'FAIL'}"
        for label, value, bound, ok in checks
    )


# -- beyond the happy path -----------------------------------------------------------------


def refusal_us(number: int, repeat: int) -> dict[str, float]:
    """µs per call refused by an open circuit, with the default metric hooks; and pybreaker's."""
    from llm_retry import CircuitOpenError  # noqa: PLC0415
    from llm_retry.instrumentation import default_hooks, get_hooks, set_hooks  # noqa: PLC0415

    before = get_hooks()
    set_hooks(default_hooks())
    breaker = circuit("bench-refusal", break_duration=60)
    guarded = breaker(_bench.call)
    breaker.open()

    def refused() -> None:
        with contextlib.suppress(CircuitOpenError):
            guarded(1)

    timings = {"llm_retry": refused}
    try:
        pybreaker = importlib.import_module("pybreaker")
        peer = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60)
        peer_guarded = peer(_bench.call)
        peer.open()

        def peer_refused() -> None:
            with contextlib.suppress(pybreaker.CircuitBreakerError):
                peer_guarded(1)

        timings["pybreaker"] = peer_refused
    except ImportError:
        pass
    try:
        with _bench.gc_paused():
            return {
                name: min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6
                for name, fn in timings.items()
            }
    finally:
        set_hooks(before)
        breaker.reset()


def inflight_bytes(calls: int) -> dict[str, float]:
    """Bytes held per async call in flight: bare, and through the README stack."""

    async def blocked(gate: asyncio.Event) -> int:
        await gate.wait()
        return 1

    stacked = _stack("inflight")(blocked)

    async def measure(fn: Callable[[asyncio.Event], Any]) -> float:
        gate = asyncio.Event()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        tasks = [asyncio.ensure_future(fn(gate)) for _ in range(calls)]
        await asyncio.sleep(0)
        held = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        gate.set()
        await asyncio.gather(*tasks)
        return held / calls

    return {
        "bare": asyncio.run(measure(blocked)),
        STACK: asyncio.run(measure(stacked)),
    }


def import_ms(module: str, runs: int) -> float:
    """Best time of ``import module`` in a fresh interpreter, in milliseconds."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    best = math.inf
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        best = min(best, float(out.stdout))
    return best * 1e3


def extras(quick: bool) -> dict[str, Any]:
    """The measurements beyond the per-call tables."""
    refusals = refusal_us(200 if quick else 5_000, 2 if quick else 7)
    memory = inflight_bytes(500 if quick else 10_000)
    runs = 2 if quick else 7
    imports = {"llm_retry": import_ms("llm_retry", runs), "tenacity": import_ms("tenacity", runs)}
    return {
        "refusal": refusals,
        "refusal_us": refusals["llm_retry"],
        "memory_bytes": memory,
        "memory_ratio": memory[STACK] / memory["bare"],
        "import_ms": imports,
        "import_ratio": imports["llm_retry"] / imports["tenacity"],
    }


def format_extras(found: dict[str, Any]) -> str:
    refusal = ", ".join(f"{k} {v:.2f} µs" for k, v in found["refusal"].items())
    memory = ", ".join(f"{k} {v:,.0f} B" for k, v in found["memory_bytes"].items())
    imports = ", ".join(f"{k} {v:.1f} ms" for k, v in found["import_ms"].items())
    return (
        f"refused by an open circuit (metric hooks on): {refusal}\n"
        f"memory per async call in flight: {memory} ({found['memory_ratio']:.2f}x bare)\n"
        f"import (fresh interpreter, best): {imports} ({found['import_ratio']:.2f}x tenacity)"
    )


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
    found = extras(args.quick)
    checks = check_targets(results, found)
    if args.json:
        report = {
            "environment": _bench.environment(),
            "number": args.number,
            "repeat": args.repeat,
            "skipped": skipped,
            "targets": [
                {"target": label, "value": value, "bound": bound, "passed": ok}
                for label, value, bound, ok in checks
            ],
            "extras": found,
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
    print(format_extras(found))
    print()
    print(f"measured in {time.perf_counter() - started:.1f} s")
    print(format_targets(checks))
    if args.quick:
        print("(--quick is a smoke run: too short for the targets to mean much)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
