"""Every call site users have, with the real package against the fault server.

Each client (raw openai and anthropic, LiteLLM with its deepseek/, openai/ and anthropic/
providers, LangChain, pydantic-ai, instructor, httpx, requests, aiohttp) is decorated as a
new user would, and must behave as the raw SDK does: DeepSeek's seven codes as the table says,
a quota 429 in one request with Retry-After as a floor, Anthropic's 529 retried and seen as
529, and a stream error retried before the first output and raised after it. A package that
is missing skips its cases, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
import requests

from helpers import need
from llm_retry import llm_retry, sdk
from llm_retry.testing import FaultServer, Reply, capture_events, no_wait

pytestmark = [
    pytest.mark.clients,
    pytest.mark.usefixtures("fresh_budgets"),
    # The frameworks build clients of their own that this module cannot close; the
    # collector finds them later, in whatever test runs then.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(autouse=True)
def _collect_clients() -> Iterator[None]:
    """Collect the frameworks' unclosed clients here, under this module's filters."""
    yield
    gc.collect()


QUOTA = Reply(429, code="insufficient_quota", type="insufficient_quota")
SPEND_LIMIT = Reply(
    429,
    body={
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "spend limit reached",
            "details": {"error_code": "enforced_spend_limit_reached"},
        },
    },
)
MESSAGES = [{"role": "user", "content": "ping"}]
Call = Callable[[], Any]


def run(result: Any) -> Any:
    """The value of a call, awaited when the client is async."""
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


# -- the call sites, one builder per client: (server) -> undecorated call -----------------
def raw_openai(server: FaultServer) -> Call:
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    return lambda: client.chat.completions.create(model="deepseek-v4-flash", messages=MESSAGES)


def raw_anthropic(server: FaultServer) -> Call:
    client = anthropic.Anthropic(base_url=server.root_url, api_key="k", max_retries=0)
    return lambda: client.messages.create(model="claude-haiku-4-5", max_tokens=9, messages=MESSAGES)


def litellm_call(provider: str) -> Callable[[FaultServer], Call]:
    def build(server: FaultServer) -> Call:
        litellm = need("litellm")
        litellm.suppress_debug_info = True
        base = server.root_url if provider == "anthropic" else server.base_url
        model = {"anthropic": "anthropic/claude-haiku-4-5", "openai": "openai/gpt-4o-mini"}.get(
            provider, "deepseek/deepseek-chat"
        )

        def call() -> Any:
            return litellm.completion(
                model=model,
                api_base=base,
                api_key="sk-test",
                messages=MESSAGES,
                num_retries=0,
                max_retries=0,
            )

        return call

    return build


def langchain_openai(server: FaultServer) -> Call:
    chat = need("langchain_openai").ChatOpenAI(
        base_url=server.base_url, api_key="sk-test", max_retries=0, model="deepseek-v4-flash"
    )
    return lambda: chat.invoke("ping")


def langchain_anthropic(server: FaultServer) -> Call:
    chat = need("langchain_anthropic").ChatAnthropic(
        base_url=server.root_url, api_key="k", max_retries=0, model="claude-haiku-4-5"
    )
    return lambda: chat.invoke("ping")


def pydantic_ai_call(provider: str) -> Callable[[FaultServer], Call]:
    def build(server: FaultServer) -> Call:
        pydantic_ai = need("pydantic_ai")

        async def call() -> Any:  # a client per event loop: each call runs its own
            return (await pydantic_ai.Agent(agent_model(server, provider)).run("ping")).output

        return call

    return build


def agent_model(server: FaultServer, provider: str) -> Any:
    """A pydantic-ai model on the fault server, its SDK's retries off."""
    if provider == "anthropic":
        from pydantic_ai.models.anthropic import AnthropicModel  # noqa: PLC0415
        from pydantic_ai.providers.anthropic import AnthropicProvider  # noqa: PLC0415

        claude = anthropic.AsyncAnthropic(base_url=server.root_url, api_key="k", max_retries=0)
        return AnthropicModel(
            "claude-haiku-4-5", provider=AnthropicProvider(anthropic_client=claude)
        )
    from pydantic_ai.models.openai import OpenAIChatModel  # noqa: PLC0415
    from pydantic_ai.providers.openai import OpenAIProvider  # noqa: PLC0415

    gpt = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    return OpenAIChatModel("deepseek-v4-flash", provider=OpenAIProvider(openai_client=gpt))


def instructor_call(server: FaultServer) -> Call:
    instructor = need("instructor")
    pydantic = need("pydantic")

    class Answer(pydantic.BaseModel):
        text: str

    client = instructor.from_openai(
        openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0),
        mode=instructor.Mode.JSON,
    )
    return lambda: client.chat.completions.create(
        model="deepseek-v4-flash", response_model=Answer, messages=MESSAGES, max_retries=0
    )


