from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "benchmarks" / "bench_overhead.py"


def test_bench_overhead_quick_json_runs() -> None:
    """The overhead benchmark's quick run exits 0 and reports llm_retry and tenacity timings."""
    proc = subprocess.run(  # noqa: S603 - our own script, run by this interpreter
        [sys.executable, str(SCRIPT), "--quick", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for mode in ("sync", "async"):
        rows = {row["name"]: row for row in report[mode]}
        for name in ("llm_retry", "tenacity"):
            assert rows[name]["total_us"] > 0, (mode, name, rows[name])


def test_bench_circuit_quick_json_runs() -> None:
    """The circuit benchmark's quick run exits 0 and reports every outage and overhead row."""
    proc = subprocess.run(  # noqa: S603 - our own script, run by this interpreter
        [sys.executable, str(REPO_ROOT / "benchmarks" / "bench_circuit.py"), "--quick", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    outage = {row["name"]: row for row in report["outage"]}
    for name in ("naive tenacity", "openai max_retries=2", "@llm_retry + @circuit"):
        assert outage[name]["requests_during_outage"] > 0, (name, outage[name])
        assert set(outage[name]["targets"]) >= {"outage_load", "recovery"}, outage[name]
    assert report["naive_60s"]["baseline"] > 0
    for mode in ("sync", "async"):
        rows = {row["name"]: row for row in report["overhead"][mode]}
        for name in ("bare call", "@circuit", "@llm_retry + @circuit"):
            assert rows[name]["total_us"] > 0, (mode, name, rows[name])


def test_bench_burst_quick_json_runs() -> None:
    """The burst benchmark's quick run exits 0 and reports a row for every client."""
    proc = subprocess.run(  # noqa: S603 - our own script, run by this interpreter
        [sys.executable, str(REPO_ROOT / "benchmarks" / "bench_burst.py"), "--quick", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    rows = {row["name"]: row for row in report["rows"]}
    for name in (
        "openai max_retries=2",
        "tenacity (article recipe)",
        "@budget(pace=True) + @llm_retry",
    ):
        assert rows[name]["done"] + rows[name]["lost"] == report["n"], rows[name]
        assert rows[name]["requests"] >= rows[name]["done"], rows[name]
    assert set(report["target"]) >= {"passed", "requests_per_call", "ratio"}
