"""The documentation's generated tables and code examples, checked against the code.

Conventions in ``docs/**/*.md``, the provider recipes in ``docs/recipes/`` included (invisible in
the rendered site):

- ``<!-- test: run -->`` on the line before a fenced ``python`` block runs that block. The run
  blocks of one page share one namespace and run in page order, like a doctest session, so a
  later block may use names an earlier one defined. Every ``test_*`` function a block defines
  is then called with no arguments. Examples must not sleep or reach the network: they use
  ``llm_retry.testing.no_wait`` and the local ``FaultServer``. They read API keys from the
  environment as real code does; fake ones are set here.
- ``<!-- test: output -->`` on the line before a fenced ``text`` block makes that block the
  exact standard output of the run block before it.
- ``<!-- test: cli -->`` on the line before a fenced ``text`` block makes it a terminal
  transcript: each ``$ llm-retry ...`` line is run (100 columns wide) and must print exactly the
  lines below it, up to the next ``$`` line.
- Every fenced ``toml`` block that has a ``[statuses]`` table is a complete preset file and must
  be valid under every profile.
- ``<!-- preset-table: NAME [PROFILE] -->`` and ``<!-- preset-settings: NAME -->`` are filled
  in at build time by ``docs/hooks.py``.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import importlib.util
import io
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from helpers import need
from llm_retry import PolicyError, cli, sdk
from llm_retry.cli import quiet_logs
from llm_retry.policy import schema as _schema
from llm_retry.presets import PROFILES, Preset, load_preset

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SOURCE = ROOT / "src" / "llm_retry"
MARKER = re.compile(r"^<!-- test: (run|output|cli) -->$")
FENCE = re.compile(r"^```(\w*)")
PAGES = sorted(DOCS.rglob("*.md"))
NEEDS = {  # the recipes that run a client framework
    "recipes/litellm.md": "litellm",
    "recipes/langchain.md": "langchain_openai",
    "recipes/pydantic-ai.md": "pydantic_ai",
    "recipes/instructor.md": "instructor",
}
FAKE_KEYS = {
    "DEEPSEEK_API_KEY": "sk-recipe-test",
    "OPENAI_API_KEY": "sk-recipe-test",
    "ANTHROPIC_API_KEY": "sk-ant-recipe-test",
}


@dataclass(frozen=True)
class Block:
    """A fenced block of a page that a ``test:`` marker points at."""

    kind: str
    language: str
    code: str
    line: int


def fenced(page: Path, language: str) -> list[str]:
    """The contents of every fenced block of ``language`` in ``page``, marked or not."""
    pattern = rf"^```{language}\n(.*?)^```$"
    return re.findall(pattern, page.read_text(encoding="utf-8"), re.M | re.S)


def page_id(page: Path) -> str:
    """The page's path below ``docs/``, such as ``recipes/openai.md``."""
    return page.relative_to(DOCS).as_posix()


def blocks(page: Path) -> list[Block]:
    """The marked blocks of ``page``, in order; a marker not followed by a fence is an error."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found = []
    for index, line in enumerate(lines):
        marker = MARKER.match(line.strip())
        if marker is None:
            continue
        fence = FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
        assert fence is not None, f"{page_id(page)}:{index + 1}: marker not followed by a fence"
        end = next(i for i in range(index + 2, len(lines)) if lines[i].startswith("```"))
        code = "\n".join(lines[index + 2 : end])
        found.append(Block(marker[1], fence[1], code, index + 3))
    return found


def load_hooks() -> ModuleType:
    """The MkDocs hook module, imported from its file."""
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def restored_environ():
    """Undo any change an example makes to ``os.environ``."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


PAGES_WITH_EXAMPLES = [
    page_id(page) for page in PAGES if any(b.kind == "run" for b in blocks(page))
]
RECIPES = sorted(page.name for page in (DOCS / "recipes").glob("*.md"))


def test_the_decision_model_page_has_runnable_examples():
    """The core page's examples are run by this module, not merely shown."""
    assert "decisions.md" in PAGES_WITH_EXAMPLES


