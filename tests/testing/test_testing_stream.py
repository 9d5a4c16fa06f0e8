"""The fault server's streamed answers, read by the real SDKs' ``stream=True``."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from llm_retry.testing import Reply
from llm_retry.testing._sse import split_content

MESSAGES = [{"role": "user", "content": "ping"}]
try:  # openai >= 3 and anthropic >= 1 are built on httpx2; older releases on httpx
    import httpx2

    TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
        httpx.TransportError,
        httpx2.TransportError,
    )
except ImportError:  # pragma: no cover - the old-SDK environment
    TRANSPORT_ERRORS = (httpx.TransportError,)


def openai_text(client, into=None):
    """Stream a chat completion and return its content pieces (also put in ``into``)."""
    pieces = [] if into is None else into
    finishes = []
    with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
        for chunk in stream:
            pieces.append(chunk.choices[0].delta.content)
            finishes.append(chunk.choices[0].finish_reason)
    return pieces, finishes


def anthropic_events(client, into=None):
    """Stream a message and return the event types (also put in ``into``) and text deltas."""
    types = [] if into is None else into
    texts = []
    with client.messages.create(model="m", max_tokens=9, messages=MESSAGES, stream=True) as s:
        for event in s:
            types.append(event.type)
            if event.type == "content_block_delta":
                texts.append(event.delta.text)
    return types, texts


def test_split_content_keeps_spaces():
    """Content is split into words that keep their trailing space and join back whole."""
    assert split_content("Hello big  world") == ("Hello ", "big  ", "world")
    assert "".join(split_content(" a b ")) == " a b "
    assert split_content("") == ()


def test_openai_stream_has_role_chunk_content_and_finish(server, gpt):
    """An OpenAI stream opens with the role, streams the words, then finishes with stop."""
    server.script(Reply(content="Hello big world"))
    pieces, finishes = openai_text(gpt)
    assert pieces == ["", "Hello ", "big ", "world", None]
    assert finishes == [None, None, None, None, "stop"]
    assert server.requests[0].body["stream"] is True


def test_explicit_chunks_and_finish_reason(server, gpt):
    """chunks= sets the pieces exactly and finish_reason= the last chunk's reason."""
    server.script(Reply(chunks=["{", '"a"', ": 1"], finish_reason="length"))
    pieces, finishes = openai_text(gpt)
    assert pieces[1:4] == ["{", '"a"', ": 1"]
    assert finishes[-1] == "length"


def test_openai_error_event_after_k_chunks(server, gpt):
    """error_after=2 sends two pieces, then an error the SDK raises as a status-less APIError."""
    server.script(Reply(content="a b c d", error_after=2, type="server_error"))
    seen = []
    with pytest.raises(openai.APIError) as caught:
        openai_text(gpt, into=seen)
    assert seen == ["", "a ", "b "]
    assert caught.value.type == "server_error"
    assert not hasattr(caught.value, "status_code")


def test_anthropic_stream_events_in_order(server, claude):
    """An Anthropic stream has the documented event sequence (pings are skipped by the SDK)."""
    server.script(Reply(content="x y"))
    types, texts = anthropic_events(claude)
    assert types == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert texts == ["x ", "y"]


def test_anthropic_error_event_right_after_the_opening(server, claude):
    """error_after=0 sends the opening events then an overloaded_error with status 200."""
    server.script(Reply(error_after=0))
    seen = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        anthropic_events(claude, into=seen)
    assert seen == ["message_start", "content_block_start"]
    assert (caught.value.status_code, caught.value.type) == (200, "overloaded_error")


def test_anthropic_stop_reason_for_a_plain_reply(server, claude):
    """finish_reason= sets anthropic's stop_reason on a non-streamed message."""
    server.script(Reply(content="{", finish_reason="max_tokens"))
    message = claude.messages.create(model="m", max_tokens=1, messages=MESSAGES)
    assert message.stop_reason == "max_tokens"


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_drop_after_closes_the_connection_mid_body(server, gpt, claude, sdk):
    """drop_after=1 ends the body after one piece: the SDK sees a broken connection."""
    server.script(Reply(content="a b c", drop_after=1))
    errors = (openai.APIConnectionError, *TRANSPORT_ERRORS)
    read, client = (openai_text, gpt) if sdk == "openai" else (anthropic_events, claude)
    with pytest.raises(errors):
        read(client)


def test_a_request_without_stream_gets_a_plain_body(server, gpt):
    """Stream faults apply only to streamed answers: a plain request gets the whole body."""
    server.script(Reply(content="whole", error_after=0))
    completion = gpt.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == "whole"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"error_after": -1}, "error_after must be a whole number >= 0"),
        ({"drop_after": True}, "drop_after must be a whole number >= 0"),
        ({"error_after": 1, "drop_after": 1}, "not both"),
    ],
)
def test_bad_stream_faults_are_rejected(kwargs, message):
    """Negative, boolean or conflicting stream faults are rejected when the reply is built."""
    with pytest.raises(ValueError, match=message):
        Reply(**kwargs)
