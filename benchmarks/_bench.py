"""What the benchmark scripts share: the functions under test, the timing, the report plumbing.

The scripts run as ``python benchmarks/bench_x.py``, which puts this folder on ``sys.path``, so
they ``import _bench``. Happy-path timing works as ``bench_overhead.py`` describes: sync calls
with `timeit` (garbage collection off), async calls as awaits in a loop inside one
`asyncio.run` per repetition (loop start-up not counted, garbage collection off), repetitions
interleaved across candidates, the best (minimum) repetition kept.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import platform
import time
import timeit
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

SyncFn = Callable[[int], int]
AsyncFn = Callable[[int], Awaitable[int]]
PerCall = tuple[str, float, float, float | None]  # name, µs/call, µs over bare, vs reference

BASELINE = "bare call"


# -- the functions under test --------------------------------------------------------------


def call(x: int) -> int:
    """The function under test: succeeds at once."""
    return x


async def acall(x: int) -> int:
    """The async function under test: succeeds at once."""
    return x


def passthru(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """A wrapt decorator that does nothing: the floor any wrapt-based decorator pays.

    Apply it as ``wrapt.decorator(passthru)(fn)``.
    """
    return wrapped(*args, **kwargs)


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


def best_seconds(found: dict[str, Any], mode: str, number: int, repeat: int) -> dict[str, float]:
    """Each candidate's best repetition, in seconds per call; repetitions interleaved.

    ``found`` maps a row's name to its function: sync when ``mode`` is ``"sync"``, else async.
    """
    runner: Callable[[Any, int], float] = time_sync if mode == "sync" else time_async
    for fn in found.values():  # warm up: first-call caches, lazy imports
        runner(fn, min(number, 1_000))
    best = dict.fromkeys(found, math.inf)
    for _ in range(repeat):
        for name, fn in found.items():
            best[name] = min(best[name], runner(fn, number) / number)
    return best


def over_baseline(best: dict[str, float], reference: str) -> list[PerCall]:
    """Microseconds per call, over the bare call, and as a multiple of the reference's overhead.

    The multiple is None for the bare call, and for every row when the reference is missing or
    adds nothing.
    """
    bare = best[BASELINE]
    ref = best.get(reference)
    ref_over = None if ref is None else ref - bare
    rows: list[PerCall] = []
    for name, seconds in best.items():
        over = seconds - bare
        ratio = None if name == BASELINE or not ref_over or ref_over <= 0 else over / ref_over
        rows.append((name, seconds * 1e6, over * 1e6, ratio))
    return rows


# -- reporting -----------------------------------------------------------------------------


def timing_table(
    title: str, rows: list[PerCall], reference: str, *, ratio_width: int, ratio_suffix: str = "x"
) -> str:
    """An aligned text table of one mode's timings, the last column ``vs <reference>``."""
    width = max(len(name) for name, *_ in rows)
    label = f"vs {reference}"
    header = f"{'decorator':<{width}}  {'µs/call':>9}  {'over bare':>10}  {label:>{ratio_width}}"
    lines = [title, header, "-" * len(header)]
    for name, total_us, overhead_us, vs_reference in rows:
        over = "-" if name == BASELINE else f"{overhead_us:+.3f}"
        ratio = "-" if vs_reference is None else f"{vs_reference:.3f}{ratio_suffix}"
        lines.append(f"{name:<{width}}  {total_us:>9.3f}  {over:>10}  {ratio:>{ratio_width}}")
    return "\n".join(lines)


def environment(*, implementation: bool = True) -> str:
    """``Python 3.x.y (CPython) on x86_64 Linux``; without the implementation if asked."""
    impl = f" ({platform.python_implementation()})" if implementation else ""
    return f"Python {platform.python_version()}{impl} on {platform.machine()} {platform.system()}"


def arg_parser(doc: str | None, quick: str = "tiny smoke run (CI)") -> argparse.ArgumentParser:
    """A parser described by the docstring's first line, with ``--quick`` and ``--json``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def print_json(report: dict[str, Any]) -> int:
    """Print ``report`` as indented JSON; the exit code (0: a report, whatever it says)."""
    print(json.dumps(report, indent=2))
    return 0