def test_every_provider_has_a_recipe():
    """Each provider, plain HTTP and each client framework has a page with runnable examples."""
    assert set(RECIPES) >= {"deepseek.md", "openai.md", "anthropic.md", "http.md"}
    assert set(RECIPES) >= {"litellm.md", "langchain.md", "pydantic-ai.md", "instructor.md"}
    for page in RECIPES:
        assert any(block.kind == "run" for block in blocks(DOCS / "recipes" / page)), page
        assert f"recipes/{page}" in PAGES_WITH_EXAMPLES, page


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(page, marks=pytest.mark.clients) if page in NEEDS else page
        for page in PAGES_WITH_EXAMPLES
    ],
)
def test_page_examples_run_and_print_what_the_page_shows(page, monkeypatch):
    """Every marked example of the page runs, and its output matches the page's output block."""
    if page in NEEDS:
        need(NEEDS[page])
    for key, value in FAKE_KEYS.items():
        monkeypatch.setenv(key, value)
    sdk.forget()
    namespace: dict[str, object] = {"__name__": "__main__"}
    printed = None
    with quiet_logs(), restored_environ():
        for block in blocks(DOCS / page):
            where = f"docs/{page}:{block.line}"
            if block.kind == "cli":  # run by test_cli_transcripts_print_what_the_page_shows
                continue
            if block.kind == "output":
                assert printed is not None, f"{where}: output block without a run block before it"
                assert printed.strip() == block.code.strip(), where
                continue
            assert block.language == "python", f"{where}: only python blocks can run"
            before = set(namespace)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(block.code, where, "exec"), namespace)  # noqa: S102
                for name in sorted(set(namespace) - before):
                    if name.startswith("test_") and callable(namespace[name]):
                        namespace[name]()
            printed = out.getvalue()
    # Failed SDK streams wait in reference cycles for the collector, and openai's finalizer
    # misbehaves while httpx is half-imported (a later page's `import httpx`): collect here.
    gc.collect()


def test_hook_replaces_every_preset_marker():
    """The hook fills every marker of the presets page, and the deepseek table has its 402 row."""
    hooks = load_hooks()
    page = (DOCS / "presets.md").read_text(encoding="utf-8")
    markers = hooks.MARKER.findall(page)
    assert {name for kind, name, _ in markers if kind == "table"} >= {
        "anthropic",
        "deepseek",
        "generic",
        "openai",
    }
    rendered = hooks.on_page_markdown(page, page=None, config=None, files=None)
    assert "<!-- preset-" not in rendered
    tables = sum(1 for kind, _, _ in markers if kind == "table")
    assert rendered.count("| Rule | Action | Attempts | Waits | Meaning | Fix |") == tables
    assert "| `402` | fail | - | - | insufficient balance | top up the account balance" in rendered


def test_hook_rejects_an_unknown_preset():
    """A marker naming a preset that does not exist stops the build instead of vanishing."""
    hooks = load_hooks()
    with pytest.raises(Exception, match=r"preset-table: nope.*unknown preset 'nope'"):
        hooks.replace_markers("<!-- preset-table: nope -->")


def test_deepseek_worked_example_table_matches_the_preset():
    """The seven-code table on the decision-model page says what the deepseek preset does."""
    policy = load_preset("deepseek", "prod")
    page = (DOCS / "decisions.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| (\d{3}) \|.*\| (Yes.*?|No) \| .* \| (retry|fail) \| (\d+) \|$", page, re.M
    )
    assert [int(code) for code, *_ in rows] == [400, 401, 402, 422, 429, 500, 503]
    for code, article, action, attempts in rows:
        _, rule = policy.rule_for_status(int(code))
        assert rule.action == action == ("fail" if article == "No" else "retry"), code
        expected = 1 if action == "fail" else (rule.attempts or policy.attempts)
        assert int(attempts) == expected, code


TRANSCRIPTS = [
    pytest.param(block, id=f"{page_id(page)}:{block.line}")
    for page in PAGES
    for block in blocks(page)
    if block.kind == "cli"
]


