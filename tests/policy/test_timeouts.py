"""Client timeouts from the presets, and timeouts as a backoff signal that may still bill."""

from __future__ import annotations

import httpx
import openai
import pytest

from llm_retry import PolicyError, Timeouts, llm_retry, timeouts, use_profile
from llm_retry.testing import FaultServer, Reply, capture_events, no_wait

MESSAGES = [{"role": "user", "content": "ping"}]


def test_deepseek_timeouts_by_mode():
    """DeepSeek: 180 s for a request, 300 s in thinking mode, 10 s to connect."""
    assert timeouts("deepseek") == Timeouts(read=180.0, connect=10.0)
    assert timeouts("deepseek", thinking=True) == Timeouts(read=300.0, connect=10.0)
    assert timeouts("deepseek", thinking=True).seconds == 300.0


def test_presets_without_thinking_or_section_fall_back():
    """No thinking value means the request value; no section means the SDKs' 600 s and 5 s."""
    assert timeouts("openai", thinking=True) == Timeouts(read=600.0, connect=5.0)
    assert timeouts("generic") == Timeouts(read=600.0, connect=5.0)


def test_profiles_and_unknown_presets():
    """The active profile is read; an unknown preset is a PolicyError."""
    with use_profile("dev"):
        assert timeouts("deepseek").read == 180.0
    with pytest.raises(PolicyError, match="unknown preset"):
        timeouts("nope")


def test_httpx_timeout_object():
    """.httpx(module) builds that module's Timeout with the read and connect values."""
    timeout = timeouts("deepseek", thinking=True).httpx(httpx)
    assert isinstance(timeout, httpx.Timeout)
    assert (timeout.read, timeout.connect) == (300.0, 10.0)


def test_a_timeout_is_retried_and_said_to_possibly_bill():
    """A read timeout is retried with backoff; its event says the request may still bill."""
    with FaultServer() as server:
        server.script(Reply(200, delay=1.0), Reply(200, content="late but fine"))
        with openai.OpenAI(
            base_url=server.base_url, api_key="k", max_retries=0, timeout=0.1
        ) as client:

            @llm_retry(preset="deepseek")
            def ask():
                return client.chat.completions.create(model="m", messages=MESSAGES)

            with no_wait() as clock, capture_events() as events:
                assert ask().choices[0].message.content == "late but fine"
    failed = events[0]
    assert failed["rule"] == "transport timeout"
    assert failed["billing"] == "may_bill"
    assert failed["note"] == "a timed-out request may still complete on the server and bill"
    assert "possibly queued" in failed["reason"]
    assert len(clock.waits) == 1
    assert events[-1]["may_bill_attempts"] == 1
