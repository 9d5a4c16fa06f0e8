"""FaultServer against the real openai and anthropic SDK clients."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from llm_retry.testing import FaultServer, RecordedRequest, Reply

MESSAGES: Any = [{"role": "user", "content": "Say hi."}]


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FaultServer]:
    """One FaultServer for the module: starting clients and servers per test is slow."""
    with FaultServer() as running:
        yield running


@pytest.fixture
def server(shared_server: FaultServer) -> FaultServer:
    """The shared FaultServer, with an empty script and no records."""
    shared_server.reset()
    return shared_server


@pytest.fixture(scope="module")
def oai(shared_server: FaultServer) -> Iterator[openai.OpenAI]:
    """A real OpenAI client that talks to the shared server and never retries."""
    with openai.OpenAI(
        base_url=shared_server.base_url, api_key="sk-test", max_retries=0, timeout=5.0
    ) as client:
        yield client


@pytest.fixture(scope="module")
def claude(shared_server: FaultServer) -> Iterator[anthropic.Anthropic]:
    """A real Anthropic client that talks to the shared server and never retries."""
    with anthropic.Anthropic(
        base_url=shared_server.root_url, api_key="sk-ant-test", max_retries=0, timeout=5.0
    ) as client:
        yield client


def chat(client: openai.OpenAI) -> openai.types.chat.ChatCompletion:
    """Send one chat completion request."""
    return client.chat.completions.create(model="gpt-test", messages=MESSAGES)


def message(client: anthropic.Anthropic) -> anthropic.types.Message:
    """Send one Messages API request."""
    return client.messages.create(model="claude-test", max_tokens=16, messages=MESSAGES)


def raw_request(
    server: FaultServer, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send one request with http.client and return status, lower-cased headers and body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


# --- success bodies ------------------------------------------------------------------


def test_openai_success_parses_into_chat_completion(
    server: FaultServer, oai: openai.OpenAI
) -> None:
    """A 200 on the OpenAI path is a valid ChatCompletion echoing the requested model."""
    completion = chat(oai)
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-test"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_openai_success_content_is_configurable(server: FaultServer, oai: openai.OpenAI) -> None:
    """`Reply(content=...)` sets the assistant text of an OpenAI success body."""
    server.script(Reply(200, content="hello"))
    assert chat(oai).choices[0].message.content == "hello"


def test_anthropic_success_parses_into_message(
    server: FaultServer, claude: anthropic.Anthropic
) -> None:
    """A 200 on /v1/messages is a valid Anthropic Message with the scripted text."""
    server.script(Reply(200, content="bonjour"))
    reply = message(claude)
    assert reply.type == "message"
    assert reply.role == "assistant"
    assert reply.model == "claude-test"
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "bonjour"
    assert reply.stop_reason == "end_turn"
    assert reply.usage.input_tokens > 0
    assert reply.usage.output_tokens > 0


def test_ids_are_unique_per_request(server: FaultServer, oai: openai.OpenAI) -> None:
    """Automatic success bodies carry a fresh id for every request."""
    ids = {chat(oai).id for _ in range(3)}
    assert len(ids) == 3


# --- OpenAI errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class", "code"),
    [
        (400, openai.BadRequestError, None),
        (401, openai.AuthenticationError, "invalid_api_key"),
        (402, openai.APIStatusError, "invalid_request_error"),
        (404, openai.NotFoundError, "model_not_found"),
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (500, openai.InternalServerError, None),
        (503, openai.InternalServerError, None),
        (529, openai.InternalServerError, None),
    ],
)
def test_openai_status_raises_sdk_class(
    server: FaultServer,
    status: int,
    error_class: type[openai.APIStatusError],
    code: str | None,
    oai: openai.OpenAI,
) -> None:
    """Each scripted status makes the OpenAI SDK raise its class, with status and code."""
    server.script(Reply(status))
    with pytest.raises(openai.APIStatusError) as caught:
        chat(oai)
    assert type(caught.value) is error_class
    assert caught.value.status_code == status
    assert caught.value.code == code


def test_openai_402_is_insufficient_balance(server: FaultServer, oai: openai.OpenAI) -> None:
    """A 402 gives a bare APIStatusError whose message says "Insufficient Balance"."""
    server.script(Reply(402))
    with pytest.raises(openai.APIStatusError) as caught:
        chat(oai)
    assert "Insufficient Balance" in str(caught.value)


def test_openai_429_has_rate_limit_type_and_headers(
    server: FaultServer, oai: openai.OpenAI
) -> None:
    """A scripted Retry-After header and the request id reach the RateLimitError."""
    server.script(Reply(429, headers={"Retry-After": "2"}))
    with pytest.raises(openai.RateLimitError) as caught:
        chat(oai)
    error = caught.value
    assert error.type == "rate_limit_error"
    assert error.response.headers["retry-after"] == "2"
    assert error.request_id == error.response.headers["x-request-id"]


def test_openai_error_fields_are_configurable(server: FaultServer, oai: openai.OpenAI) -> None:
    """`code`, `type` and `message` fill the automatic OpenAI error body."""
    server.script(
        Reply(429, code="insufficient_quota", type="insufficient_quota", message="No quota.")
    )
    with pytest.raises(openai.RateLimitError) as caught:
        chat(oai)
    assert caught.value.code == "insufficient_quota"
    assert caught.value.type == "insufficient_quota"
    assert caught.value.message.startswith("Error code: 429 - ")
    assert "No quota." in caught.value.message
    assert caught.value.body == {
        "message": "No quota.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }


def test_explicit_text_body_is_sent_as_is(server: FaultServer, oai: openai.OpenAI) -> None:
    """A str body (e.g. a proxy's HTML page) reaches the SDK unchanged, as text."""
    page = "<html><body>502 Bad Gateway</body></html>"
    server.script(Reply(502, body=page))
    with pytest.raises(openai.InternalServerError) as caught:
        chat(oai)
    assert caught.value.body == page
    assert caught.value.response.headers["content-type"].startswith("text/plain")


def test_explicit_dict_body_is_json(server: FaultServer, oai: openai.OpenAI) -> None:
    """A dict body is sent as JSON instead of the automatic body."""
    server.script(Reply(400, body={"error": {"message": "custom", "code": "c42"}}))
    with pytest.raises(openai.BadRequestError) as caught:
        chat(oai)
    assert caught.value.code == "c42"
    assert caught.value.response.headers["content-type"] == "application/json"


# --- Anthropic errors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (402, anthropic.APIStatusError, "billing_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_status_raises_sdk_class(
    server: FaultServer,
    status: int,
    error_class: type[anthropic.APIStatusError],
    error_type: str,
    claude: anthropic.Anthropic,
) -> None:
    """Each scripted status makes the Anthropic SDK raise its class, with status and type."""
    server.script(Reply(status))
    with pytest.raises(anthropic.APIStatusError) as caught:
        message(claude)
    assert isinstance(caught.value, error_class)
    assert caught.value.status_code == status
    assert caught.value.type == error_type


