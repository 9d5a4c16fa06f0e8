"""The SDKs' own retries under @llm_retry: one warning per client, and the helper that ends them."""

from __future__ import annotations

import asyncio

import anthropic
import openai
import pytest

from llm_retry import llm_retry, sdk
from llm_retry.sdk import without_retries
from llm_retry.testing import Reply, capture_events, no_wait
from llm_retry.testing._factories import _http_module

MESSAGES = [{"role": "user", "content": "ping"}]
FAST_503 = Reply(503, headers={"retry-after-ms": "1"})  # the SDK's own retry waits 1 ms


@pytest.fixture(autouse=True)
def _forget_warnings():
    """Each test starts with no client warned about."""
    sdk.forget()
    yield
    sdk.forget()


def warnings_in(events):
    """The sdk_retries events."""
    return [e for e in events if e["event"] == "llm_retry.sdk_retries"]


def asker(client):
    """A decorated call site on ``client``."""

    @llm_retry(preset="openai", attempts=2)
    def ask():
        return client.chat.completions.create(model="m", messages=MESSAGES)

    return ask


def test_sdk_retries_multiply_requests_and_warn_once_per_client(server):
    """With max_retries=2 each attempt is 3 requests; the warning comes once, with the fix."""
    server.default = FAST_503
    with (
        openai.OpenAI(base_url=server.base_url, api_key="k") as client,
        no_wait(),
        capture_events() as events,
    ):
        ask = asker(client)
        for _ in range(3):
            with pytest.raises(openai.InternalServerError):
                ask()
    assert len(server.requests) == 3 * 2 * 3
    counts = [r.headers["x-stainless-retry-count"] for r in server.requests[:6]]
    assert counts == ["0", "1", "2", "0", "1", "2"]
    (warning,) = warnings_in(events)
    assert warning["client"] == "openai.OpenAI"
    assert warning["max_retries"] == 2
    assert warning["sdk_retry_count"] == 2
    assert "max_retries=0" in warning["fix"]
    assert warning["log_level"] == "warning"


def test_each_client_is_warned_about_once(server):
    """A second client with SDK retries gets its own warning; a non-retried 400 is enough."""
    server.default = Reply(400)
    with (
        openai.OpenAI(base_url=server.base_url, api_key="k") as first,
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=1) as second,
        no_wait(),
        capture_events() as events,
    ):
        for client in (first, second, first, second):
            with pytest.raises(openai.BadRequestError):
                asker(client)()
    assert [w["max_retries"] for w in warnings_in(events)] == [2, 1]
    assert all("sdk_retry_count" not in w for w in warnings_in(events))


def test_no_warning_without_sdk_retries(server):
    """A client made with without_retries() retries only through the decorator, silently."""
    server.script(Reply(503), Reply(200))
    with openai.OpenAI(base_url=server.base_url, api_key="k") as client:
        quiet = without_retries(client)
        assert (quiet.max_retries, client.max_retries) == (0, 2)
        with no_wait(), capture_events() as events:
            asker(quiet)()
    assert len(server.requests) == 2
    assert warnings_in(events) == []


def test_async_anthropic_client_is_found(server):
    """The async anthropic client is found in the traceback of its error."""
    server.default = Reply(401)

    async def main():
        async with anthropic.AsyncAnthropic(base_url=server.root_url, api_key="k") as client:

            @llm_retry(preset="anthropic")
            async def ask():
                await client.messages.create(model="m", max_tokens=1, messages=MESSAGES)

            for _ in range(2):
                with pytest.raises(anthropic.AuthenticationError):
                    await ask()

    with no_wait(), capture_events() as events:
        asyncio.run(main())
    (warning,) = warnings_in(events)
    assert warning["client"] == "anthropic.AsyncAnthropic"


def test_the_retry_count_header_alone_is_enough():
    """An SDK error whose request carried x-stainless-retry-count > 0 warns, once per host."""
    http = _http_module("openai")
    request = http.Request(
        "POST", "https://api.example.test/v1/chat", headers={"x-stainless-retry-count": "2"}
    )
    response = http.Response(503, request=request)

    @llm_retry(preset="openai", attempts=2)
    def ask():
        raise openai.InternalServerError("Error code: 503", response=response, body=None)

    with no_wait(), capture_events() as events:
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                ask()
    (warning,) = warnings_in(events)
    assert warning["sdk_retry_count"] == 2
    assert "client" not in warning


def test_without_retries_needs_a_client():
    """without_retries() refuses an object that has no with_options()."""
    with pytest.raises(TypeError, match="has no with_options"):
        without_retries(object())
