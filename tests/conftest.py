"""Shared fixtures: every test starts from the default profile, presets and real clock.

Modules also share, on request, a fault server with real OpenAI and Anthropic clients on it and
a reset of the budgets' local state; the fakes they share are plain code in ``helpers``.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest
import structlog

from llm_retry import presets
from llm_retry.run import clock as _clock
from llm_retry.run import keys as throttle_state
from llm_retry.testing import FaultServer

pytest_plugins = ["redis_server"]
pytest.register_assert_rewrite("helpers")


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


@pytest.fixture
def fresh_budgets() -> Iterator[None]:
    """Start and end the test without blocks, pacers or retry budgets from other tests."""
    throttle_state.reset()
    yield
    throttle_state.reset()


@pytest.fixture
def unconfigured_structlog() -> Iterator[None]:
    """structlog as a program that never configured it leaves it (events go to ``logging``)."""
    configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    if configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """A fault server for one test."""
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def gpt(server: FaultServer) -> Iterator[openai.OpenAI]:
    """A real OpenAI client on the fault server, SDK retries off."""
    with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(server: FaultServer) -> Iterator[anthropic.Anthropic]:
    """A real Anthropic client on the fault server, SDK retries off."""
    with anthropic.Anthropic(base_url=server.root_url, api_key="k", max_retries=0) as client:
        yield client