def httpx_call(server: FaultServer) -> Call:
    def call() -> Any:
        with httpx.Client(base_url=server.base_url) as client:
            r = client.post("/chat/completions", json={"messages": MESSAGES})
            r.raise_for_status()
            return r.json()

    return call


def httpx_stream_call(server: FaultServer) -> Call:
    def call() -> Any:
        body = {"messages": MESSAGES}
        with (
            httpx.Client(base_url=server.base_url) as client,
            client.stream("POST", "/chat/completions", json=body) as r,
        ):
            sdk.raise_for_status(r)
            return r.read()

    return call


def requests_call(server: FaultServer) -> Call:
    def call() -> Any:
        r = requests.post(f"{server.base_url}/chat/completions", json={}, stream=True, timeout=9)
        r.raise_for_status()  # the error body is read when the attempt fails
        return r.json()

    return call


def aiohttp_call(server: FaultServer) -> Call:
    aiohttp = need("aiohttp")

    async def call() -> Any:
        url = f"{server.base_url}/chat/completions"
        async with aiohttp.ClientSession() as session, session.post(url, json={}) as r:
            await sdk.araise_for_status(r)
            return await r.json()

    return call


OPENAI_COMPATIBLE = {
    "openai": raw_openai,
    "litellm-deepseek": litellm_call("deepseek"),
    "litellm-openai": litellm_call("openai"),
    "langchain-openai": langchain_openai,
    "pydantic-ai-openai": pydantic_ai_call("openai"),
    "instructor": instructor_call,
    "httpx": httpx_call,
    "httpx-stream": httpx_stream_call,
    "requests-stream": requests_call,
    "aiohttp": aiohttp_call,
}
ANTHROPIC = {
    "anthropic": raw_anthropic,
    "litellm-anthropic": litellm_call("anthropic"),
    "langchain-anthropic": langchain_anthropic,
    # pydantic-ai 2.38's AnthropicModel raises TypeError("Cannot instantiate typing.Union")
    # while building its request with anthropic 2.14, before any request: not tested here.
}


def decorated(call: Call, preset: str) -> Call:
    if asyncio.iscoroutinefunction(call):

        @llm_retry(preset=preset)
        async def aask() -> Any:
            return await call()

        return aask

    @llm_retry(preset=preset)
    def ask() -> Any:
        return call()

    return ask


def raised(call: Call) -> BaseException:
    """What the undecorated call raises."""
    try:
        run(call())
    except Exception as exc:  # noqa: BLE001 - any client's error
        return exc
    raise AssertionError("the call did not fail")


@pytest.mark.parametrize("client", OPENAI_COMPATIBLE)
@pytest.mark.parametrize("status", [400, 401, 402, 422])
def test_deepseek_fix_codes_cost_one_request(server, client, status):
    """400/401/402/422: one request, the client's own exception type, a note saying why."""
    call = OPENAI_COMPATIBLE[client](server)
    server.script(Reply(status))
    expected = type(raised(call))
    server.reset()
    server.script(Reply(status))
    with no_wait() as clock, pytest.raises(expected) as caught:
        run(decorated(call, "deepseek")())
    assert len(server.requests) == 1
    assert clock.waits == []
    assert any("llm-retry [deepseek]" in note for note in caught.value.__notes__)


@pytest.mark.parametrize("client", OPENAI_COMPATIBLE)
@pytest.mark.parametrize("status", [429, 500, 503])
def test_deepseek_transient_codes_are_retried(server, client, status):
    """429/500/503 are retried, and the call then succeeds."""
    call = OPENAI_COMPATIBLE[client](server)
    server.script(Reply(status), Reply(status), Reply(content='{"text": "pong"}'))
    with no_wait() as clock:
        run(decorated(call, "deepseek")())
    assert len(server.requests) == 3
    assert len(clock.waits) == 2


@pytest.mark.parametrize("client", OPENAI_COMPATIBLE)
def test_quota_429_costs_one_request_and_retry_after_is_a_floor(server, client):
    """insufficient_quota fails at once; a rate-limit 429's Retry-After: 2 is waited at least."""
    call = decorated(OPENAI_COMPATIBLE[client](server), "openai")
    server.script(QUOTA)
    with no_wait(), pytest.raises(Exception) as caught:  # noqa: PT011 - each client's own
        run(call())
    assert len(server.requests) == 1
    assert "insufficient_quota" in caught.value.__notes__[-1]
    server.reset()
    server.script(Reply(429, headers={"Retry-After": "2"}), Reply(content='{"text": "pong"}'))
    with no_wait() as clock:
        run(call())
    assert len(server.requests) == 2
    assert clock.waits[0] >= 2.0


