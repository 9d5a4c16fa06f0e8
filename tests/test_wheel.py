"""The built wheel ships the presets: every preset and profile loads from an installed wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import json, llm_retry, llm_retry.presets as p
loaded = {name: [p.load_preset(name, prof).attempts for prof in p.PROFILES]
          for name in p.available_presets()}
print(json.dumps({"file": llm_retry.__file__, "presets": loaded,
                  "sources": p.available_presets()}))
"""


def run(*args: str, env: dict[str, str] | None = None) -> str:
    """Run a command, failing the test with its output if it fails."""
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_presets_load_from_the_installed_wheel(tmp_path):
    """A wheel built from this tree, installed on its own, loads every preset and profile."""
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(wheels),
        str(ROOT),
    )
    (wheel,) = wheels.glob("llm_retry-*.whl")
    run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--target",
        str(target),
        str(wheel),
    )
    assert (target / "llm_retry" / "policies" / "deepseek.toml").is_file()
    assert (target / "llm_retry" / "py.typed").is_file()
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("LLM_RETRY_POLICIES", None)
    out = run(sys.executable, "-c", CHECK, env=env)

    result = json.loads(out)
    assert result["file"].startswith(str(target))
    assert set(result["presets"]) == {"anthropic", "deepseek", "generic", "openai"}
    assert result["presets"]["deepseek"] == [3, 3, 5]
    assert all(source.startswith("llm_retry/policies/") for source in result["sources"].values())
