"""Presets and profiles: shipped files, user folders, call-time profile switching, validation."""

from __future__ import annotations

import openai
import pytest

from llm_retry import PolicyError, llm_retry, presets
from llm_retry.presets import (
    PROFILES,
    available_presets,
    current_profile,
    get_preset,
    load_preset,
    use_profile,
)
from llm_retry.testing import FaultServer, Reply, no_wait

SHIPPED = ("anthropic", "deepseek", "generic", "openai")


def test_every_shipped_preset_and_profile_loads():
    """All four shipped presets load under every profile from the package data."""
    assert tuple(available_presets()) == SHIPPED
    for name in SHIPPED:
        assert available_presets()[name] == f"llm_retry/policies/{name}.toml"
        for profile in PROFILES:
            policy = load_preset(name, profile)
            assert policy.name == name
            assert policy.attempts >= 1


def test_profiles_overlay_the_base_values():
    """dev shortens caps, test removes every wait, prod keeps the file's values."""
    prod, dev, test = (load_preset("deepseek", p) for p in ("prod", "dev", "test"))
    assert (prod.attempts, prod.backoff.cap, prod.max_retry_after) == (5, 30.0, 60.0)
    assert (dev.attempts, dev.backoff.cap, dev.max_retry_after) == (3, 2.0, 10.0)
    assert (test.backoff.base, test.backoff.cap, test.retry_after) == (0.0, 0.0, False)
    assert dev.statuses == prod.statuses
    assert get_preset("deepseek").section("budget", "prod") == {
        "total": 90,
        "retry_ratio": 0.2,
        "min_retries_per_sec": 1,
    }
    assert get_preset("deepseek").section("budget", "dev")["total"] == 30


def test_active_profile_precedence(monkeypatch):
    """use_profile beats LLM_RETRY_PROFILE, which beats the prod default."""
    assert current_profile() == "prod"
    monkeypatch.setenv("LLM_RETRY_PROFILE", "dev")
    assert current_profile() == "dev"
    with use_profile("test"):
        assert current_profile() == "test"
    assert current_profile() == "dev"
    monkeypatch.setenv("LLM_RETRY_PROFILE", "staging")
    assert current_profile() == "staging"  # with one profile_unknown warning (test_profiles)
    with pytest.raises(PolicyError, match="unknown profile 'qa'; known: dev, test, prod"):
        use_profile("qa")


def test_profile_swap_between_calls_changes_attempts_on_the_server(monkeypatch):
    """The same decorated function makes 5 attempts under prod and 3 under dev, no re-import."""
    with (
        FaultServer() as server,
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client,
    ):
        server.default = Reply(503)

        @llm_retry(preset="deepseek")
        def ask() -> None:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])

        with no_wait():
            with pytest.raises(openai.InternalServerError):
                ask()
            prod_attempts = len(server.requests)
            monkeypatch.setenv("LLM_RETRY_PROFILE", "dev")
            with pytest.raises(openai.InternalServerError):
                ask()
            dev_attempts = len(server.requests) - prod_attempts
    assert (prod_attempts, dev_attempts) == (5, 3)


def test_test_profile_makes_no_waits_even_with_retry_after():
    """Under the test profile a Retry-After header does not make anything wait."""

    class Throttled(Exception):
        status_code = 429
        headers = {"Retry-After": "30"}  # noqa: RUF012 - a fake error, never mutated

    calls = []

    @llm_retry(preset="generic")
    def ask() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Throttled
        return "ok"

    with use_profile("test"), no_wait() as clock:
        assert ask() == "ok"
    assert clock.waits == [0.0, 0.0]


def test_overrides_on_a_preset_apply_under_every_profile():
    """Keyword overrides stack on the profile's values when the call runs."""

    class Down(Exception):
        status_code = 503

    calls = []

    @llm_retry(preset="openai", attempts=2)
    def ask() -> None:
        calls.append(1)
        raise Down

    with no_wait():
        for profile in PROFILES:
            with use_profile(profile), pytest.raises(Down):
                ask()
    assert len(calls) == 6


def test_user_policy_folder_adds_and_replaces_presets(tmp_path, monkeypatch):
    """LLM_RETRY_POLICIES folders are searched first: new names appear, same names win."""
    (tmp_path / "mine.toml").write_text('description = "mine"\nattempts = 2\n')
    (tmp_path / "openai.toml").write_text("attempts = 9\n")
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    assert available_presets()["mine"] == str(tmp_path / "mine.toml")
    assert load_preset("mine").attempts == 2
    assert load_preset("openai").attempts == 9


