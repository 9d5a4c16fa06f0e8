"""The source layout needs no import hook, so type checkers and editors see the package."""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src"


def test_the_presets_are_linked_into_the_package():
    """src/llm_retry/policies is the top-level policies/ folder, through a symbolic link."""
    link = SOURCE / "llm_retry" / "policies"
    assert link.is_symlink()
    assert link.resolve() == (ROOT / "policies").resolve()
    assert (link / "deepseek.toml").is_file()


def test_an_editable_install_is_a_plain_path():
    """`pip install -e .` writes a .pth naming src/, not an import hook a type checker can't run."""
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    found = [
        pth
        for folder in folders
        for pth in Path(folder).glob("__editable__*llm_retry*.pth")
        if Path(folder).is_dir()
    ]
    if not found and os.environ.get("CI") != "true":  # under CI the install is editable
        pytest.skip(f"llm-retry is not installed in editable mode for {sys.executable}")
    lines = [line.strip() for pth in found for line in pth.read_text().splitlines() if line]
    assert [Path(line).resolve() for line in lines] == [SOURCE]