def test_anthropic_529_is_overloaded_with_whole_body(
    server: FaultServer, claude: anthropic.Anthropic
) -> None:
    """A 529 gives OverloadedError with the whole JSON body, headers and request id."""
    server.script(Reply(529, headers={"retry-after": "3"}))
    with pytest.raises(anthropic.OverloadedError) as caught:
        message(claude)
    error = caught.value
    assert error.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert error.response.headers["retry-after"] == "3"
    assert error.response.reason_phrase == "Overloaded"
    assert error.request_id == error.response.headers["request-id"]


def test_anthropic_error_fields_are_configurable(
    server: FaultServer, claude: anthropic.Anthropic
) -> None:
    """`type` and `message` fill the automatic Anthropic error body."""
    server.script(Reply(400, type="invalid_request_error", message="prompt is too long"))
    with pytest.raises(anthropic.BadRequestError) as caught:
        message(claude)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long"},
    }


# --- recording ---------------------------------------------------------------------


def test_requests_are_recorded(server: FaultServer, oai: openai.OpenAI) -> None:
    """Each request is recorded with method, path, lower-cased headers, JSON body and reply."""
    first, second = Reply(429), Reply(200)
    server.script(first, second)
    before = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        chat(oai)
    chat(oai)
    records = server.requests
    assert [r.reply for r in records] == [first, second]
    assert all(isinstance(r, RecordedRequest) for r in records)
    record = records[0]
    assert record.method == "POST"
    assert record.path == "/v1/chat/completions"
    assert record.query == ""
    assert record.headers["authorization"] == "Bearer sk-test"
    assert record.headers["content-type"] == "application/json"
    assert record.body == {"model": "gpt-test", "messages": MESSAGES}
    assert json.loads(record.raw_body) == record.body
    assert before <= records[0].at <= records[1].at <= time.monotonic()


def test_anthropic_requests_are_recorded(server: FaultServer, claude: anthropic.Anthropic) -> None:
    """An Anthropic request is recorded on /v1/messages with its version header and body."""
    message(claude)
    (record,) = server.requests
    assert record.path == "/v1/messages"
    assert "anthropic-version" in record.headers
    assert any("sk-ant-test" in value for value in record.headers.values())
    assert record.body == {"model": "claude-test", "max_tokens": 16, "messages": MESSAGES}