def _normalised(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


@pytest.mark.parametrize("block", TRANSCRIPTS)
def test_cli_transcripts_print_what_the_page_shows(block, monkeypatch, capsys):
    """Each command of a terminal transcript in the docs prints exactly the lines shown."""
    monkeypatch.setenv("COLUMNS", "100")
    commands = re.split(r"^\$ ", block.code, flags=re.M)[1:]
    assert commands, "a cli block starts with a '$ llm-retry ...' line"
    for command in commands:
        line, _, expected = command.partition("\n")
        program, *args = shlex.split(line)
        assert program == "llm-retry", line
        assert cli.main(args) == 0, line
        assert _normalised(capsys.readouterr().out) == _normalised(expected), line


def build_every_profile(text: str, source: str) -> None:
    """Parse a preset file's text and build its policy under every profile, as loading does."""
    data = _schema.parse(text, source)
    preset = Preset(Path(source).stem, source, str(data.get("description", "")), data)
    for profile in PROFILES:
        preset.policy(profile)


TOML_PRESETS = [
    pytest.param(text, id=f"{page_id(page)}#{index}")
    for page in PAGES
    for index, text in enumerate(fenced(page, "toml"))
    if "[statuses]" in text
]


@pytest.mark.parametrize("text", TOML_PRESETS)
def test_toml_examples_are_valid_presets(text):
    """A complete preset file shown in the docs loads and builds under every profile."""
    build_every_profile(text, "example.toml")


@dataclass(frozen=True)
class Emitted:
    """One ``emit(...)`` call in the source: the event (or its f-string prefix), level, fields."""

    event: str
    exact: bool
    level: str | None
    fields: tuple[str, ...]
    where: str


def emitted_events() -> list[Emitted]:
    """Every ``emit(...)`` call in ``src/llm_retry``, read from the syntax tree."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "emit"):
                continue
            name, *rest = node.args
            if isinstance(name, ast.Constant):
                event, exact = str(name.value), True
            else:  # f"llm_retry.circuit_{...}": check the literal prefix
                assert isinstance(name, ast.JoinedStr)
                event, exact = str(getattr(name.values[0], "value", "")), False
            level = rest[0].value if rest and isinstance(rest[0], ast.Constant) else None
            fields = tuple(str(k.arg) for k in node.keywords)
            found.append(Emitted(event, exact, level, fields, f"{path.name}:{node.lineno}"))
    return found


def table_rows(page: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under ``heading``, as lists of cells."""
    section = page.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def test_events_page_documents_every_event_and_field_the_code_emits():
    """The events and fields tables list exactly what the source emits, event by event."""
    page = (DOCS / "events.md").read_text(encoding="utf-8")
    levels = {row[0].strip("`"): row[1] for row in table_rows(page, "## The events")}
    carriers = {
        row[0].strip("`"): set(re.findall(r"`(\w+)`", row[2]))
        for row in table_rows(page, "## The fields")
    }
    emitted = emitted_events()
    assert len(emitted) >= 4
    for call in emitted:
        names = [
            e for e in levels if e == call.event or (not call.exact and e.startswith(call.event))
        ]
        assert names, f"{call.where}: {call.event} is not in the events table"
        if call.level is not None:
            assert {levels[name] for name in names} == {call.level}, call.where
        for field in call.fields:
            assert field in carriers, f"{call.where}: field {field!r} is not in the fields table"
            short = {name.removeprefix("llm_retry.") for name in names}
            assert short & carriers[field], f"{call.where}: {field!r} does not list {short}"
    carried: dict[str, set[str]] = {}
    for call in emitted:
        for name in levels:
            if name == call.event or (not call.exact and name.startswith(call.event)):
                carried.setdefault(name.removeprefix("llm_retry."), set()).update(call.fields)
    for field, events in carriers.items():
        for event in events:
            assert field in carried.get(event, ()), f"{event} does not emit {field!r}"
    for name in levels:
        assert any(
            name == call.event or (not call.exact and name.startswith(call.event))
            for call in emitted
        ), f"{name} is documented but never emitted"


def test_validation_messages_are_the_ones_the_code_raises():
    """Each line of the validation table, alone in a preset file, raises the message shown."""
    page = (DOCS / "presets.md").read_text(encoding="utf-8")
    rows = table_rows(page, "### Validation messages")
    assert len(rows) >= 10
    for line, message in rows:
        text, expected = line.strip("`"), message.strip("`")
        with pytest.raises(PolicyError) as caught:
            build_every_profile(text, "gateway.toml")
        assert str(caught.value) == expected, text
