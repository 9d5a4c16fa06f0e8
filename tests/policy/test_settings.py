"""A settings section is defined once: the decorator's keywords and the preset's table agree."""

from __future__ import annotations

import dataclasses

import pytest

from llm_retry import PolicyError, budget, circuit
from llm_retry.policy import schema
from llm_retry.policy.settings import BudgetSettings, CircuitSettings

SECTIONS = [("budget", BudgetSettings), ("circuit", CircuitSettings)]


@pytest.mark.parametrize(("name", "settings"), SECTIONS)
def test_every_keyword_is_a_key_a_preset_file_may_carry(name, settings):
    """Each field of the section loads from a preset's table with its default value."""
    for item in dataclasses.fields(settings):
        if item.default is None:
            continue
        value = str(item.default).lower() if isinstance(item.default, bool) else item.default
        data = schema.parse(f"[{name}]\n{item.name} = {value}\n", "mine.toml")
        assert data[name] == {item.name: item.default}


def test_a_preset_budget_window_loads_as_the_decorator_takes_it(tmp_path, monkeypatch):
    """[budget] window = 5 used to be refused by the file schema while @budget(window=5) worked."""
    (tmp_path / "mine.toml").write_text('description = "mine"\n[budget]\nwindow = 5\n')
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    assert budget(preset="mine").settings.window == 5
    assert budget(window=5).settings.window == 5


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("budget", "window", "0", "must be > 0, not 0"),
        ("circuit", "failures", "0", "must be a whole number >= 1, not 0"),
        ("circuit", "failure_rate", "1.5", "must be > 0 and <= 1, not 1.5"),
    ],
)
def test_a_bad_value_reads_the_same_in_a_file_and_a_keyword(section, key, value, message):
    with pytest.raises(PolicyError, match=f"{section}.{key}: {message}"):
        schema.parse(f"[{section}]\n{key} = {value}\n", "mine.toml")
    decorator = budget if section == "budget" else lambda **kw: circuit("s-bad", **kw).settings
    with pytest.raises(PolicyError, match=f"{section} {key} {message}"):
        decorator(**{key: float(value) if "." in value else int(value)})
