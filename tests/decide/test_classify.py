"""Classification: adapters read status, codes, headers and transport kind from every library."""

from __future__ import annotations

import asyncio

import anthropic
import httpx
import openai
import pytest
import requests

from llm_retry import Fail, Policy, Retry
from llm_retry.decide.adapters import error_info
from llm_retry.decide.classify import classify
from llm_retry.presets import load_preset
from llm_retry.testing import (
    anthropic_connection_error,
    anthropic_error,
    anthropic_timeout,
    openai_connection_error,
    openai_error,
    openai_timeout,
)

try:  # the HTTP library the SDKs are built on: httpx2 for openai>=3 and anthropic>=1
    import httpx2
except ImportError:  # older SDKs use httpx
    httpx2 = httpx

NOW = 1_700_000_000.0


def test_openai_402_is_a_bare_api_status_error_with_status_and_code():
    """openai raises a bare APIStatusError for 402; status and body code are still read."""
    error = openai_error(402, code="insufficient_balance", message="Insufficient Balance")
    assert type(error) is openai.APIStatusError
    info = error_info(error)
    assert info.status == 402
    assert "insufficient_balance" in info.codes
    decision = classify(error, load_preset("deepseek"), now=NOW)
    assert (decision.action, decision.matched) == ("fail", "status 402")
    assert decision.error == "openai.APIStatusError"


def test_openai_headers_and_request_id_are_read():
    """Retry-After and x-request-id come from the SDK exception's response."""
    error = openai_error(429, headers={"retry-after": "20", "x-request-id": "req_1"})
    decision = classify(error, load_preset("openai"), now=NOW)
    assert decision.hint.seconds == 20.0
    assert decision.request_id == "req_1"


def test_anthropic_529_reads_type_from_the_whole_json_body():
    """anthropic's OverloadedError carries .type; the code rule matches it."""
    error = anthropic_error(529, headers={"request-id": "req_a"})
    assert isinstance(error, anthropic.OverloadedError)
    decision = classify(error, load_preset("anthropic"), now=NOW)
    assert (decision.action, decision.matched, decision.status) == (
        "retry",
        "code overloaded_error",
        529,
    )
    assert decision.request_id == "req_a"


def test_anthropic_mid_stream_error_has_status_200_and_is_classified_by_type():
    """A mid-stream `event: error` (APIStatusError, status 200) is classified by its type."""
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    response = httpx2.Response(200, request=httpx2.Request("POST", "https://x/v1/messages"))
    error = anthropic.APIStatusError("Overloaded", response=response, body=body)
    decision = classify(error, load_preset("anthropic"), now=NOW)
    assert (decision.action, decision.matched, decision.status) == (
        "retry",
        "code overloaded_error",
        200,
    )


def test_openai_mid_stream_error_without_status_uses_its_code():
    """openai's in-stream APIError has a code and no status; the code decides."""
    request = httpx2.Request("POST", "https://x/v1/chat/completions")
    error = openai.APIError("quota", request, body={"code": "insufficient_quota", "type": "x"})
    decision = classify(error, load_preset("openai"), now=NOW)
    assert (decision.action, decision.matched, decision.status) == (
        "fail",
        "code insufficient_quota",
        None,
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (openai_timeout(), "timeout"),
        (openai_connection_error(), "connection"),
        (anthropic_timeout(), "timeout"),
        (anthropic_connection_error(), "connection"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectError("refused"), "connection"),
        (httpx2.ReadError("dropped"), "connection"),
        (httpx2.RemoteProtocolError("eof"), "connection"),
        (requests.Timeout("slow"), "timeout"),
        (requests.ConnectionError("refused"), "connection"),
        (TimeoutError(), "timeout"),
        (asyncio.TimeoutError(), "timeout"),
        (ConnectionResetError(), "connection"),
    ],
)
def test_transport_failures_from_every_library(error, kind):
    """Timeouts come before connection errors (openai's timeout subclasses its connection error)."""
    assert error_info(error).transport == kind
    decision = classify(error, load_preset("generic"), now=NOW)
    assert (decision.action, decision.matched) == ("retry", f"transport {kind}")