def test_unknown_preset_lists_the_known_ones():
    """Asking for a preset that does not exist names those that do."""
    with pytest.raises(
        PolicyError, match="unknown preset 'deepsek'; presets: anthropic, deepseek, generic, openai"
    ):
        load_preset("deepsek")


MALFORMED = [
    ("attempts = ", "not valid TOML"),
    ("atempts = 3", "atempts: unknown key; known: attempts, backoff, budget"),
    ("attempts = 0", "attempts: must be a whole number >= 1, not 0"),
    ('attempts = "5"', "attempts: must be a whole number >= 1, not '5'"),
    ("max_retry_after = -1", "max_retry_after: must be >= 0, not -1"),
    ("[backoff]\ncap = -2.0", "backoff.cap: must be >= 0, not -2.0"),
    (
        '[backoff]\njitter = "sideways"',
        "backoff.jitter: must be one of full, equal, none, not 'sideways'",
    ),
    ('[statuses]\n600 = "retry"', "statuses.600: status 600 is not an HTTP status (100-599)"),
    ('[statuses]\n"6xx" = "retry"', "statuses.6xx: status '6xx' is not an HTTP status"),
    ('[statuses]\n429 = "maybe"', "statuses.429.action: must be 'retry' or 'fail', not 'maybe'"),
    (
        '[statuses]\n429 = { reason = "x" }',
        "statuses.429.action: must be 'retry' or 'fail', not None",
    ),
    ('[statuses]\n429 = { action = "retry", atempts = 2 }', "statuses.429.atempts: unknown key"),
    (
        '[statuses]\n402 = { action = "fail", attempts = 2 }',
        "statuses.402.attempts: only applies to action = 'retry'",
    ),
    ('[transport]\ndns = "retry"', "transport.dns: unknown transport failure"),
    ('[profiles."on call"]\nattempts = 1', "profiles.on call: a profile name is letters"),
    ("[profiles.dev]\nattempts = 0", "profiles.dev.attempts: must be a whole number >= 1, not 0"),
    (
        '[profiles.dev.statuses]\n999 = "fail"',
        "profiles.dev.statuses.999: status 999 is not an HTTP status",
    ),
    ("[circuit]\nfailure_rate = 1.5", "circuit.failure_rate: must be > 0 and <= 1, not 1.5"),
    ("[budget]\ntotal = 0", "budget.total: must be > 0, not 0"),
    ("otherwise = 3", "otherwise: must be a table, not 3"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_files_name_the_file_the_key_and_the_problem(
    tmp_path, monkeypatch, text, message
):
    """Every malformed preset is rejected with FILE: KEY: PROBLEM."""
    path = tmp_path / "broken.toml"
    path.write_text(text + "\n")
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    with pytest.raises(PolicyError) as caught:
        load_preset("broken")
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_decorating_with_a_broken_preset_fails_at_decoration(tmp_path, monkeypatch):
    """A broken user preset is reported when the function is decorated."""
    (tmp_path / "bad.toml").write_text("[profiles.test]\nattempts = 0\n")
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    with pytest.raises(PolicyError, match=r"profiles\.test\.attempts"):
        llm_retry(preset="bad")(lambda: None)


def test_profile_rule_with_action_replaces_the_base_rule(tmp_path, monkeypatch):
    """A profile may turn a retry rule into a fail rule without leftover retry-only keys."""
    (tmp_path / "p.toml").write_text(
        '[statuses]\n500 = { action = "retry", attempts = 3, reason = "server" }\n'
        '[profiles.dev.statuses]\n500 = { action = "fail", reason = "fail fast in dev" }\n'
        "[profiles.test.statuses]\n500 = { attempts = 2 }\n"
    )
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    assert load_preset("p", "dev").statuses[500].action == "fail"
    test_rule = load_preset("p", "test").statuses[500]
    assert (test_rule.action, test_rule.attempts, test_rule.reason) == ("retry", 2, "server")


def test_preset_broken_after_decoration_raises_the_api_error_with_a_note(tmp_path, monkeypatch):
    """A preset file broken after decoration never hides the API error it was retrying."""

    class Down(Exception):
        status_code = 503

    error = Down()
    (tmp_path / "mine.toml").write_text("attempts = 2\n")
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))

    @llm_retry(preset="mine")
    def ask() -> None:
        raise error

    (tmp_path / "mine.toml").write_text("attempts = 0\n")
    presets.clear_cache()
    with pytest.raises(Down) as caught:
        ask()
    assert caught.value is error
    assert "policy could not be loaded" in caught.value.__notes__[-1]
    assert "mine.toml: attempts: must be a whole number >= 1" in caught.value.__notes__[-1]
