"""Error bodies of streamed HTTP responses, and the frameworks' errors, read right."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
import requests

from helpers import need
from llm_retry import llm_retry, sdk
from llm_retry.decide.adapters import error_info
from llm_retry.run.bodies import MAX_BODY_BYTES
from llm_retry.testing import Reply, capture_events, no_wait

QUOTA = Reply(429, code="insufficient_quota", type="insufficient_quota")


def test_an_open_requests_stream_error_body_is_read_once_the_attempt_fails(server):
    """requests stream=True: the quota code is read from the body, so one request."""

    @llm_retry(preset="openai")
    def ask():
        r = requests.post(f"{server.base_url}/chat/completions", json={}, stream=True, timeout=9)
        r.raise_for_status()
        return r.json()

    server.script(QUOTA)
    with no_wait(), pytest.raises(requests.HTTPError) as caught:
        ask()
    assert len(server.requests) == 1
    assert error_info(caught.value).code == "insufficient_quota"


def test_inside_client_stream_the_helper_keeps_the_body(server):
    """httpx closes a client.stream() response on the way out: read it before raising."""

    @llm_retry(preset="openai")
    def ask(check):
        with (
            httpx.Client(base_url=server.base_url) as client,
            client.stream("POST", "/chat/completions", json={}) as r,
        ):
            check(r)
            return r.read()

    server.default = QUOTA
    with no_wait(), pytest.raises(httpx.HTTPStatusError):
        ask(httpx.Response.raise_for_status)
    assert len(server.requests) == 5  # the body was gone: retried as a plain 429
    server.reset()
    server.default = QUOTA
    with no_wait(), pytest.raises(httpx.HTTPStatusError) as caught:
        ask(sdk.raise_for_status)
    assert len(server.requests) == 1
    assert "insufficient_quota" in caught.value.__notes__[-1]


def test_aiohttp_errors_keep_their_body_with_the_helper(server):
    """ClientResponseError has no body: araise_for_status reads it first."""
    aiohttp = need("aiohttp")

    @llm_retry(preset="anthropic")
    async def ask():
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{server.root_url}/v1/messages", json={}) as r,
        ):
            await sdk.araise_for_status(r)
            return await r.json()

    server.script(Reply(429, type="rate_limit_error", message="spend"))
    server.reset()
    server.script(
        Reply(
            429,
            body={
                "type": "error",
                "error": {
                    "type": "rate_limit_error",
                    "message": "spend limit",
                    "details": {"error_code": "enforced_spend_limit_reached"},
                },
            },
        )
    )
    with no_wait(), pytest.raises(aiohttp.ClientResponseError) as caught:
        asyncio.run(ask())
    assert len(server.requests) == 1
    assert error_info(caught.value).code == "enforced_spend_limit_reached"


def test_a_body_past_64_kib_is_not_parsed(server):
    """The read stops at the cap: a huge error body has no codes, and costs no memory."""
    huge = '{"error": {"code": "insufficient_quota", "pad": "' + "x" * MAX_BODY_BYTES + '"}}'
    server.script(Reply(429, body=huge, headers={"Content-Type": "application/json"}))
    r = requests.post(f"{server.base_url}/chat/completions", json={}, stream=True, timeout=9)
    with pytest.raises(requests.HTTPError) as caught:
        sdk.raise_for_status(r)
    assert getattr(caught.value, "body", None) is None
    assert error_info(caught.value).codes == ()


def test_a_success_is_not_read(server):
    """The helper does nothing for a 2xx: the stream stays unread for the caller."""
    server.script(Reply(content="pong"))
    with (
        httpx.Client(base_url=server.base_url) as client,
        client.stream("POST", "/chat/completions", json={}) as r,
    ):
        sdk.raise_for_status(r)
        assert not r.is_stream_consumed


@pytest.mark.clients
def test_litellm_retries_under_the_decorator_are_warned_about(server):
    """num_retries on a LiteLLM call multiplies the requests: one sdk_retries warning."""
    litellm = need("litellm")
    litellm.suppress_debug_info = True
    sdk.forget()

    @llm_retry(preset="deepseek")
    def ask():
        return litellm.completion(
            model="deepseek/deepseek-chat",
            api_base=server.base_url,
            api_key="sk-test",
            messages=[{"role": "user", "content": "ping"}],
            num_retries=1,
        )

    retry_now = Reply(503, headers={"Retry-After": "0"})
    server.script(retry_now, retry_now, retry_now)
    with no_wait(), capture_events() as events:
        ask()
    warned = [e for e in events if e["event"] == "llm_retry.sdk_retries"]
    assert [(e["client"], e["max_retries"]) for e in warned] == [("litellm", 1)]
    assert "num_retries=0" in warned[0]["fix"]


@pytest.mark.clients
def test_instructor_errors_are_read_through_their_cause(server):
    """InstructorRetryException wraps the API error in __cause__: a 402 is one request."""
    instructor = need("instructor")
    pydantic = need("pydantic")

    class Answer(pydantic.BaseModel):
        text: str

    with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as raw:
        client = instructor.from_openai(raw, mode=instructor.Mode.JSON)

        @llm_retry(preset="deepseek")
        def ask():
            return client.chat.completions.create(
                model="m",
                response_model=Answer,
                messages=[{"role": "user", "content": "ping"}],
                max_retries=0,
            )

        server.script(Reply(402))
        with no_wait(), pytest.raises(need("instructor.core").InstructorRetryException) as caught:
            ask()
    assert len(server.requests) == 1
    assert error_info(caught.value).status == 402  # from __cause__ (or, in 1.x, args[0])
    assert "top up the account balance" in caught.value.__notes__[-1]