@pytest.mark.parametrize("client", ANTHROPIC)
def test_anthropic_529_is_retried_and_seen_as_529(server, client):
    """An overload is retried, and the events report status 529 (not LiteLLM's 500)."""
    call = decorated(ANTHROPIC[client](server), "anthropic")
    server.script(Reply(529), Reply(content="pong"))
    with no_wait(), capture_events() as events:
        run(call())
    assert len(server.requests) == 2
    failed = [e for e in events if e["event"] == "llm_retry.attempt_failed"]
    assert [e["status"] for e in failed] == [529]


@pytest.mark.parametrize("client", ANTHROPIC)
def test_anthropic_spend_limit_429_costs_one_request(server, client):
    """A spend-limit 429 (error_code in the body) is a billing failure: one request."""
    call = decorated(ANTHROPIC[client](server), "anthropic")
    server.script(SPEND_LIMIT)
    with no_wait(), pytest.raises(Exception) as caught:  # noqa: PT011 - each client's own
        run(call())
    assert len(server.requests) == 1
    assert "enforced_spend_limit_reached" in caught.value.__notes__[-1]


# -- streams: retried before the first output, raised after it ---------------------------
def stream_openai(server: FaultServer) -> Call:
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    return lambda: client.chat.completions.create(model="m", messages=MESSAGES, stream=True)


def stream_responses(server: FaultServer) -> Call:
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    return lambda: client.responses.create(model="m", input="ping", stream=True)


def stream_anthropic(server: FaultServer) -> Call:
    client = anthropic.Anthropic(base_url=server.root_url, api_key="k", max_retries=0)
    return lambda: client.messages.create(model="m", max_tokens=9, messages=MESSAGES, stream=True)


def stream_anthropic_manager(server: FaultServer) -> Call:
    client = anthropic.Anthropic(base_url=server.root_url, api_key="k", max_retries=0)
    return lambda: client.messages.stream(model="m", max_tokens=9, messages=MESSAGES)


def stream_litellm(server: FaultServer) -> Call:
    litellm = need("litellm")
    litellm.suppress_debug_info = True
    return lambda: litellm.completion(
        model="deepseek/deepseek-chat",
        api_base=server.base_url,
        api_key="sk-test",
        messages=MESSAGES,
        stream=True,
        num_retries=0,
        max_retries=0,
    )


def stream_langchain_openai(server: FaultServer) -> Call:
    chat = need("langchain_openai").ChatOpenAI(
        base_url=server.base_url, api_key="sk-test", max_retries=0, model="m"
    )
    return lambda: chat.stream("ping")


def stream_langchain_anthropic(server: FaultServer) -> Call:
    chat = need("langchain_anthropic").ChatAnthropic(
        base_url=server.root_url, api_key="k", max_retries=0, model="m"
    )
    return lambda: chat.stream("ping")


STREAMS = {
    "openai": stream_openai,
    "openai-responses": stream_responses,
    "anthropic": stream_anthropic,
    "anthropic-messages.stream": stream_anthropic_manager,
    "litellm-deepseek": stream_litellm,
    "langchain-openai": stream_langchain_openai,
    "langchain-anthropic": stream_langchain_anthropic,
}


def consume(result: Any) -> list[Any]:
    if hasattr(result, "__enter__") and not hasattr(result, "__next__"):
        with result as stream:
            return list(stream)
    return list(result)


@pytest.mark.parametrize("client", STREAMS)
def test_stream_error_before_the_first_output_is_retried(server, client):
    """An error right after the opening events is retried: no stream=True needed."""
    call = STREAMS[client](server)

    @llm_retry(preset="openai")
    def ask() -> Any:
        return call()

    server.script(Reply(error_after=0), Reply(content="pong now"))
    with no_wait():
        items = consume(ask())
    assert len(server.requests) == 2
    assert items


@pytest.mark.parametrize("client", STREAMS)
def test_stream_error_after_the_first_output_is_raised(server, client):
    """Once output reached the caller, the error is raised with a note, not retried."""
    call = STREAMS[client](server)

    @llm_retry(preset="openai")
    def ask() -> Any:
        return call()

    server.script(Reply(error_after=1), Reply(content="pong now"))
    with no_wait(), pytest.raises(Exception) as caught:  # noqa: PT011 - each client's own
        consume(ask())
    assert len(server.requests) == 1
    assert "after 1" in caught.value.__notes__[-1] or "reached the caller" in str(
        caught.value.__notes__
    )
