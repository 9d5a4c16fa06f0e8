"""Hostile or broken preset files: any bytes give a PolicyError naming the file, or load.

Files are dropped in an ``LLM_RETRY_POLICIES`` folder as a user would, and read through the
same loader as the decorators and the ``llm-retry`` command.
"""

from __future__ import annotations

import codecs
import math
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_retry import Backoff, PolicyError, budget, circuit, llm_retry, load_preset, presets
from llm_retry.cli import main
from llm_retry.policy.files import MAX_FILE_BYTES

GOOD = 'description = "mine"\nattempts = 3\n[statuses]\n429 = "retry"\n'


def _load(folder: Path, monkeypatch: pytest.MonkeyPatch, name: str = "mine") -> None:
    """Load preset ``name`` from ``folder`` under every profile it has."""
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(folder))
    presets.clear_cache()
    for profile in presets.get_preset(name).profiles:
        load_preset(name, profile)


HOSTILE = {
    "latin-1": GOOD.replace("mine", "café").encode("latin-1"),
    "UTF-16": GOOD.encode("utf-16"),
    "UTF-32": GOOD.encode("utf-32"),
    "binary": bytes(range(256)) * 4,
    "NUL in text": b"attempts = 3\x00\n",
    "deep array": b"description = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "deep inline table": b"x = " + b"{a = " * 5000 + b"1" + b"}" * 5000 + b"\n",
    "huge integer": b"attempts = " + b"9" * 5000 + b"\n",
    "too large": b"#" * (MAX_FILE_BYTES + 10),
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_bytes_give_a_policy_error_naming_the_file(kind, tmp_path, monkeypatch):
    """Encodings, binaries, 5,000-deep nesting, huge numbers: a PolicyError, never a traceback."""
    (tmp_path / "mine.toml").write_bytes(HOSTILE[kind])
    with pytest.raises(PolicyError) as caught:
        _load(tmp_path, monkeypatch)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'mine.toml'}: ")
    assert len(message) < 400


def test_messages_say_what_is_wrong(tmp_path, monkeypatch):
    """The problem is named in words a person can act on."""
    expected = {
        "UTF-16": "the file is UTF-16 text; save it as UTF-8",
        "latin-1": "not UTF-8 text (byte 0xe9 at offset",
        "binary": "a binary file",
        "deep array": "nested too deeply",
        "too large": "larger than 1 MB",
    }
    for kind, words in expected.items():
        (tmp_path / "mine.toml").write_bytes(HOSTILE[kind])
        with pytest.raises(PolicyError, match=re.escape(words)):
            _load(tmp_path, monkeypatch)


def test_utf8_bom_is_accepted(tmp_path, monkeypatch):
    """A UTF-8 byte-order mark (Notepad writes one) is dropped."""
    (tmp_path / "mine.toml").write_bytes(codecs.BOM_UTF8 + GOOD.encode())
    _load(tmp_path, monkeypatch)


def test_a_directory_named_like_a_preset(tmp_path, monkeypatch):
    """``mine.toml`` that is a folder: cannot read, naming it."""
    (tmp_path / "mine.toml").mkdir()
    with pytest.raises(PolicyError, match=r"mine\.toml: cannot read: not a regular file"):
        _load(tmp_path, monkeypatch)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_not_opened(tmp_path, monkeypatch):
    """Opening a pipe would wait for a writer for ever: it is refused without opening it."""
    os.mkfifo(tmp_path / "mine.toml")
    with pytest.raises(PolicyError, match="not a regular file"):
        _load(tmp_path, monkeypatch)


NUMBERS = [
    "max_retry_after = {}",
    "[backoff]\nbase = {}",
    "[backoff]\ncap = {}",
    "[backoff]\nmultiplier = {}",
    "[statuses.429]\naction = 'retry'\nbackoff = {{ cap = {} }}",
    "[circuit]\nbreak_duration = {}",
    "[circuit]\nmax_break_duration = {}",
    "[circuit]\nwindow_seconds = {}",
    "[circuit]\nfailure_rate = {}",
    "[budget]\ntotal = {}",
    "[budget]\nattempt_timeout = {}",
    "[budget]\nretry_ratio = {}",
    "[budget]\nmin_retries_per_sec = {}",
    "[timeouts]\nrequest = {}",
    "[profiles.dev]\nmax_retry_after = {}",
]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "+inf"])
@pytest.mark.parametrize("template", NUMBERS)
def test_non_finite_numbers_are_rejected_everywhere(template, value, tmp_path, monkeypatch):
    """``inf`` and ``nan`` are valid TOML; no number of a policy may be either."""
    (tmp_path / "mine.toml").write_text(template.format(value) + "\n")
    with pytest.raises(PolicyError, match="must be a finite number"):
        _load(tmp_path, monkeypatch)


def test_durations_past_a_year_are_rejected(tmp_path, monkeypatch):
    """``time.sleep`` overflows long before 1e308: a duration is at most a year."""
    (tmp_path / "mine.toml").write_text("max_retry_after = 1e300\n")
    with pytest.raises(PolicyError, match=r"max_retry_after: must be at most 31622400 seconds"):
        _load(tmp_path, monkeypatch)