def test_httpx_status_error_reads_status_headers_and_json_code():
    """httpx's HTTPStatusError gives status, headers and the body's error code."""
    response = httpx.Response(
        429,
        request=httpx.Request("POST", "https://x"),
        headers={"Retry-After": "3"},
        json={"error": {"code": "insufficient_quota", "message": "no"}},
    )
    error = httpx.HTTPStatusError("429", request=response.request, response=response)
    info = error_info(error)
    assert (info.status, info.code, info.headers["retry-after"]) == (429, "insufficient_quota", "3")
    assert classify(error, load_preset("openai"), now=NOW).action == "fail"


def test_requests_http_error_reads_the_response():
    """requests' HTTPError exposes status and headers through .response."""
    response = requests.Response()
    response.status_code = 503
    response.headers["Retry-After"] = "4"
    response._content = b'{"error": {"type": "server_overloaded"}}'
    error = requests.HTTPError("503", response=response)
    decision = classify(error, load_preset("generic"), now=NOW)
    assert (decision.status, decision.code, decision.hint.seconds) == (
        503,
        "server_overloaded",
        4.0,
    )


def test_non_json_or_streamed_bodies_give_no_codes():
    """A body that is not JSON, or not read yet, is skipped without error."""
    text = httpx.Response(500, request=httpx.Request("GET", "https://x"), text="<html>")
    assert error_info(httpx.HTTPStatusError("x", request=text.request, response=text)).codes == ()
    stream = httpx.Response(
        500, request=httpx.Request("GET", "https://x"), stream=httpx.ByteStream(b"{}")
    )
    assert (
        error_info(httpx.HTTPStatusError("x", request=stream.request, response=stream)).status
        == 500
    )


def test_any_exception_with_status_code_or_response():
    """Duck typing: status_code on the exception or on its response is enough."""

    class Custom(Exception):
        status_code = 503

    class Resp:
        status_code = 429
        headers = {"retry-after": "2"}  # noqa: RUF012 - a fake response, never mutated

    class Wrapped(Exception):
        response = Resp()

    assert error_info(Custom()).status == 503
    assert (error_info(Wrapped()).status, error_info(Wrapped()).headers) == (429, Resp.headers)
    assert error_info(ValueError()).status is None


def test_wrapped_sdk_errors_are_classified_by_their_cause():
    """An application error raised `from` an SDK error is classified as that SDK error."""

    class AppError(Exception):
        pass

    try:
        try:
            raise openai_error(402)
        except openai.APIStatusError as sdk:
            raise AppError("ask failed") from sdk
    except AppError as app:
        decision = classify(app, load_preset("deepseek"), now=NOW)
    assert (decision.status, decision.action, decision.error) == (
        402,
        "fail",
        "test_classify.AppError",
    )


def test_codes_beat_statuses_and_status_beats_class():
    """The precedence is code, exact status, status class, transport, exception, otherwise."""
    policy = Policy(
        statuses={429: Retry("rl"), "4xx": Fail("client")},
        codes={"insufficient_quota": Fail("quota")},
        exceptions={KeyError: Retry("key")},
        otherwise=Fail("other"),
    )
    assert classify(openai_error(429, code="insufficient_quota"), policy, now=NOW).matched == (
        "code insufficient_quota"
    )
    assert (
        classify(openai_error(429, code="rate_limit_exceeded"), policy, now=NOW).matched
        == "status 429"
    )
    assert classify(openai_error(404), policy, now=NOW).matched == "status class 4xx"
    assert classify(KeyError("k"), policy, now=NOW).matched == "exception KeyError"
    assert classify(ValueError(), policy, now=NOW).matched == "otherwise"


def test_results_and_base_exceptions():
    """A returned value is a success; BaseExceptions are never retried."""
    assert classify("a result", Policy(), now=NOW).action == "success"
    decision = classify(KeyboardInterrupt(), Policy(otherwise=Retry()), now=NOW)
    assert (decision.action, decision.matched) == ("fail", "never retried")


def test_fail_decisions_skip_header_parsing():
    """A Fail never reads hints: a garbage Retry-After on a 402 is not even reported."""
    error = openai_error(402, headers={"retry-after": "garbage"})
    decision = classify(error, load_preset("deepseek"), now=NOW)
    assert decision.hint.ignored == ()
    assert "top up" in decision.describe()
