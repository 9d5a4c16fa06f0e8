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
