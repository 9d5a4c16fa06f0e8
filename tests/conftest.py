"""Shared fixtures: every test starts from the default profile, presets and real clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm_retry import _clock, presets

pytest_plugins = ["redis_server"]


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reset the profile, the preset cache and the clock around every test."""
    monkeypatch.delenv("LLM_RETRY_PROFILE", raising=False)
    monkeypatch.delenv("LLM_RETRY_POLICIES", raising=False)
    presets.clear_cache()
    clock = _clock.active()
    yield
    presets.use_profile(None)
    presets.clear_cache()
    _clock.use(clock)