def test_raw_request_records_query_and_non_json_body(server: FaultServer) -> None:
    """A non-JSON body is recorded raw (body None) and the query is split off the path."""
    status, _, _ = raw_request(server, "PUT", "/v1/files?purpose=test", body=b"not json")
    assert status == 200
    (record,) = server.requests
    assert (record.method, record.path, record.query) == ("PUT", "/v1/files", "purpose=test")
    assert record.body is None
    assert record.raw_body == b"not json"


def test_requests_returns_a_snapshot(server: FaultServer) -> None:
    """Mutating the list returned by `requests` does not change the server's records."""
    raw_request(server, "GET", "/v1/models")
    server.requests.clear()
    assert len(server.requests) == 1


# --- script, default, reset --------------------------------------------------------


def test_default_reply_when_script_is_empty(server: FaultServer, oai: openai.OpenAI) -> None:
    """Once the script is used up, every request gets `server.default`."""
    server.script(Reply(503))
    server.default = Reply(200, content="fallback")
    with pytest.raises(openai.InternalServerError):
        chat(oai)
    assert chat(oai).choices[0].message.content == "fallback"
    assert chat(oai).choices[0].message.content == "fallback"
    assert [r.reply.status for r in server.requests] == [503, 200, 200]


def test_default_reply_from_constructor(claude: anthropic.Anthropic) -> None:
    """`FaultServer(default=...)` answers every unscripted request with that reply."""
    with FaultServer(default=Reply(529)) as server:
        client = claude.with_options(base_url=server.root_url)
        with pytest.raises(anthropic.OverloadedError):
            message(client)
        assert server.default == Reply(529)


def test_script_is_fifo_and_accepts_ints(server: FaultServer) -> None:
    """Scripted replies are consumed in order, one per request; ints stand for statuses."""
    server.script(429, Reply(500))
    server.script(404)
    assert server.pending == 3
    statuses = [raw_request(server, "POST", "/v1/chat/completions", b"{}")[0] for _ in range(4)]
    assert statuses == [429, 500, 404, 200]
    assert server.pending == 0


def test_reset_clears_script_records_and_default(server: FaultServer) -> None:
    """`reset()` forgets the script and the records and restores the initial default."""
    server.script(Reply(429), Reply(429))
    server.default = Reply(500)
    raw_request(server, "POST", "/v1/chat/completions", b"{}")
    server.reset()
    assert server.requests == []
    assert server.pending == 0
    assert server.default == Reply(200)
    assert raw_request(server, "POST", "/v1/chat/completions", b"{}")[0] == 200


# --- faults: delay, drop -----------------------------------------------------------


def test_delay_makes_openai_time_out(server: FaultServer, oai: openai.OpenAI) -> None:
    """A reply delayed past the client's timeout makes the OpenAI SDK raise APITimeoutError."""
    server.script(Reply(200, delay=0.3))
    with pytest.raises(openai.APITimeoutError):
        chat(oai.with_options(timeout=0.05))


def test_delay_makes_anthropic_time_out(server: FaultServer, claude: anthropic.Anthropic) -> None:
    """A reply delayed past the client's timeout makes the Anthropic SDK raise APITimeoutError."""
    server.script(Reply.slow(0.3))
    with pytest.raises(anthropic.APITimeoutError):
        message(claude.with_options(timeout=0.05))


def test_short_delay_still_answers(server: FaultServer, oai: openai.OpenAI) -> None:
    """A delay shorter than the timeout only slows the reply down."""
    server.script(Reply(200, delay=0.05, content="late"))
    started = time.monotonic()
    assert chat(oai).choices[0].message.content == "late"
    assert time.monotonic() - started >= 0.04


def test_drop_gives_openai_connection_error(server: FaultServer, oai: openai.OpenAI) -> None:
    """A dropped connection makes the OpenAI SDK raise APIConnectionError (not a timeout)."""
    server.script(Reply(drop=True))
    with pytest.raises(openai.APIConnectionError) as caught:
        chat(oai)
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert len(server.requests) == 1


def test_drop_gives_anthropic_connection_error(
    server: FaultServer, claude: anthropic.Anthropic
) -> None:
    """A dropped connection makes the Anthropic SDK raise APIConnectionError, then it recovers."""
    server.script(Reply.drop_connection())
    with pytest.raises(anthropic.APIConnectionError) as caught:
        message(claude)
    assert not isinstance(caught.value, anthropic.APITimeoutError)
    assert message(claude).content[0].type == "text"


def test_close_interrupts_delayed_replies() -> None:
    """Closing the server drops connections waiting on a long delay instead of waiting."""
    server = FaultServer(default=Reply(200, delay=30))
    with server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with sock:
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            while not server.requests:
                time.sleep(0.005)
            started = time.monotonic()
            server.close()
            assert time.monotonic() - started < 2
            assert sock.recv(1024) == b""


