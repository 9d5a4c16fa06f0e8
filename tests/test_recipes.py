"""The provider recipes in docs/recipes/ run against the fault server and print what they show.

The pages use the docs' conventions: ``<!-- test: run -->`` before a fenced ``python`` block runs
it (the blocks of a page share one namespace, in order), and ``<!-- test: output -->`` before a
fenced ``text`` block makes it the exact output of the run block before it. The recipes read API
keys from the environment as real code does; fake ones are set here.
"""

from __future__ import annotations

import contextlib
import gc
import io
import re
from pathlib import Path

import pytest
import structlog

from llm_retry import sdk

RECIPES = Path(__file__).resolve().parent.parent / "docs" / "recipes"
MARKER = re.compile(r"^<!-- test: (run|output) -->$")
FAKE_KEYS = {
    "DEEPSEEK_API_KEY": "sk-recipe-test",
    "OPENAI_API_KEY": "sk-recipe-test",
    "ANTHROPIC_API_KEY": "sk-ant-recipe-test",
}


def marked_blocks(page: Path) -> list[tuple[str, str, int]]:
    """(kind, code, line) of each marked fenced block of ``page``."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found = []
    for index, line in enumerate(lines):
        marker = MARKER.match(line.strip())
        if marker is None:
            continue
        assert lines[index + 1].startswith("```"), f"{page.name}:{index + 1}: no fence"
        end = next(i for i in range(index + 2, len(lines)) if lines[i].startswith("```"))
        found.append((marker[1], "\n".join(lines[index + 2 : end]), index + 3))
    return found


@contextlib.contextmanager
def quiet_structlog():
    """Keep the events out of the printed output; restore structlog afterwards."""
    configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    try:
        yield
    finally:
        if configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


PAGES = sorted(page.name for page in RECIPES.glob("*.md"))


def test_every_provider_has_a_recipe():
    """DeepSeek, OpenAI, Anthropic and plain HTTP each have a page with runnable examples."""
    assert set(PAGES) >= {"deepseek.md", "openai.md", "anthropic.md", "http.md"}
    for page in PAGES:
        assert any(kind == "run" for kind, _, _ in marked_blocks(RECIPES / page)), page


@pytest.mark.parametrize("page", PAGES)
def test_recipe_runs_and_prints_what_it_shows(page, monkeypatch):
    """Every run block of the recipe runs, and each output block is exactly what was printed."""
    for name, value in FAKE_KEYS.items():
        monkeypatch.setenv(name, value)
    sdk.forget()
    namespace: dict[str, object] = {"__name__": "__main__"}
    printed = None
    with quiet_structlog():
        for kind, code, line in marked_blocks(RECIPES / page):
            where = f"docs/recipes/{page}:{line}"
            if kind == "output":
                assert printed is not None, f"{where}: output without a run block before it"
                assert printed.strip() == code.strip(), where
                continue
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, where, "exec"), namespace)  # noqa: S102
            printed = out.getvalue()
    # Failed SDK streams wait in reference cycles for the collector, and openai's finalizer
    # misbehaves while httpx is half-imported (a later page's `import httpx`): collect here.
    gc.collect()
