"""Profiles: any name a preset file defines, and an unknown name is never silent."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import openai
import pytest

from llm_retry import CircuitOpenError, PolicyError, circuit, llm_retry, load_preset, use_profile
from llm_retry.cli import main
from llm_retry.policy.timeouts import timeouts
from llm_retry.presets import PROFILES, current_profile, get_preset
from llm_retry.testing import Reply, capture_events, no_wait


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user preset folder whose ``mine.toml`` defines a ``staging`` profile."""
    (tmp_path / "mine.toml").write_text(
        'attempts = 4\n[statuses]\n503 = "retry"\n[profiles.staging]\nattempts = 2\n'
    )
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    return tmp_path


def test_a_preset_file_may_define_any_profile(staging):
    """``[profiles.staging]`` is a profile: use_profile accepts it, the file's overlay applies."""
    assert get_preset("mine").profiles == (*PROFILES, "staging")
    assert load_preset("mine", "staging").attempts == 2
    with use_profile("staging"):
        assert current_profile() == "staging"
        assert load_preset("mine").attempts == 2
        assert load_preset("openai").attempts == load_preset("openai", "prod").attempts


@pytest.mark.parametrize(("name", "suggestion"), [("Prod", "prod"), ("tset", "test")])
def test_use_profile_with_an_unknown_name_says_did_you_mean(name, suggestion):
    """A mistyped name in code fails at once, with the closest known name."""
    with pytest.raises(
        PolicyError, match=f"unknown profile '{name}' \\(did you mean '{suggestion}'"
    ):
        use_profile(name)
    with pytest.raises(PolicyError, match="did you mean"):
        load_preset("openai", name)


def test_unknown_environment_profile_warns_once_and_keeps_retrying(server, gpt, monkeypatch):
    """``LLM_RETRY_PROFILE=Prod`` used to turn retries off silently; now: base rules, one event."""
    server.default = Reply(503)
    monkeypatch.setenv("LLM_RETRY_PROFILE", "Prod")

    @llm_retry(preset="openai")
    def ask() -> None:
        gpt.models.list()

    with no_wait(), capture_events() as events:
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                ask()
    warned = [e for e in events if e["event"] == "llm_retry.profile_unknown"]
    assert len(warned) == 1
    assert warned[0]["profile"] == "Prod"
    assert "did you mean 'prod'" in warned[0]["problem"]
    assert "LLM_RETRY_PROFILE" in warned[0]["problem"]
    assert len(server.requests) == 2 * load_preset("openai", "prod").attempts
    assert any(e["event"] == "llm_retry.retry_scheduled" for e in events)


def test_unknown_environment_profile_uses_the_base_settings(staging, monkeypatch):
    """Under a name no file defines, a preset is its top-level settings, without overlays."""
    monkeypatch.setenv("LLM_RETRY_PROFILE", "staginng")
    with capture_events() as events:
        assert load_preset("mine").attempts == 4
    assert "did you mean 'staging'" in events[0]["problem"]


def test_every_profile_a_file_defines_is_validated(tmp_path, monkeypatch):
    """A file is only valid if each of its profiles builds, its own ones included."""
    (tmp_path / "bad.toml").write_text("[profiles.canary]\nbackoff = { base = -1 }\n")
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    with pytest.raises(
        PolicyError, match=r"bad\.toml: profiles\.canary\.backoff\.base: must be >= 0"
    ):
        get_preset("bad")


def test_a_profile_of_ones_own_can_turn_on_circuit_rate_tracking(tmp_path, monkeypatch):
    """``[profiles.staging.circuit]`` with a failure rate opens the circuit under staging."""
    (tmp_path / "mine.toml").write_text(
        '[statuses]\n503 = "retry"\n[circuit]\nfailures = 100\n'
        "[profiles.staging.circuit]\nfailure_rate = 0.5\nwindow = 4\nmin_calls = 4\n"
    )
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    outcomes = iter([None, Down(), None, Down()])

    @circuit("mine-rate", preset="mine")
    def call() -> None:
        error = next(outcomes)
        if error is not None:
            raise error

    with use_profile("staging"):
        for _ in range(4):
            with contextlib.suppress(Down):
                call()
        with pytest.raises(CircuitOpenError):
            call()


class Down(Exception):
    status_code = 503


def test_timeouts_check_an_explicit_profile():
    """``timeouts(profile="Prod")`` is a typo in code: it raises like ``load_preset``."""
    assert timeouts("deepseek", profile="dev").read > 0
    with pytest.raises(PolicyError, match="did you mean 'prod'"):
        timeouts("deepseek", profile="Prod")


def test_cli_validates_and_lists_a_files_own_profiles(tmp_path, monkeypatch, capsys):
    """``llm-retry validate`` builds the file's own profiles; ``presets`` lists them."""
    bad = tmp_path / "canary.toml"
    bad.write_text("[profiles.canary.statuses.404]\nattempts = 2\n")
    assert main(["validate", str(bad)]) == 1
    assert "profile canary (after merging): statuses.404.action" in capsys.readouterr().out
    bad.unlink()
    (tmp_path / "mine.toml").write_text("[profiles.staging]\nattempts = 2\n")
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    assert main(["presets", "--json"]) == 0
    listed = {p["name"]: p["profiles"] for p in json.loads(capsys.readouterr().out)["presets"]}
    assert listed["mine"] == ["dev", "test", "prod", "staging"]
    assert listed["openai"] == ["dev", "test", "prod"]
    assert main(["show", "mine", "--profile", "staging", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["profile"] == "staging"
    assert main(["show", "mine", "--profile", "stagin"]) == 2
    assert "did you mean 'staging'" in capsys.readouterr().err
