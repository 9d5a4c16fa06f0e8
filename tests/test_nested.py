"""Retrying at one layer: an error an inner ``@llm_retry`` gave up on is not retried again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import openai
import pytest

from llm_retry import Policy, PolicyError, llm_retry, load_preset, retrying
from llm_retry.testing import Reply, capture_events, no_wait


def _layers(client: openai.OpenAI, depth: int, **options: Any) -> Callable[[], str]:
    """``depth`` decorated functions, each calling the next; the innermost calls the API."""

    @llm_retry(attempts=3, **options)
    def innermost() -> str:
        r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        return str(r.choices[0].message.content)

    call: Callable[[], str] = innermost
    for _ in range(depth):
        call = llm_retry(attempts=3, **options)(lambda inner=call: inner())
    return call


@pytest.mark.parametrize("depth", [1, 3])
def test_nested_calls_send_the_inner_attempts_only(server, gpt, depth):
    """Depth 3 used to send 3**4 = 81 requests; the inner layer's 3 attempts are all now."""
    server.default = Reply(503)
    with no_wait(), capture_events() as events, pytest.raises(openai.InternalServerError) as got:
        _layers(gpt, depth)()
    assert len(server.requests) == 3
    notes = got.value.__notes__
    assert "attempts exhausted (3 of 3)" in notes[0]
    assert all("an inner @llm_retry already gave up on it" in note for note in notes[1:])
    assert len(notes) == depth + 1
    failed = [e for e in events if e["event"] == "llm_retry.attempt_failed"]
    assert len(failed) == 3 + depth


def test_retry_nested_opts_back_in(server, gpt):
    """``retry_nested=True`` on the outer layer retries what the inner one gave up on."""
    server.default = Reply(503)
    with no_wait(), pytest.raises(openai.InternalServerError):
        _layers(gpt, 1, retry_nested=True)()
    assert len(server.requests) == 9


def test_an_outer_layer_still_retries_its_own_failures():
    """Only errors carrying an inner verdict are held back: a plain error is retried."""
    calls = []

    @llm_retry(attempts=3)
    def inner() -> str:
        return "ok"

    @llm_retry(attempts=3)
    def outer() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("reset")
        return inner()

    with no_wait():
        assert outer() == "ok"
    assert len(calls) == 3


def test_nested_async(server):
    """The same on the async path."""
    server.default = Reply(503)

    async def main() -> None:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-test", max_retries=0
        ) as client:

            @llm_retry(attempts=3)
            async def inner() -> None:
                await client.models.list()

            @llm_retry(attempts=3)
            async def outer() -> None:
                await inner()

            await outer()

    with no_wait(), pytest.raises(openai.InternalServerError):
        asyncio.run(main())
    assert len(server.requests) == 3


def test_retry_nested_in_policy_and_presets(tmp_path, monkeypatch):
    """``retry_nested`` is a policy setting: a keyword, a Policy field, a preset key."""
    assert Policy().retry_nested is False
    assert Policy(retry_nested=True).retry_nested is True
    with pytest.raises(PolicyError, match="retry_nested must be true or false"):
        Policy(retry_nested="yes")  # type: ignore[arg-type]
    (tmp_path / "layered.toml").write_text("retry_nested = true\n[profiles.dev]\nattempts = 2\n")
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    assert load_preset("layered", "dev").retry_nested is True


def test_a_retrying_block_around_a_decorated_call_retries_at_one_layer(server, gpt):
    """``retrying()`` shares the decision core: a decorated call's give-up is not retried."""
    server.default = Reply(503)

    @llm_retry(attempts=3)
    def inner() -> None:
        gpt.models.list()

    def block() -> None:
        for attempt in retrying(attempts=3, name="block"):
            with attempt:
                inner()

    with no_wait(), pytest.raises(openai.InternalServerError):
        block()
    assert len(server.requests) == 3


def test_an_exception_object_raised_again_by_a_later_call_is_retried():
    """A verdict left by an earlier call on a reused exception object does not hold it back."""
    error = ConnectionError("reset")
    calls = []

    @llm_retry(attempts=2)
    def flaky() -> None:
        calls.append(1)
        raise error

    with no_wait():
        for _ in range(2):
            with pytest.raises(ConnectionError):
                flaky()
    assert len(calls) == 4