@pytest.mark.parametrize(
    "key", ["\u0664\u0662\u0669", "\uff14\uff12\uff19", "\u00b2\u2079\u2079", "429 "]
)
def test_status_keys_are_ascii_digits(key, tmp_path, monkeypatch):
    """Other scripts' digits (Arabic-Indic "٤٢٩", full-width, superscripts) are not a status."""
    (tmp_path / "mine.toml").write_text(f'[statuses]\n"{key}" = "retry"\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="is not an HTTP status"):
        _load(tmp_path, monkeypatch)


def test_cli_prints_the_errors_not_a_traceback(tmp_path, monkeypatch, capsys):
    """``llm-retry presets`` lists a broken file as INVALID; ``validate`` prints its problem."""
    for kind in ("UTF-16", "deep array", "binary"):
        path = tmp_path / f"{kind.replace(' ', '-')}.toml"
        path.write_bytes(HOSTILE[kind])
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    presets.clear_cache()
    assert main(["presets"]) == 1
    out = capsys.readouterr().out
    assert out.count("INVALID") == 3
    assert "Traceback" not in out
    files = sorted(str(p) for p in tmp_path.iterdir())
    assert main(["validate", *files]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(": ")[0] for line in lines] == files


_SCALARS = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["retry", "fail", "full", "trip", "5xx", "429"]),
)
_KEYS = st.sampled_from(
    [
        "attempts", "max_retry_after", "retry_after", "backoff", "base", "cap", "jitter",
        "statuses", "codes", "transport", "results", "otherwise", "circuit", "budget", "timeouts",
        "profiles", "dev", "prod", "staging", "action", "reason", "429", "5xx", "timeout",
        "total", "break_duration", "failure_rate", "request", "retry_nested", "x",
    ]
)  # fmt: skip


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(str(value), repr(value))
    if isinstance(value, str):
        return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + "}"
    return str(value)


_DOCS = st.dictionaries(
    _KEYS,
    st.recursive(_SCALARS, lambda inner: st.dictionaries(_KEYS, inner, max_size=4), max_leaves=8),
    max_size=5,
).map(lambda doc: "\n".join(f'"{k}" = {_toml_value(v)}' for k, v in doc.items()).encode())
_NUMBER = st.one_of(
    st.integers(min_value=-2, max_value=100),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 0.5, 1e300, 10**30]),
)
_RULE = st.one_of(
    st.sampled_from(["retry", "fail"]),
    st.fixed_dictionaries(
        {"action": st.sampled_from(["retry", "fail"])},
        optional={
            "attempts": _NUMBER,
            "reason": st.text(max_size=5),
            "backoff": st.fixed_dictionaries({}, optional={"base": _NUMBER, "cap": _NUMBER}),
        },
    ),
)
_SETTINGS = st.fixed_dictionaries(
    {},
    optional={
        "attempts": _NUMBER,
        "max_retry_after": _NUMBER,
        "retry_nested": st.booleans(),
        "backoff": st.fixed_dictionaries(
            {}, optional={"base": _NUMBER, "cap": _NUMBER, "multiplier": _NUMBER}
        ),
        "statuses": st.dictionaries(
            st.sampled_from(["429", "5xx", "503", "600", "\u0664\u0662\u0669"]), _RULE, max_size=3
        ),
        "codes": st.dictionaries(st.sampled_from(["insufficient_quota", "x"]), _RULE, max_size=2),
        "circuit": st.fixed_dictionaries(
            {}, optional={"break_duration": _NUMBER, "failure_rate": _NUMBER, "failures": _NUMBER}
        ),
        "budget": st.fixed_dictionaries({}, optional={"total": _NUMBER, "retry_ratio": _NUMBER}),
        "timeouts": st.fixed_dictionaries({}, optional={"request": _NUMBER}),
    },
)
_SCHEMA_DOCS = st.builds(
    lambda base, profiles: {**base, "profiles": profiles} if profiles else base,
    _SETTINGS,
    st.dictionaries(
        st.sampled_from(["dev", "test", "prod", "staging", "on call"]), _SETTINGS, max_size=2
    ),
).map(lambda doc: "\n".join(f'"{k}" = {_toml_value(v)}' for k, v in doc.items()).encode())
"""Documents shaped like the schema, with numbers that are sometimes inf, nan or huge."""
_FILES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    _DOCS,
    _DOCS.map(lambda b: b.decode().encode("utf-16")),
    _SCHEMA_DOCS,
    _SCHEMA_DOCS,
)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=_FILES)
def test_any_bytes_load_or_raise_a_policy_error_naming_the_file(raw, tmp_path_factory):
    """Fuzzing: whatever is in the file, the loader returns policies or names the file."""
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "mine.toml").write_bytes(raw)
    with pytest.MonkeyPatch.context() as monkeypatch:
        problem = None
        try:
            _load(folder, monkeypatch)
        except PolicyError as exc:
            problem = str(exc)
        assert problem is None or problem.startswith(f"{folder / 'mine.toml'}: ")


@pytest.mark.parametrize(
    ("decorate", "words"),
    [
        (lambda: llm_retry(max_retry_after=math.inf), "max_retry_after must be a finite number"),
        (lambda: llm_retry(backoff=Backoff(cap=math.nan)), "Backoff.cap must be a finite number"),
        (lambda: budget(total=math.inf), "budget total must be a finite number"),
        (lambda: budget(retry_ratio=math.nan), "budget retry_ratio must be a finite number"),
        (lambda: circuit("c", break_duration=math.inf), "break_duration must be a finite number"),
    ],
)
def test_non_finite_keyword_arguments_are_rejected(decorate, words):
    """The decorators' arguments go through the same number check as the files."""
    with pytest.raises(PolicyError, match=words):
        decorate()
