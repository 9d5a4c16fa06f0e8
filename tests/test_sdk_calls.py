"""Real openai and anthropic clients (max_retries=0) against the fault server, per preset.

Each test scripts the server's answers, calls a decorated function that uses the real SDK,
and checks what reached the server, what was raised and which waits were asked for.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from email.utils import format_datetime

import anthropic
import openai
import pytest

from llm_retry import llm_retry
from llm_retry.testing import Reply, capture_events, no_wait

MESSAGES = [{"role": "user", "content": "ping"}]


@pytest.fixture
def client(server):
    """A real OpenAI client pointed at the fault server with SDK retries off."""
    with openai.OpenAI(base_url=server.base_url, api_key="sk-test-key-123456", max_retries=0) as c:
        yield c


def deepseek_ask(client):
    """A DeepSeek call site decorated with the deepseek preset."""

    @llm_retry(preset="deepseek")
    def ask(prompt: str) -> str:
        r = client.chat.completions.create(
            model="deepseek-v4-flash", messages=[{"role": "user", "content": prompt}]
        )
        return r.choices[0].message.content

    return ask


@pytest.mark.parametrize(
    ("status", "fix"),
    [
        (400, "diff it against a known-good request"),
        (401, "Authorization: Bearer"),
        (402, "top up the account balance"),
        (422, "bisect the optional parameters"),
    ],
)
def test_deepseek_fix_codes_fail_after_one_attempt(server, client, status, fix):
    """400, 401, 402 and 422 are never retried: one request, original error, note with the fix."""
    server.script(Reply(status))
    with no_wait() as clock, pytest.raises(openai.APIStatusError) as caught:
        deepseek_ask(client)("ping")
    assert caught.value.status_code == status
    assert len(server.requests) == 1
    assert clock.waits == []
    assert fix in caught.value.__notes__[-1]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_deepseek_transient_codes_are_retried(server, client, status):
    """429, 500 and 503 are retried and the call then succeeds."""
    server.script(Reply(status), Reply(status), Reply(200, content="pong"))
    with no_wait() as clock:
        assert deepseek_ask(client)("ping") == "pong"
    assert len(server.requests) == 3
    assert len(clock.waits) == 2


def test_deepseek_500_is_retried_a_limited_number_of_times(server, client):
    """A persistent 500 gets three attempts in all, not the policy's five."""
    server.default = Reply(500)
    with no_wait(), pytest.raises(openai.InternalServerError) as caught:
        deepseek_ask(client)("ping")
    assert len(server.requests) == 3
    assert "attempts exhausted (3 of 3)" in caught.value.__notes__[-1]


def test_deepseek_503_exhausts_five_attempts_and_keeps_its_type(server, client):
    """A persistent 503 is tried five times and raised as the SDK's own exception class."""
    server.default = Reply(503)
    with no_wait() as clock, pytest.raises(openai.InternalServerError):
        deepseek_ask(client)("ping")
    assert len(server.requests) == 5
    assert len(clock.waits) == 4
    assert all(0 <= w <= 30 for w in clock.waits)


def test_retry_after_seconds_is_a_floor(server, client):
    """A 429 with Retry-After: 7 waits 7 s even though the first backoff is at most 1 s."""
    server.script(Reply(429, headers={"Retry-After": "7"}), Reply(200))
    with no_wait() as clock, capture_events() as events:
        deepseek_ask(client)("ping")
    assert clock.waits == [7.0]
    scheduled = [e for e in events if e["event"] == "llm_retry.retry_scheduled"]
    assert scheduled[0]["source"] == "retry-after"
    assert scheduled[0]["backoff"] <= 1.0


def test_retry_after_ms_is_read_first(server, client):
    """retry-after-ms wins over Retry-After, as in the SDKs."""
    server.script(Reply(429, headers={"retry-after-ms": "4500", "Retry-After": "9"}), Reply(200))

    @llm_retry(preset="openai")
    def ask() -> None:
        client.chat.completions.create(model="gpt", messages=MESSAGES)

    with no_wait() as clock:
        ask()
    assert 4.5 <= clock.waits[0] <= 5.0


def test_retry_after_http_date(server, client):
    """An HTTP-date Retry-After is honoured as the time until that date."""
    with no_wait() as clock:
        when = datetime.fromtimestamp(clock.wall() + 20, tz=timezone.utc)
        server.script(
            Reply(503, headers={"Retry-After": format_datetime(when, usegmt=True)}), Reply(200)
        )
        deepseek_ask(client)("ping")
    assert 19 <= clock.waits[0] <= 20


