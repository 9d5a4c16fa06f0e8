"""The built wheel is complete: every module imports and every preset loads from it alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "llm_retry"

CHECK = """
import importlib, json, pkgutil, sys
import llm_retry, llm_retry.presets as p
modules = sorted(m.name for m in pkgutil.walk_packages(llm_retry.__path__, "llm_retry."))
for name in modules:
    importlib.import_module(name)
loaded = {name: [p.load_preset(name, prof).attempts for prof in p.PROFILES]
          for name in p.available_presets()}
print(json.dumps({"file": llm_retry.__file__, "modules": modules, "presets": loaded,
                  "sources": p.available_presets(),
                  "loaded_from": sorted({m.__file__ for n, m in sys.modules.items()
                                         if n.startswith("llm_retry") and m.__file__})}))
"""


def run(*args: str, env: dict[str, str] | None = None) -> str:
    """Run a command, failing the test with its output if it fails."""
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def source_modules() -> set[str]:
    """Every module of the source tree, as a dotted name."""
    names = set()
    for path in SOURCE.rglob("*.py"):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names - {"llm_retry", "llm_retry.__main__"}


def test_wheel_has_every_module_and_loads_every_preset(tmp_path):
    """A wheel built from this tree, alone on the path, imports every module and loads presets.

    Python runs with -S so the editable install of the source tree (a .pth path) cannot
    supply a module the wheel forgot; the dependencies come from site-packages on PYTHONPATH.
    """
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", str(wheels), str(ROOT),
    )  # fmt: skip
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
    site = sysconfig.get_paths()["purelib"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), site])}
    env.pop("LLM_RETRY_POLICIES", None)
    result = json.loads(run(sys.executable, "-S", "-c", CHECK, env=env))
    assert result["file"].startswith(str(target))
    assert all(path.startswith(str(target)) for path in result["loaded_from"])
    assert source_modules() <= set(result["modules"])
    assert set(result["presets"]) == {"anthropic", "deepseek", "generic", "openai"}
    assert result["presets"]["deepseek"] == [3, 3, 5]
    assert all(source.startswith("llm_retry/policies/") for source in result["sources"].values())
