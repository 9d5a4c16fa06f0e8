"""The ``llm-retry`` command: through ``python -m llm_retry`` and through ``main``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llm_retry.cli import main, parse_responses
from llm_retry.cli.tables import render_markdown_table

PRESETS = ("generic", "deepseek", "openai", "anthropic")


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shipped presets and the default profile, whatever the developer's shell sets."""
    monkeypatch.delenv("LLM_RETRY_PROFILE", raising=False)
    monkeypatch.delenv("LLM_RETRY_POLICIES", raising=False)


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m llm_retry ARGS`` in a fresh interpreter."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("LLM_RETRY_PROFILE", "LLM_RETRY_POLICIES")
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "llm_retry", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``main(args)`` in-process; return the status, stdout and stderr."""
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def rows_by_key(table: str) -> dict[str, str]:
    """The first line of each rule row of ``show``'s plain table, by rule key."""
    rows = {}
    for line in table.splitlines():
        match = re.match(r"^(\S+(?: \S+)?)\s{2,}(retry|fail)\s", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


# -- through the real entry point ---------------------------------------------------------
def test_module_lists_presets() -> None:
    """``python -m llm_retry presets`` lists all four shipped presets and exits 0."""
    result = run_module("presets")
    assert result.returncode == 0, result.stderr
    for name in PRESETS:
        assert re.search(rf"^{name}\s", result.stdout, re.MULTILINE)
    assert "policies/deepseek.toml" in result.stdout


def test_module_bad_argument_is_one_line_exit_2() -> None:
    """A bad argument prints one line on stderr, no traceback, and exits 2."""
    result = run_module("explain", "deepseek", "600")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "600" in result.stderr
    assert "Traceback" not in result.stderr


def test_module_unknown_preset_exits_1() -> None:
    """An unknown preset is a PolicyError: one line on stderr naming the presets, exit 1."""
    result = run_module("show", "nope")
    assert result.returncode == 1
    assert "unknown preset 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_module_demo_fast() -> None:
    """``demo --fast`` recovers after 3 attempts, then fails the 402 after 1 with a note."""
    result = run_module("demo", "--fast")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    first, _, second = out.partition("2. A call no retry can fix")
    assert "attempt 1: status 429" in first
    assert "attempt 2: status 503" in first
    assert "retry-after" in first
    assert "succeeded after 3 attempts" in first
    assert "status 402" in second
    assert "failed after 1 attempt: openai.APIStatusError" in second
    assert "note: llm-retry [deepseek]: gave up after 1 attempt" in second
    assert "the server saw 4 requests" in out


# -- presets ----------------------------------------------------------------------------
def test_presets_json(capsys: pytest.CaptureFixture[str]) -> None:
    """``presets --json`` parses and names every preset with its profiles and source."""
    status, out, _ = run_main(capsys, "presets", "--json")
    assert status == 0
    data = json.loads(out)
    by_name = {entry["name"]: entry for entry in data["presets"]}
    assert set(PRESETS) <= set(by_name)
    assert by_name["openai"]["profiles"] == ["dev", "test", "prod"]
    assert by_name["openai"]["source"].endswith("openai.toml")
    assert data["active_profile"] == "prod"


# -- show -------------------------------------------------------------------------------
def test_show_deepseek_decision_table(capsys: pytest.CaptureFixture[str]) -> None:
    """``show deepseek`` fails 400/401/402/422 and retries 429/500/503."""
    status, out, _ = run_main(capsys, "show", "deepseek")
    assert status == 0
    rows = rows_by_key(out)
    for key in ("400", "401", "402", "422"):
        assert rows[key] == "fail"
    for key in ("429", "500", "503"):
        assert rows[key] == "retry"
    assert "1.0, 2.0, 4.0, 8.0 s (full jitter), Retry-After honoured up to 60 s" in " ".join(
        out.split()
    )
    assert "max_retry_after" in out
    assert "total = 90" in out


def test_show_lookup_order(capsys: pytest.CaptureFixture[str]) -> None:
    """Rows come in lookup order: codes, statuses, status classes, transport, otherwise."""
    _, out, _ = run_main(capsys, "show", "openai")
    keys = list(rows_by_key(out))
    assert keys[0] == "code insufficient_quota"
    assert keys.index("400") < keys.index("429") < keys.index("4xx") < keys.index("timeout")
    assert keys[-1] == "otherwise"


def test_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    """``show --json`` parses, with the rule rows and the policy-wide settings as values."""
    status, out, _ = run_main(capsys, "show", "deepseek", "--profile", "dev", "--json")
    assert status == 0
    data = json.loads(out)
    assert data["profile"] == "dev"
    assert data["settings"]["attempts"] == 3
    rules = {rule["key"]: rule for rule in data["rules"]}
    assert rules["500"]["attempts"] == 3
    assert rules["500"]["backoff_ceilings"] == [1.0, 2.0]
    assert rules["402"]["action"] == "fail"
    assert data["sections"]["budget"]["total"] == 30


def test_show_markdown_matches_docs_function(capsys: pytest.CaptureFixture[str]) -> None:
    """``show --markdown`` prints the table the docs embed with `render_markdown_table`."""
    status, out, _ = run_main(capsys, "show", "openai", "--markdown", "--profile", "prod")
    assert status == 0
    assert out.strip() == render_markdown_table("openai", "prod")
    assert out.startswith("| Rule | Action | Attempts | Waits | Meaning | Fix |")
    assert "| code `insufficient_quota` | fail |" in out


# -- explain ----------------------------------------------------------------------------
def test_explain_retry_after_is_the_floor(capsys: pytest.CaptureFixture[str]) -> None:
    """A 429 with Retry-After: 7 on deepseek waits exactly 7 s, the server's floor."""
    status, out, _ = run_main(capsys, "explain", "deepseek", "429", "--header", "Retry-After: 7")
    assert status == 0
    assert "rule      status 429" in out
    assert "7 s from the retry-after header" in out
    assert "wait      7.0 s: the server's hint is the floor" in out
    assert "0.0-1.0 s (full jitter" in out


def test_explain_insufficient_quota_fails(capsys: pytest.CaptureFixture[str]) -> None:
    """On openai, a 429 with code insufficient_quota fails, with the fix."""
    status, out, _ = run_main(capsys, "explain", "openai", "429", "--code", "insufficient_quota")
    assert status == 0
    assert "code insufficient_quota (code rules are looked up before status rules" in out
    assert "action    fail: quota exhausted" in out
    assert "fix       add credits" in out


def test_explain_retry_after_over_cap_gives_up(capsys: pytest.CaptureFixture[str]) -> None:
    """On openai, Retry-After: 500 is over the 120 s cap: give up instead of sleeping."""
    status, out, _ = run_main(capsys, "explain", "openai", "429", "--header", "Retry-After: 500")
    assert status == 0
    joined = " ".join(out.split())
    assert "give up: the server asked to wait 500.0 s (retry-after), more than" in joined
    assert "max_retry_after 120 s" in joined


def test_explain_reads_the_rate_limit_headers(capsys: pytest.CaptureFixture[str]) -> None:
    """With no Retry-After, a used-up limit's reset / limit is the floor; past the cap, dropped."""
    used_up = ["--header", "x-ratelimit-remaining-requests: 0"]
    _, out, _ = run_main(
        capsys, "explain", "openai", "429", *used_up,
        "--header", "x-ratelimit-limit-requests: 10", "--header", "x-ratelimit-reset-requests: 30s",
    )  # fmt: skip
    joined = " ".join(out.split())
    assert "hint 3 s from the x-ratelimit-reset-requests header, honoured" in joined
    assert "wait 3.0 s: the server's hint is the floor" in joined
    _, out, _ = run_main(
        capsys, "explain", "deepseek", "429", *used_up,
        "--header", "x-ratelimit-reset-requests: 6m0s",
    )  # fmt: skip
    joined = " ".join(out.split())
    assert (
        "x-ratelimit-reset-requests ignored: 360 s is past max_retry_after 60 s, so the backoff "
        "decides" in joined
    )
    assert "wait 0.0-1.0 s: the backoff draw" in joined


def test_explain_attempts_exhausted(capsys: pytest.CaptureFixture[str]) -> None:
    """DeepSeek's 500 rule allows 3 attempts, so after attempt 3 the call gives up."""
    _, out, _ = run_main(capsys, "explain", "deepseek", "500", "--attempt", "3")
    assert "3 in all (the rule's)" in out
    assert "give up: attempts exhausted (3 of 3)" in out


def test_explain_timeout_and_ignored_header(capsys: pytest.CaptureFixture[str]) -> None:
    """A timeout uses the transport rule; an unreadable Retry-After is reported as ignored."""
    _, out, _ = run_main(
        capsys, "explain", "deepseek", "timeout", "--header", "Retry-After: soon", "--attempt", "2"
    )
    assert "rule      transport timeout" in out
    assert "retry-after ignored: 'soon'" in out
    assert "wait      0.0-2.0 s: the backoff draw" in out


def test_explain_json(capsys: pytest.CaptureFixture[str]) -> None:
    """``explain --json`` parses and gives the wait at both ends of the jitter."""
    status, out, _ = run_main(
        capsys, "explain", "deepseek", "429", "--header", "Retry-After: 7", "--json"
    )
    assert status == 0
    data = json.loads(out)
    assert data["rule"] == "status 429"
    assert data["attempt_limit"] == 5
    assert data["hint"] == {"seconds": 7.0, "header": "retry-after", "ignored": []}
    assert data["at_lowest_draw"]["wait"] == data["at_highest_draw"]["wait"] == 7.0


@pytest.mark.parametrize(
    "args",
    [
        ("explain", "deepseek", "42"),
        ("explain", "deepseek", "429", "--header", "Retry-After 7"),
        ("explain", "deepseek", "429", "--attempt", "0"),
        ("explain", "deepseek", "429", "--profile", "staging"),
        ("explain", "deepseek", "200"),
    ],
)
def test_explain_bad_arguments_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    """Unusable arguments print one error line on stderr and exit 2."""
    status, out, err = run_main(capsys, *args)
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "error:" in err


# -- validate ---------------------------------------------------------------------------
def test_validate_valid_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A valid preset file is ok in every profile, exit 0."""
    path = tmp_path / "mine.toml"
    path.write_text(
        'description = "mine"\nattempts = 3\n[statuses]\n429 = "retry"\n'
        "[profiles.test]\nretry_after = false\n"
    )
    status, out, _ = run_main(capsys, "validate", str(path))
    assert status == 0
    assert out.strip() == f"{path}: ok (profiles dev, test, prod)"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("attempts = = 3\n", "not valid TOML", "line 1"),
        (
            '[statuses]\n429 = { action = "retry", atempts = 3 }\n',
            "statuses.429.atempts",
            "unknown key",
        ),
        ("attempts = 0\n", "attempts", "whole number >= 1"),
        ('[statuses]\n600 = "retry"\n', "statuses.600", "not an HTTP status"),
        ('[profiles."on call"]\nattempts = 2\n', "profiles.on call", "a profile name is"),
        ('[backoff]\njitter = "sideways"\n', "backoff.jitter", "'sideways'"),
    ],
)
def test_validate_malformed_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, key: str, problem: str
) -> None:
    """A malformed file exits 1 with one line naming the file, the key and the problem."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    status, out, _ = run_main(capsys, "validate", str(path))
    assert status == 1
    [line] = out.strip().splitlines()
    assert line.startswith(f"{path}: {key}")
    assert problem in line


def test_validate_several_files_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``validate --json`` reports each file; one bad file makes the exit status 1."""
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text("attempts = 2\n")
    bad.write_text("attempts = 0\n")
    status, out, _ = run_main(
        capsys, "validate", str(good), str(bad), str(tmp_path / "gone.toml"), "--json"
    )
    assert status == 1
    results = {Path(entry["file"]).name: entry for entry in json.loads(out)}
    assert results["good.toml"]["ok"] is True
    assert results["bad.toml"]["ok"] is False
    assert "cannot read" in results["gone.toml"]["problems"][0]


# -- simulate ---------------------------------------------------------------------------
def test_simulate_recovers(capsys: pytest.CaptureFixture[str]) -> None:
    """429 (retry-after=2), 503, 503, 200 on deepseek succeeds on attempt 4 after a 2 s wait."""
    status, out, _ = run_main(
        capsys,
        "simulate",
        "deepseek",
        "--responses",
        "429(retry-after=2),503,503,200",
        "--seed",
        "1",
    )
    assert status == 0
    lines = out.splitlines()
    assert any(
        line.startswith("t=0.0 s  attempt 1 -> 429 rate limited")
        and "retry, wait 2.0 s (retry-after" in line
        for line in lines
    )
    assert any("attempt 4 -> 200 ok" in line for line in lines)
    assert lines[-1].startswith("succeeded after 4 attempts")


def test_simulate_is_repeatable_with_a_seed(capsys: pytest.CaptureFixture[str]) -> None:
    """The same seed gives the same jittered timeline."""
    args = ("simulate", "generic", "--responses", "503,503,503,200", "--seed", "7")
    _, first, _ = run_main(capsys, *args)
    _, second, _ = run_main(capsys, *args)
    assert first == second


def test_simulate_gives_up(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing but 503s on deepseek gives up after 5 attempts: attempts exhausted."""
    status, out, _ = run_main(
        capsys, "simulate", "deepseek", "--responses", "503,503,503,503,503,503,503"
    )
    assert status == 0
    assert "attempt 5 -> 503" in out
    assert "attempt 6" not in out
    assert "gave up after 5 attempts" in out
    assert "attempts exhausted (5 of 5)" in out


def test_simulate_script_used_up(capsys: pytest.CaptureFixture[str]) -> None:
    """Past the end of the script an attempt is treated as 200, and the output says so."""
    _, out, _ = run_main(capsys, "simulate", "openai", "--responses", "500", "--profile", "test")
    assert "attempt 2 -> 200 ok (script used up: treated as 200)" in out


def test_simulate_json(capsys: pytest.CaptureFixture[str]) -> None:
    """``simulate --json`` parses: a fail-fast 402 after a retried 429."""
    status, out, _ = run_main(
        capsys, "simulate", "deepseek", "--responses", "429(retry-after-ms=1500),402", "--json"
    )
    assert status == 0
    data = json.loads(out)
    assert data["succeeded"] is False
    first, second = data["attempts"]
    assert (first["wait"], first["wait_source"]) == (1.5, "retry-after")
    assert second["action"] == "fail"
    assert data["elapsed"] == 1.5


def test_parse_responses_options() -> None:
    """Scripts take statuses, transport failures and options in parentheses."""
    script = parse_responses("429(retry-after=2, code=x), timeout ,503(retry-after-ms=10)")
    assert [r.status for r in script] == [429, "timeout", 503]
    assert script[0].headers == {"Retry-After": "2"}
    assert script[0].code == "x"
    assert script[2].headers == {"retry-after-ms": "10"}


@pytest.mark.parametrize("script", ["", "42x", "429(foo=1)", "429(retry-after)"])
def test_simulate_bad_script_exit_2(capsys: pytest.CaptureFixture[str], script: str) -> None:
    """A script that cannot be read is a usage error: one line, exit 2."""
    status, _, err = run_main(capsys, "simulate", "deepseek", "--responses", script)
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "--responses" in err
