"""The API reference: the site builds strictly and renders every public name of the package."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import need

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"
PUBLIC_MODULES = (
    "llm_retry",
    "llm_retry.instrumentation",
    "llm_retry.presets",
    "llm_retry.sdk",
    "llm_retry.stores",
    "llm_retry.testing",
    "llm_retry.validators",
)
ANCHOR = re.compile(r'\bid="(llm_retry[\w.]*)"')


def public_names() -> list[tuple[str, str]]:
    """Every (module, name) pair that a public module's ``__all__`` lists."""
    pairs = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        pairs += [(module_name, name) for name in module.__all__]
    return pairs


def accepted_anchors(module_name: str, name: str) -> set[str]:
    """The anchors under which the reference may render ``module_name.name``.

    Either the public path (``llm_retry.Policy``) or, for a name that a submodule of the same
    name shadows (``llm_retry.circuit``), the path where it is defined.
    """
    value = getattr(importlib.import_module(module_name), name)
    anchors = {f"{module_name}.{name}"}
    defined_in = getattr(value, "__module__", None)
    if isinstance(defined_in, str):
        anchors.add(f"{defined_in}.{name}")
    return anchors


@pytest.fixture(scope="module")
def site_anchors(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The object anchors of the built reference pages (the site is built once, strictly)."""
    need("mkdocstrings_handlers.python")  # the docs extra: a failure under CI, not a skip
    site = tmp_path_factory.mktemp("site")
    build = subprocess.run(  # noqa: S603 - our own interpreter and mkdocs
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "", "HOME": str(site)},
    )
    assert build.returncode == 0, build.stderr[-3000:]
    anchors: set[str] = set()
    for page in (site / "reference").rglob("index.html"):
        anchors |= set(ANCHOR.findall(page.read_text(encoding="utf-8")))
    return anchors


@pytest.mark.parametrize(("module_name", "name"), public_names())
def test_every_public_name_is_in_the_reference(site_anchors, module_name, name):
    """Each name of a public module's __all__ has its own entry in the built API reference."""
    assert accepted_anchors(module_name, name) & site_anchors, f"{module_name}.{name}"


def test_every_public_module_has_a_reference_page():
    """Each public module is rendered by a ``:::`` directive on a page of docs/reference/."""
    directives = {
        line.removeprefix("::: ").strip()
        for page in REFERENCE.glob("*.md")
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("::: ")
    }
    missing = [m for m in PUBLIC_MODULES if m not in directives and m != "llm_retry"]
    assert not missing
    assert {f"llm_retry.{name}" for name in ("Policy", "llm_retry")} <= directives
