"""Secrets never leave: every shape in `CORPUS` is redacted in events, logs, JSON logs and notes.

Each corpus entry is a text with one secret in it; the secret must not survive `redact`, nor
reach an event, a standard-library log record, a structlog JSON line or an exception note.
"""

from __future__ import annotations

import io
import json
import logging
import time

import httpx
import pytest
import requests
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_retry import Policy, Retry, fallback, llm_retry
from llm_retry.events import REDACTED, redact
from llm_retry.testing import Reply, capture_events, no_wait

GOOGLE = "AIzaSyA1234567890abcdefghijklmnopqrstuv"
CORPUS: dict[str, tuple[str, str]] = {
    # name: (text, the secret in it)
    "openai key": ("key sk-live1234567890abcdef rejected", "sk-live1234567890abcdef"),
    "openai project key": ("got sk-proj-AbC123_xyz-789", "sk-proj-AbC123_xyz-789"),
    "anthropic key": ("x sk-ant-api03-abcdef123456 y", "sk-ant-api03-abcdef123456"),
    "groq key": ("groq gsk_abcDEF1234567890xyz failed", "gsk_abcDEF1234567890xyz"),
    "xai key": ("xai-AbCdEf1234567890 is invalid", "xai-AbCdEf1234567890"),
    "hugging face token": ("token hf_AbCdEfGhIjKlMnOp123 expired", "hf_AbCdEfGhIjKlMnOp123"),
    "google key": (f"using {GOOGLE} now", GOOGLE),
    "authorization bearer": ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
    "authorization basic": ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
    "proxy-authorization": ("Proxy-Authorization: Basic cHJveHk6cHc=", "cHJveHk6cHc="),
    "bearer in prose": ("sent bearer tok3n.value to the API", "tok3n.value"),
    "x-api-key header": ("x-api-key: ant-key-987654", "ant-key-987654"),
    "azure api-key header": ("api-key=azure0123456789", "azure0123456789"),
    "x-goog-api-key header": ("x-goog-api-key: goog987654321", "goog987654321"),
    "apikey parameter": ("apikey=plain987654321", "plain987654321"),
    "python dict repr": ("{'api_key': 'repr-secret-42'}", "repr-secret-42"),
    "json api_key": ('{"api_key": "json-secret-42"}', "json-secret-42"),
    "json key": ('{"model": "m", "key": "json-key-42"}', "json-key-42"),
    "json token": ('{"token": "json-token-42"}', "json-token-42"),
    "json access_token": ('{"access_token": "ya29.json-access"}', "ya29.json-access"),
    "escaped json api_key": ('body: "{\\"api_key\\": \\"esc-secret-42\\"}"', "esc-secret-42"),
    "escaped json token": ('"{\\"token\\": \\"esc-token-42\\"}"', "esc-token-42"),
    "gemini ?key=": ("GET https://g.example/v1/models?key=gem-key-42 failed", "gem-key-42"),
    "&key=": ("https://g.example/v1?alt=sse&key=amp-key-42", "amp-key-42"),
    "?access_token=": ("https://x.example/cb?access_token=ya29.qs-token&x=1", "ya29.qs-token"),
    "?api_key=": ("https://x.example/v1?api_key=qs-api-key-42", "qs-api-key-42"),
    "&token=": ("https://x.example/v1?a=1&token=qs-token-42#frag", "qs-token-42"),
    "percent-encoded api_key": ("form=api_key%3Dpct-secret-42%26model%3Dm", "pct-secret-42"),
    "percent-encoded key": ("q=key%3Dpct-key-42", "pct-key-42"),
    "ocp-apim header": ("Ocp-Apim-Subscription-Key: apim0123456789", "apim0123456789"),
    "subscription-key parameter": ("?subscription-key=apimqs0123456", "apimqs0123456"),
    "proxy url password": ("via http://user:pr0xy-pass@proxy.local:3128", "pr0xy-pass"),
    "https url password": ("https://admin:url-pass-42@api.example/v1", "url-pass-42"),
    "api key with a space": ("Invalid API key abc123def456ghi", "abc123def456ghi"),
    "api key provided": ("Incorrect API key provided: zz9plural42.", "zz9plural42"),
    "password parameter": ("password=hunter2-42&user=x", "hunter2-42"),
    "client_secret": ("client_secret: cs-abcdef-123", "cs-abcdef-123"),
}
"""Secret shapes that must be redacted."""

KEPT = [
    "api key is missing",
    "missing key: model",
    "the monkey: ok",
    "https://api.example/v1/chat?stream=true",
    "task-force sk-a",
]
"""Texts without a secret, kept as they are."""


@pytest.mark.parametrize("shape", CORPUS)
def test_redact_removes_every_shape(shape):
    """The secret is gone and ``***`` stands in its place; the rest of the text stays."""
    text, secret = CORPUS[shape]
    clean = redact(text)
    assert secret not in clean
    assert REDACTED in clean
    assert len(clean) >= len(text) - len(secret)


@pytest.mark.parametrize("text", KEPT)
def test_redact_keeps_ordinary_text(text):
    assert redact(text) == text


def _failing(message: str) -> object:
    @llm_retry(policy=Policy(otherwise=Retry("flaky"), attempts=2))
    def call() -> None:
        raise RuntimeError(message)

    return call


def _all_secrets() -> list[str]:
    return [secret for _, secret in CORPUS.values()]


