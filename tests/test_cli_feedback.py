"""What the ``llm-retry`` command tells its user: every problem, suggestions, exit codes, colour.

Through ``main`` in-process, and through the installed entry point on a pipe and on a real
pseudo-terminal.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from helpers import need
from llm_retry import PolicyError, load_preset
from llm_retry.cli import EXIT_CODES, main

FOUR_PROBLEMS = """\
description = "My provider"
atempts = 4

[backoff]
base = 0.5
jitter = "fulll"

[statuses]
429 = { action = "retry", retry_afer = true }
503 = "retyr"
"""
GOOD = 'description = "mine"\nattempts = 2\n[statuses]\n429 = "retry"\n'
ESCAPE = "\x1b["


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``main(args)`` in-process; return the status, stdout and stderr."""
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def command(*args: str) -> list[str]:
    """``python -m llm_retry ARGS`` in this interpreter."""
    return [sys.executable, "-m", "llm_retry", *args]


def plain_env(**extra: str) -> dict[str, str]:
    """This environment without colour switches or preset settings, plus ``extra``."""
    skip = {"NO_COLOR", "TERM", "LLM_RETRY_PROFILE", "LLM_RETRY_POLICIES"}
    return {**{k: v for k, v in os.environ.items() if k not in skip}, **extra}


def on_a_terminal(*args: str, **env: str) -> str:
    """Run the command with its stdout and stderr on a pseudo-terminal; return what it wrote."""
    leader, follower = pty.openpty()
    try:
        subprocess.run(  # noqa: S603 - our own interpreter and module
            command(*args),
            stdout=follower,
            stderr=follower,
            env=plain_env(**env),
            timeout=60,
            check=False,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: everything is read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    return b"".join(chunks).decode()


def test_validate_lists_every_problem_with_suggestions(capsys, tmp_path):
    """A file with four problems gets four lines, each with its key and a suggestion, exit 1."""
    path = tmp_path / "my-policy.toml"
    path.write_text(FOUR_PROBLEMS)
    status, out, _ = run_main(capsys, "validate", str(path))
    assert status == 1
    lines = out.splitlines()
    assert [line.split(": ")[1] for line in lines[:4]] == [
        "atempts",
        "backoff.jitter",
        "statuses.429.retry_afer",
        "statuses.503.action",
    ]
    assert "atempts: unknown key (did you mean 'attempts'?); known: " in lines[0]
    assert lines[1].endswith("not 'fulll' (did you mean 'full'?)")
    assert "retry_afer: unknown key (did you mean 'retry_after'?); known: " in lines[2]
    assert lines[3].endswith("not 'retyr' (did you mean 'retry'?)")
    assert lines[4:] == [f"{path}: 4 problems"]


def test_loading_names_the_first_problem_and_counts_the_rest(tmp_path, monkeypatch):
    """Loading a file with four problems raises the first and says how to see the others."""
    (tmp_path / "mine.toml").write_text(FOUR_PROBLEMS)
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    with pytest.raises(PolicyError, match=r"atempts: unknown key") as caught:
        load_preset("mine")
    assert str(caught.value).endswith(f"(and 3 more: llm-retry validate {tmp_path}/mine.toml)")


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (("shwo", "deepseek"), "invalid choice: 'shwo' (did you mean 'show'?)"),
        (("show", "deepseak"), "unknown preset 'deepseak' (did you mean 'deepseek'?)"),
        (("explain", "openai", "429", "--profile", "prd"), "'prd' (did you mean 'prod'?)"),
    ],
)
def test_unknown_names_get_a_suggestion_and_exit_2(capsys, args, suggestion):
    """A misspelt command, preset or profile is a usage error naming the closest known one."""
    status, out, err = run_main(capsys, *args)
    assert status == 2
    assert out == ""
    assert suggestion in err
    assert len(err.strip().splitlines()) == 1


def test_version(capsys):
    """``--version`` prints the installed distribution's version and exits 0."""
    status, out, _ = run_main(capsys, "--version")
    assert status == 0
    assert out.strip() == f"llm-retry {version('llm-retry')}"


