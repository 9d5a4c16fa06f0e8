"""Streams detected, not declared: what a plain decorated function returns decides."""

from __future__ import annotations

import asyncio

import anthropic
import openai
import pytest

from llm_retry import llm_retry
from llm_retry.run import streams
from llm_retry.testing import Reply, no_wait

MESSAGES = [{"role": "user", "content": "ping"}]


def test_a_returned_openai_stream_is_retried_before_its_first_output(server, gpt):
    """No stream=True: an error event right after the role chunk is retried."""

    @llm_retry(preset="openai")
    def ask():
        return gpt.chat.completions.create(model="m", messages=MESSAGES, stream=True)

    server.script(Reply(error_after=0), Reply(content="pong now"))
    with no_wait():
        stream = ask()
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "pong now"
    assert isinstance(stream, openai.Stream)
    assert len(server.requests) == 2


def test_stream_false_turns_detection_off(server, gpt):
    """With stream=False the SDK stream comes back as is, and its error is the caller's."""

    @llm_retry(preset="openai", stream=False)
    def ask():
        return gpt.chat.completions.create(model="m", messages=MESSAGES, stream=True)

    server.script(Reply(error_after=0), Reply(content="pong"))
    with no_wait(), pytest.raises(openai.APIError):
        list(ask())
    assert len(server.requests) == 1


def test_the_messages_stream_manager_opens_under_the_retry_loop(server, claude):
    """client.messages.stream(): the with block retries an overload before the first text,
    and text_stream still has the first piece."""

    @llm_retry(preset="anthropic")
    def ask():
        return claude.messages.stream(model="m", max_tokens=9, messages=MESSAGES)

    server.script(Reply(error_after=0), Reply(content="pong now there"))
    with no_wait(), ask() as stream:
        assert list(stream.text_stream) == ["pong ", "now ", "there"]
        assert stream.get_final_message().content[0].text == "pong now there"
    assert len(server.requests) == 2


def test_an_async_manager_from_a_plain_function(server):
    """AsyncAnthropic().messages.stream() returned by a plain def works with async with."""

    async def main():
        async with anthropic.AsyncAnthropic(
            base_url=server.root_url, api_key="k", max_retries=0
        ) as client:

            @llm_retry(preset="anthropic")
            def ask():
                return client.messages.stream(model="m", max_tokens=9, messages=MESSAGES)

            async with ask() as stream:
                return [text async for text in stream.text_stream]

    server.script(Reply(error_after=0), Reply(content="pong now"))
    with no_wait():
        assert asyncio.run(main()) == ["pong ", "now"]
    assert len(server.requests) == 2


def test_a_returned_generator_is_retried_before_its_first_item():
    """A plain function returning a generator object gets the generator protection."""
    calls = []

    def source():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("dropped")
        yield "a"
        yield "b"

    @llm_retry(preset="generic")
    def ask():
        return source()

    with no_wait():
        assert list(ask()) == ["a", "b"]
    assert len(calls) == 2


def test_plain_values_are_remembered_by_type():
    """The check is one lookup per call: a type is worked out once."""

    @llm_retry(preset="generic")
    def ask(value):
        return value

    class Answer:
        pass

    answer = Answer()
    assert ask(answer) is answer
    assert streams.KINDS[Answer] is None
    assert Answer in streams.PLAIN
    assert streams.stream_kind(iter([])) is None  # a list iterator is a value, not a stream
    assert streams.stream_kind(x for x in ()) == streams.STREAM