# --- concurrency -------------------------------------------------------------------


def test_concurrent_threads_are_all_recorded(server: FaultServer, oai: openai.OpenAI) -> None:
    """Twenty threads sharing one client each consume exactly one reply and are recorded."""
    server.script(*[Reply(429)] * 10)
    outcomes: list[str] = []
    lock = threading.Lock()

    def call(client: openai.OpenAI) -> None:
        try:
            chat(client)
            outcome = "ok"
        except openai.RateLimitError:
            outcome = "429"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=call, args=(oai,)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["429"] * 10 + ["ok"] * 10
    records = server.requests
    assert len(records) == 20
    assert [r.reply.status for r in records] == [429] * 10 + [200] * 10
    assert [r.at for r in records] == sorted(r.at for r in records)


def test_async_openai_concurrent_tasks(server: FaultServer) -> None:
    """Twenty asyncio tasks through AsyncOpenAI are all answered and recorded."""
    server.script(Reply(503), Reply(503))

    async def main() -> list[object]:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-test", max_retries=0
        ) as client:
            calls = [
                client.chat.completions.create(model="gpt-test", messages=MESSAGES)
                for _ in range(20)
            ]
            return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    errors = [r for r in results if isinstance(r, openai.InternalServerError)]
    assert len(errors) == 2
    assert len(server.requests) == 20


def test_async_anthropic_error_and_success(server: FaultServer) -> None:
    """AsyncAnthropic sees a scripted 529 as OverloadedError, then a valid Message."""
    server.script(Reply(529), Reply(200, content="async hi"))

    async def main() -> str:
        async with anthropic.AsyncAnthropic(
            base_url=server.root_url, api_key="sk-ant-test", max_retries=0
        ) as client:
            with pytest.raises(anthropic.OverloadedError):
                await client.messages.create(model="c", max_tokens=8, messages=MESSAGES)
            reply = await client.messages.create(model="c", max_tokens=8, messages=MESSAGES)
            block = reply.content[0]
            assert block.type == "text"
            return block.text

    assert asyncio.run(main()) == "async hi"


def test_async_timeout(server: FaultServer) -> None:
    """A delayed reply makes AsyncOpenAI raise APITimeoutError."""
    server.script(Reply(200, delay=0.3))

    async def main() -> None:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=0.05
        ) as client:
            with pytest.raises(openai.APITimeoutError):
                await client.chat.completions.create(model="m", messages=MESSAGES)

    asyncio.run(main())


# --- HTTP details, lifecycle, Reply ------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(server: FaultServer) -> None:
    """Several requests on one HTTP/1.1 connection are each answered with Content-Length."""
    server.script(Reply(429), Reply(200))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        statuses = []
        for _ in range(3):
            connection.request("POST", "/chat/completions", body=b"{}")
            response = connection.getresponse()
            assert int(response.headers["Content-Length"]) == len(response.read())
            statuses.append(response.status)
    finally:
        connection.close()
    assert statuses == [429, 200, 200]


def test_chunked_request_body_is_read(server: FaultServer) -> None:
    """A chunked request body is reassembled and parsed as JSON."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request(
            "POST",
            "/v1/chat/completions",
            body=iter([b'{"model": ', b'"chunky"}']),
            encode_chunked=True,
        )
        payload = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    assert payload["model"] == "chunky"
    assert server.requests[0].body == {"model": "chunky"}


def test_no_content_reply_has_no_body(server: FaultServer) -> None:
    """A 204 reply is sent without a body or content headers."""
    server.script(Reply(204))
    status, headers, body = raw_request(server, "DELETE", "/v1/files/f1")
    assert (status, body) == (204, b"")
    assert "content-type" not in headers


def test_urls_and_lifecycle() -> None:
    """URLs use the bound port; a stopped server refuses to give them; close is idempotent."""
    server = FaultServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    with server:
        assert server.root_url == f"http://127.0.0.1:{server.port}"
        assert server.base_url == f"{server.root_url}/v1"
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    server.close()


def test_reply_helpers_and_validation() -> None:
    """Reply's helpers build the expected replies and bad values are rejected."""
    assert Reply.rate_limited(2).headers == {"Retry-After": "2"}
    assert Reply.rate_limited(1.5).headers == {"Retry-After": "1.5"}
    assert Reply.rate_limited() == Reply(429)
    assert Reply.drop_connection(delay=0.1) == Reply(drop=True, delay=0.1)
    assert Reply.slow(1.0, 503) == Reply(503, delay=1.0)
    assert len({Reply(429, headers={"a": "b"}), Reply(429)}) == 2
    with pytest.raises(ValueError, match="delay"):
        Reply(delay=-1)
    with pytest.raises(ValueError, match="status"):
        Reply(42)