def test_exit_codes_are_in_the_help(capsys):
    """``--help`` ends with what each exit status means."""
    status, out, _ = run_main(capsys, "--help")
    assert status == 0
    assert sorted(EXIT_CODES) == [0, 1, 2]
    assert "exit status: 0 done; 1 the answer is no; 2 usage error" in " ".join(out.split())


def test_show_and_simulate_take_a_file(capsys, tmp_path):
    """``show`` and ``simulate`` read a preset file given by its path."""
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    status, out, _ = run_main(capsys, "show", str(path))
    assert status == 0
    assert "mine" in out
    assert str(path) in out
    status, out, _ = run_main(capsys, "simulate", str(path), "--responses", "429,200")
    assert status == 0
    assert "succeeded after 2 attempts" in out
    status, out, _ = run_main(capsys, "simulate", str(path), "--responses", "429,429,429")
    assert status == 1
    assert "gave up after 2 attempts" in out


def test_a_file_with_problems_is_refused_with_all_of_them(capsys, tmp_path):
    """``show FILE`` of a file with problems lists them all on stderr, exit 1."""
    path = tmp_path / "bad.toml"
    path.write_text(FOUR_PROBLEMS)
    status, out, err = run_main(capsys, "show", str(path))
    assert status == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 4


def test_a_missing_file_is_a_usage_error(capsys, tmp_path):
    """``show`` of a path that does not exist exits 2."""
    status, _, err = run_main(capsys, "show", str(tmp_path / "gone.toml"))
    assert status == 2
    assert "no preset file" in err


def test_colour_on_a_terminal_only():
    """Colour on a pseudo-terminal; none under NO_COLOR, TERM=dumb, or in a pipe."""
    args = ("simulate", "deepseek", "--responses", "503,200", "--seed", "1")
    coloured = on_a_terminal(*args)
    assert ESCAPE in coloured
    assert "succeeded after 2 attempts" in coloured
    assert ESCAPE not in on_a_terminal(*args, NO_COLOR="1")
    assert ESCAPE not in on_a_terminal(*args, TERM="dumb")
    piped = subprocess.run(  # noqa: S603 - our own interpreter and module
        command(*args), capture_output=True, text=True, env=plain_env(), timeout=60, check=False
    )
    assert piped.returncode == 0
    assert "succeeded after 2 attempts" in piped.stdout
    assert ESCAPE not in piped.stdout


def test_shell_completion_of_preset_names(tmp_path):
    """With argcomplete installed, the shell's completion request gets the preset names."""
    need("argcomplete")
    answer = tmp_path / "completions"
    line = "llm-retry show deep"
    subprocess.run(  # noqa: S603 - our own interpreter and module
        command(),
        env=plain_env(
            _ARGCOMPLETE="1",
            _ARGCOMPLETE_STDOUT_FILENAME=str(answer),
            COMP_LINE=line,
            COMP_POINT=str(len(line)),
            _ARGCOMPLETE_IFS="\n",
        ),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert Path(answer).read_text().split() == ["deepseek"]


def test_the_transcripts_in_the_reference(capsys, tmp_path, monkeypatch):
    """Each ``<!-- transcript -->`` of docs/reference/cli.md is what its commands print.

    The commands run where the page's ``my-policy.toml`` is; what a command prints on standard
    output and standard error is compared with the lines below it.
    """
    page = (Path(__file__).parent.parent / "docs" / "reference" / "cli.md").read_text()
    (toml,) = re.findall(r"^```toml\n(.*?)^```$", page, re.M | re.S)
    (tmp_path / "my-policy.toml").write_text(toml)
    monkeypatch.chdir(tmp_path)
    transcripts = re.findall(r"^<!-- transcript -->\n```text\n(.*?)^```$", page, re.M | re.S)
    assert len(transcripts) == 2
    for transcript in transcripts:
        for command in re.split(r"^\$ ", transcript, flags=re.M)[1:]:
            line, _, expected = command.partition("\n")
            program, *args = line.split()
            assert program == "llm-retry"
            status, out, err = run_main(capsys, *args)
            assert status in (1, 2), line
            assert out + err == expected, line
