from __future__ import annotations

import json
from pathlib import Path

from helpers import run_python
from redis_server import RedisServer

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO_ROOT / "benchmarks"


def quick_json(script: Path, *args: str, timeout: float) -> dict:
    """Run a benchmark script's ``--quick --json`` from the repository root; its JSON report."""
    return json.loads(
        run_python(str(script), "--quick", "--json", *args, timeout=timeout, cwd=REPO_ROOT)
    )


def test_bench_overhead_quick_json_runs() -> None:
    """The overhead benchmark's quick run exits 0 and reports llm_retry and tenacity timings."""
    report = quick_json(BENCHMARKS / "bench_overhead.py", timeout=120)
    for mode in ("sync", "async"):
        rows = {row["name"]: row for row in report[mode]}
        for name in ("llm_retry", "tenacity", "README stack", "@fallback + README stack"):
            assert rows[name]["total_us"] > 0, (mode, name, rows[name])
    extras = report["extras"]
    assert extras["refusal"]["llm_retry"] > 0
    assert extras["memory_bytes"]["bare"] > 0
    assert extras["memory_bytes"]["README stack"] > 0
    assert extras["import_ms"]["llm_retry"] > 0
    assert {t["target"] for t in report["targets"]} >= {
        "README stack sync µs over bare",
        "refusal by an open circuit µs",
        "import llm_retry x tenacity",
    }


def test_bench_circuit_quick_json_runs(redis_server: RedisServer) -> None:
    """The circuit benchmark's quick run exits 0 and reports every outage and overhead row."""
    report = quick_json(BENCHMARKS / "bench_circuit.py", "--redis", redis_server.url, timeout=120)
    outage = {row["name"]: row for row in report["outage"]}
    for name in ("naive tenacity", "openai max_retries=2", "@llm_retry + @circuit"):
        assert outage[name]["requests_during_outage"] > 0, (name, outage[name])
        assert set(outage[name]["targets"]) >= {"outage_load", "recovery"}, outage[name]
    assert report["naive_60s"]["baseline"] > 0
    for mode in ("sync", "async"):
        rows = {row["name"]: row for row in report["overhead"][mode]}
        for name in ("bare call", "@circuit", "@llm_retry + @circuit", "@circuit (RedisStore)"):
            assert rows[name]["total_us"] > 0, (mode, name, rows[name])


def test_bench_burst_quick_json_runs() -> None:
    """The burst benchmark's quick run exits 0 and reports a row for every client."""
    report = quick_json(BENCHMARKS / "bench_burst.py", timeout=180)
    rows = {row["name"]: row for row in report["rows"]}
    for name in (
        "openai max_retries=2",
        "tenacity (article recipe)",
        "@budget(pace=True) + @llm_retry",
    ):
        assert rows[name]["done"] + rows[name]["lost"] == report["n"], rows[name]
        assert rows[name]["requests"] >= rows[name]["done"], rows[name]
    assert set(report["target"]) >= {"passed", "requests_per_call", "ratio"}


def test_bench_redis_quick_json_runs(redis_server: RedisServer) -> None:
    """The Redis benchmark's quick run (its own redis-server) reports every figure, and the
    fail-safe ones hold: no call through an open circuit, exactly K probes."""
    report = quick_json(BENCHMARKS / "bench_redis.py", timeout=120)
    assert set(report["open_circuit_admitted"].values()) == {0}
    assert report["half_open_probes_admitted"] == report["k"]
    for rows in report["stall"].values():
        assert set(rows) == {"healthy", "hung"}
        assert all(row["worst_stall_ms"] > 0 for row in rows.values())
    assert report["stall"]["async (redis.asyncio)"]["hung"]["worst_stall_ms"] < 250
    assert report["per_key"]["throttles_kept"] == 10_000