def test_openai_rate_limit_reset_is_the_floor_without_retry_after(server, client):
    """A 429 with no Retry-After waits until the used-up limit has room (x-ratelimit-*)."""
    headers = {
        "x-ratelimit-limit-requests": "4",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "34s",
        "x-ratelimit-remaining-tokens": "40000",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    server.script(Reply(429, headers=headers), Reply(200))
    with no_wait() as clock, capture_events() as events:
        deepseek_ask(client)("ping")
    assert clock.waits == [8.5]  # one of the 4 requests is back after 34 s / 4
    scheduled = next(e for e in events if e["event"] == "llm_retry.retry_scheduled")
    assert (scheduled["source"], scheduled["retry_after_header"]) == (
        "retry-after",
        "x-ratelimit-reset-requests",
    )


def test_a_rate_limit_reset_past_the_cap_leaves_the_backoff(server, client):
    """A reset is the server's state, not an order: past the cap it is dropped, not a give-up."""
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1h"}
    server.script(Reply(429, headers=headers), Reply(200))
    with no_wait() as clock, capture_events() as events:
        deepseek_ask(client)("ping")
    assert len(server.requests) == 2
    assert clock.waits[0] <= 1.0  # the first backoff of the deepseek preset
    scheduled = next(e for e in events if e["event"] == "llm_retry.retry_scheduled")
    assert scheduled["source"] == "backoff"
    assert "retry_after" not in scheduled
    failed = next(e for e in events if e["event"] == "llm_retry.attempt_failed")
    assert failed["ignored_headers"] == [
        "x-ratelimit-reset-tokens ignored: 3600 s is past max_retry_after 60 s, so the backoff "
        "decides"
    ]


def test_huge_retry_after_gives_up_at_once(server, client):
    """Retry-After past the preset's cap is given up on at once, never slept."""
    server.script(Reply(429, headers={"Retry-After": "86400"}))
    with no_wait() as clock, pytest.raises(openai.RateLimitError) as caught:
        deepseek_ask(client)("ping")
    assert clock.waits == []
    assert len(server.requests) == 1
    assert "more than max_retry_after 60 s" in caught.value.__notes__[-1]


def test_openai_insufficient_quota_is_not_retried(server, client):
    """OpenAI's 429 insufficient_quota is a billing failure: one attempt, RateLimitError kept."""
    server.script(Reply(429, code="insufficient_quota", type="insufficient_quota"))

    @llm_retry(preset="openai")
    def ask() -> None:
        client.chat.completions.create(model="gpt", messages=MESSAGES)

    with no_wait(), capture_events() as events, pytest.raises(openai.RateLimitError) as caught:
        ask()
    assert len(server.requests) == 1
    assert "code insufficient_quota" in caught.value.__notes__[-1]
    assert events[0]["rule"] == "code insufficient_quota"
    assert events[0]["classification"] == "fail"


def test_openai_context_length_exceeded_is_not_retried(server, client):
    """A 400 context_length_exceeded fails after one attempt with the fix."""
    server.script(Reply(400, code="context_length_exceeded", type="invalid_request_error"))

    @llm_retry(preset="openai")
    def ask() -> None:
        client.chat.completions.create(model="gpt", messages=MESSAGES)

    with no_wait(), pytest.raises(openai.BadRequestError) as caught:
        ask()
    assert len(server.requests) == 1
    assert "longer-context model" in caught.value.__notes__[-1]


def test_openai_ordinary_429_is_retried(server, client):
    """A 429 rate_limit_exceeded is retried by the openai preset."""
    server.script(Reply(429, code="rate_limit_exceeded"), Reply(200))

    @llm_retry(preset="openai")
    def ask() -> str:
        return client.chat.completions.create(model="gpt", messages=MESSAGES).id

    with no_wait():
        ask()
    assert len(server.requests) == 2


@pytest.fixture
def claude(server):
    """A real Anthropic client pointed at the fault server with SDK retries off."""
    with anthropic.Anthropic(
        base_url=server.root_url, api_key="sk-ant-test-1234567", max_retries=0
    ) as c:
        yield c


def claude_ask(claude):
    """An Anthropic call site decorated with the anthropic preset."""

    @llm_retry(preset="anthropic")
    def ask() -> str:
        msg = claude.messages.create(model="claude-x", max_tokens=16, messages=MESSAGES)
        return msg.content[0].text

    return ask


def test_anthropic_529_overloaded_is_retried(server, claude):
    """Anthropic's 529 overloaded_error is retried until success."""
    server.script(Reply(529), Reply(529), Reply(200, content="hi"))
    with no_wait(), capture_events() as events:
        assert claude_ask(claude)() == "hi"
    assert len(server.requests) == 3
    assert events[0]["error"] == "anthropic.OverloadedError"
    assert events[0]["rule"] == "code overloaded_error"


def test_anthropic_rate_limit_honours_retry_after(server, claude):
    """Anthropic's 429 with retry-after waits at least that long."""
    server.script(Reply(429, headers={"retry-after": "12"}), Reply(200))
    with no_wait() as clock:
        claude_ask(claude)()
    assert clock.waits == [12.0]


def test_anthropic_rate_limit_reset_is_the_floor_without_retry_after(server, claude):
    """No retry-after: the reset time of the used-up limit (RFC 3339) is the wait."""
    with no_wait() as clock, capture_events() as events:
        reset = datetime.fromtimestamp(clock.wall() + 15, tz=timezone.utc)
        headers = {
            "anthropic-ratelimit-output-tokens-remaining": "0",
            "anthropic-ratelimit-output-tokens-reset": reset.isoformat().replace("+00:00", "Z"),
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-reset": reset.isoformat(),
        }
        server.script(Reply(429, headers=headers), Reply(200))
        claude_ask(claude)()
    assert clock.waits == [pytest.approx(15, abs=1e-3)]
    scheduled = next(e for e in events if e["event"] == "llm_retry.retry_scheduled")
    assert scheduled["retry_after_header"] == "anthropic-ratelimit-output-tokens-reset"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "billing_error"), (402, "billing_error"), (429, "enforced_spend_limit_reached")],
)
def test_anthropic_billing_and_spend_limits_fail(server, claude, status, kind):
    """Billing errors and spend limits fail after one attempt whatever their status."""
    if kind == "billing_error":
        server.script(Reply(status, type=kind))
    else:
        body = {
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "spend limit",
                "details": {"error_code": kind},
            },
        }
        server.script(Reply(status, body=body))
    with no_wait(), pytest.raises(anthropic.APIStatusError) as caught:
        claude_ask(claude)()
    assert len(server.requests) == 1
    assert f"code {kind}" in caught.value.__notes__[-1]