def test_no_secret_reaches_an_event_or_a_note():
    """Every shape in an error message: no event field and no note holds it."""
    message = " | ".join(text for text, _ in CORPUS.values())
    with no_wait(), capture_events() as events, pytest.raises(RuntimeError) as caught:
        _failing(message)()
    dumped = json.dumps(events) + "\n".join(caught.value.__notes__)
    for secret in _all_secrets():
        assert secret not in dumped
    assert events[0]["message"].count(REDACTED) >= 8  # cut at 300 characters


def test_a_secret_at_the_cut_is_redacted_whole():
    """The message is redacted before it is cut to 300 characters, so no key prefix survives."""
    with no_wait(), capture_events() as events, pytest.raises(RuntimeError):
        _failing("x" * 293 + " sk-abcdef123456")()
    assert "sk-abc" not in events[0]["message"]
    assert events[0]["message"].endswith(" ***")


@pytest.mark.parametrize("shape", CORPUS)
def test_each_shape_is_redacted_in_stdlib_logging(shape, caplog, unconfigured_structlog):
    """Without a structlog configuration the events go to ``logging``: redacted there too."""
    text, secret = CORPUS[shape]
    with caplog.at_level(logging.INFO, logger="llm_retry"), no_wait(), pytest.raises(RuntimeError):
        _failing(text)()
    assert caplog.records
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in json.dumps(getattr(record, "llm_retry", {}))


def test_each_shape_is_redacted_in_structlog_json(unconfigured_structlog):
    """Rendered by structlog's JSONRenderer, no line holds a secret."""
    out = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    for text, _ in CORPUS.values():
        with no_wait(), pytest.raises(RuntimeError):
            _failing(text)()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3 * len(CORPUS)
    for line in lines:
        json.loads(line)
    for secret in _all_secrets():
        assert secret not in out.getvalue()


def test_fallback_keys_are_not_in_notes_or_events():
    """``fallback(api_key=[...])``: the final note and the events name keys by position."""
    keys = ["sk-first-1234567890", "opaque-second-key-42"]

    @fallback(api_key=keys)
    @llm_retry(policy=Policy(otherwise=Retry("down"), attempts=1))
    def ask(*, api_key: str) -> None:
        raise RuntimeError("down")

    @fallback(key=["plain-a-42", "plain-b-42"])
    @llm_retry(policy=Policy(otherwise=Retry("down"), attempts=1))
    def ask_keyed(*, key: str) -> None:
        raise RuntimeError("down")

    with no_wait(), capture_events() as events:
        with pytest.raises(RuntimeError) as first:
            ask()
        with pytest.raises(RuntimeError) as second:
            ask_keyed()
    dumped = json.dumps(events) + "\n".join(first.value.__notes__ + second.value.__notes__)
    for secret in (*keys, "plain-a-42", "plain-b-42"):
        assert secret not in dumped
    hops = [e for e in events if e["event"] == "llm_retry.fallback"]
    assert [(e["failed"], e["next"]) for e in hops] == [
        ("api_key=*** (1 of 2)", "api_key=*** (2 of 2)"),
        ("key=*** (1 of 2)", "key=*** (2 of 2)"),
    ]
    assert "api_key=*** (2 of 2)" in first.value.__notes__[-1]


def test_urls_in_httpx_and_requests_errors_are_redacted(server):
    """Real httpx and requests errors quote the URL with its ``?key=``: the events do not."""
    server.default = Reply(503)
    url = f"{server.root_url}/v1/models?key=httpx-url-key-42&alt=json"
    refused = "http://127.0.0.1:9/v1/models?access_token=requests-url-token-42"

    @llm_retry(attempts=2)
    def with_httpx() -> None:
        httpx.get(url).raise_for_status()

    @llm_retry(attempts=2)
    def with_requests() -> None:
        requests.get(refused, timeout=2)

    with no_wait(), capture_events() as events:
        with pytest.raises(httpx.HTTPStatusError) as by_httpx:
            with_httpx()
        with pytest.raises(requests.ConnectionError):
            with_requests()
    assert "httpx-url-key-42" in str(by_httpx.value)  # the error itself is the user's
    messages = [e["message"] for e in events if e["event"] == "llm_retry.attempt_failed"]
    assert any("key=***" in m for m in messages)
    assert any("access_token=***" in m for m in messages)
    assert not any("url-key-42" in m or "url-token-42" in m for m in messages)


HOSTILE = [
    "a" * 200_000,
    "sk-" * 60_000,
    "api_key" * 30_000,
    "api_key " + " " * 200_000,
    "api key " * 24_000,
    "api key " + " " * 200_000 + "x",
    '"key"' * 40_000,
    '"key": "' + "x" * 200_000,
    "?key=" * 40_000,
    "key%3D" * 32_000,
    "://" * 60_000,
    "://a:" + "b" * 200_000,
    "http://u:" * 20_000,
    "bearer " * 28_000,
    "Authorization: " * 12_000,
    '\\"' * 100_000,
]


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_redaction_is_linear_on_hostile_input(index):
    """200 KB of adversarial text is redacted in a fraction of a second (about 0.1 s here; a
    quadratic pattern would take minutes), never backtracked into."""
    text = HOSTILE[index]
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 1.0


@settings(max_examples=100, deadline=None)
@given(
    before=st.text(max_size=40),
    shape=st.sampled_from(sorted(CORPUS)),
    after=st.text(alphabet=" .,;)\n", max_size=5),
)
def test_shapes_are_redacted_in_any_surrounding_text(before, shape, after):
    """The corpus entry is redacted whatever comes before it and whichever delimiter after."""
    text, secret = CORPUS[shape]
    assert secret not in redact(f"{before} {text}{after}")