def test_async_openai_client_retries(server):
    """AsyncOpenAI through an async decorated function retries 503 then 429 to success."""
    server.script(Reply(503), Reply(429, headers={"Retry-After": "3"}), Reply(200, content="ok"))

    async def main() -> str:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0) as c:

            @llm_retry(preset="deepseek")
            async def ask() -> str:
                r = await c.chat.completions.create(model="m", messages=MESSAGES)
                return r.choices[0].message.content

            return await ask()

    with no_wait() as clock:
        assert asyncio.run(main()) == "ok"
    assert len(server.requests) == 3
    assert clock.waits[1] == 3.0


def test_async_anthropic_fail_fast(server):
    """AsyncAnthropic 401 fails after one attempt with the original class."""
    server.script(Reply(401))

    async def main() -> None:
        async with anthropic.AsyncAnthropic(
            base_url=server.root_url, api_key="k", max_retries=0
        ) as c:

            @llm_retry(preset="anthropic")
            async def ask() -> None:
                await c.messages.create(model="m", max_tokens=1, messages=MESSAGES)

            await ask()

    with no_wait(), pytest.raises(anthropic.AuthenticationError):
        asyncio.run(main())
    assert len(server.requests) == 1


class Assistant:
    """A service object whose methods call the SDK."""

    def __init__(self, client):
        self.client = client

    @llm_retry(preset="deepseek")
    def ask(self, prompt: str) -> str:
        r = self.client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}]
        )
        return r.choices[0].message.content


def test_decorated_method_with_real_client(server, client):
    """A decorated method retries through the real client and passes self and arguments."""
    server.script(Reply(503), Reply(200, content="done"))
    with no_wait():
        assert Assistant(client).ask("hello") == "done"
    assert [r.body["messages"][0]["content"] for r in server.requests] == ["hello", "hello"]


def test_timeout_and_dropped_connection_are_retried(server):
    """A read timeout and a dropped connection are transport failures, retried."""
    server.script(Reply(200, delay=1.0), Reply.drop_connection(), Reply(200, content="ok"))
    with (
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0, timeout=0.1) as c,
        no_wait(),
        capture_events() as events,
    ):
        assert deepseek_ask(c)("ping") == "ok"
    rules = [e["rule"] for e in events if e["event"] == "llm_retry.attempt_failed"]
    assert rules == ["transport timeout", "transport connection"]


def test_sdk_secret_never_reaches_events(server, client):
    """The API key sent by the client does not appear in any event."""
    server.script(Reply(401, message="Incorrect API key provided: sk-test-key-123456"))
    with no_wait(), capture_events() as events, pytest.raises(openai.AuthenticationError):
        deepseek_ask(client)("ping")
    assert "sk-test-key-123456" not in repr(events)
    assert "***" in events[0]["message"]
