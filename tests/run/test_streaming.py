"""Streams under @llm_retry: real openai and anthropic streaming against the fault server.

A failure before the first output chunk reaches the caller is retried like any failed request;
after it, the error is raised with a note and not retried, unless restart=True.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect

import anthropic
import httpx
import openai
import pytest

from llm_retry import Policy, PolicyError, Retry, llm_retry
from llm_retry.run.relay import is_output
from llm_retry.testing import Reply, capture_events, no_wait

MESSAGES = [{"role": "user", "content": "ping"}]
try:  # openai >= 3 and anthropic >= 1 are built on httpx2; older releases on httpx
    import httpx2

    BROKEN: tuple[type[BaseException], ...] = (
        openai.APIConnectionError,
        httpx.TransportError,
        httpx2.TransportError,
    )
except ImportError:  # pragma: no cover - the old-SDK environment
    BROKEN = (openai.APIConnectionError, httpx.TransportError)


def named(events, name):
    """The captured events called ``name``."""
    return [e for e in events if e["event"] == f"llm_retry.{name}"]


def drain(stream, into):
    """Read ``stream`` to its end (or its error) into the list ``into``, then close it."""
    with stream as opened:
        into.extend(opened)


async def adrain(stream, into):
    """The async twin of `drain`."""
    async with stream as opened:
        async for chunk in opened:
            into.append(chunk)


def text_of(chunks):
    """The text of openai chunks."""
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def openai_streamer(client, **options):
    """A decorated call site returning an openai Stream."""

    @llm_retry(preset="openai", stream=True, **options)
    def ask():
        return client.chat.completions.create(model="m", messages=MESSAGES, stream=True)

    return ask


def claude_texts(client, **options):
    """A decorated generator yielding the text deltas of an anthropic stream."""

    @llm_retry(preset="anthropic", **options)
    def texts():
        with client.messages.create(model="m", max_tokens=9, messages=MESSAGES, stream=True) as s:
            for event in s:
                if event.type == "content_block_delta":
                    yield event.delta.text

    return texts


# -- openai Stream returned by the decorated function ------------------------------------
def test_openai_stream_is_retried_before_the_first_chunk(server, gpt):
    """An error event before any content, then a 429, are retried; the caller gets one stream."""
    server.script(Reply(error_after=0), Reply(429), Reply(content="Hello big world"))
    with no_wait() as clock, capture_events() as events, openai_streamer(gpt)() as stream:
        assert isinstance(stream, openai.Stream)
        assert text_of(stream) == "Hello big world"
    assert len(server.requests) == 3
    assert len(clock.waits) == 2
    rules = [e["rule"] for e in named(events, "attempt_failed")]
    assert rules == ["status class 5xx (from type server_error)", "status 429"]
    assert named(events, "recovered")[0]["attempts"] == 3


def test_openai_stream_error_after_output_is_raised_with_a_note(server, gpt):
    """A mid-stream error after content reached the caller is raised once, noted, not retried."""
    server.script(Reply(content="a b c d", error_after=2))
    seen = []
    with no_wait() as clock, capture_events() as events:
        stream = openai_streamer(gpt)()
        with pytest.raises(openai.APIError) as caught:
            drain(stream, seen)
    assert text_of(seen) == "a b "
    assert len(server.requests) == 1
    assert clock.waits == []
    note = caught.value.__notes__[-1]
    assert "not retried" in note
    assert "the stream failed after 3 chunks had reached the caller" in note
    assert "restart=True" in note
    (failed,) = named(events, "attempt_failed")
    assert (failed["chunks"], failed["billing"], failed["classification"]) == (3, "billed", "retry")
    assert named(events, "gave_up")[0]["billed_attempts"] == 1


def test_stream_true_passes_a_plain_result_through(server, gpt):
    """A stream=True function that returns a non-stream returns it unchanged."""
    server.script(Reply(content="whole"))

    @llm_retry(preset="openai", stream=True)
    def ask(streaming: bool):
        return gpt.chat.completions.create(model="m", messages=MESSAGES, stream=streaming)

    completion = ask(False)
    assert type(completion).__name__ == "ChatCompletion"
    assert completion.choices[0].message.content == "whole"


def test_restart_reruns_the_stream_from_the_start(server, gpt):
    """restart=True opens a new stream after a mid-stream failure and announces it."""
    server.script(Reply(content="a b c", error_after=1), Reply(content="a b c"))
    with no_wait(), capture_events() as events, openai_streamer(gpt, restart=True)() as stream:
        chunks = list(stream)
        assert stream.response is not None
    assert text_of(chunks) == "a a b c"
    assert len(server.requests) == 2
    (restarted,) = named(events, "stream_restarted")
    assert (restarted["attempt"], restarted["chunks"]) == (2, 2)
    names = [e["event"].removeprefix("llm_retry.") for e in events]
    assert names == ["attempt_failed", "stream_restarted", "retry_scheduled", "recovered"]


def test_restart_counts_attempts_across_streams(server, gpt):
    """Restarts use the policy's attempts: the last broken stream is raised with the count."""
    server.default = Reply(content="a b c", error_after=1)
    with no_wait(), capture_events() as events:
        stream = openai_streamer(gpt, restart=True, attempts=3)()
        with pytest.raises(openai.APIError) as caught:
            drain(stream, [])
    assert len(server.requests) == 3
    assert [e["attempt"] for e in named(events, "attempt_failed")] == [1, 2, 3]
    assert "attempts exhausted (3 of 3)" in caught.value.__notes__[-1]
    assert named(events, "gave_up")[0]["billed_attempts"] == 3


def test_dropped_connection_after_output_is_raised(server, gpt):
    """A connection dropped after content is raised (as the SDK raises it), not retried."""
    server.script(Reply(content="a b c", drop_after=1))
    with no_wait():
        stream = openai_streamer(gpt)()
        with pytest.raises(BROKEN) as caught:
            drain(stream, [])
    assert len(server.requests) == 1
    assert "not retried" in caught.value.__notes__[-1]


def test_async_openai_stream_retried_before_and_raised_after(server):
    """AsyncStream: retried before the first chunk; the later error is raised with a note."""
    server.script(Reply(error_after=0), Reply(content="a b c", error_after=1))

    async def main():
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as c:

            @llm_retry(preset="openai", stream=True)
            async def ask():
                return await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)

            stream = await ask()
            assert isinstance(stream, openai.AsyncStream)
            seen = []
            with pytest.raises(openai.APIError) as caught:
                await adrain(stream, seen)
            return seen, caught.value

    with no_wait():
        seen, error = asyncio.run(main())
    assert text_of(seen) == "a "
    assert len(server.requests) == 2
    assert "not retried" in error.__notes__[-1]


def test_async_anthropic_stream_with_restart(server):
    """AsyncAnthropic stream=True with restart=True recovers from an overloaded error mid-way."""
    server.script(Reply(content="x y", error_after=1), Reply(content="x y"))

    async def main():
        async with anthropic.AsyncAnthropic(
            base_url=server.root_url, api_key="k", max_retries=0
        ) as client:

            @llm_retry(preset="anthropic", stream=True, restart=True)
            async def ask():
                return await client.messages.create(
                    model="m", max_tokens=9, messages=MESSAGES, stream=True
                )

            async with await ask() as stream:
                return [e.delta.text async for e in stream if e.type == "content_block_delta"]

    with no_wait(), capture_events() as events:
        assert asyncio.run(main()) == ["x ", "x ", "y"]
    assert named(events, "attempt_failed")[0]["rule"] == "code overloaded_error"
    assert len(named(events, "stream_restarted")) == 1


# -- anthropic: the opening events are not output ----------------------------------------
def test_anthropic_error_after_message_start_is_retried(server, claude):
    """An overloaded_error after message_start is retried: the opening was held back."""
    server.script(Reply(error_after=0), Reply(content="x y"))

    @llm_retry(preset="anthropic", stream=True)
    def ask():
        return claude.messages.create(model="m", max_tokens=9, messages=MESSAGES, stream=True)

    with no_wait(), capture_events() as events, ask() as stream:
        types = [event.type for event in stream]
    assert types.count("message_start") == 1
    assert len(server.requests) == 2
    (failed,) = named(events, "attempt_failed")
    assert (failed["rule"], failed["status"]) == ("code overloaded_error", 200)
    assert "billing" not in failed


# -- generator functions -------------------------------------------------------------------
def test_generator_function_is_retried_before_its_first_item(server, claude):
    """A generator's failures before its first item (error event, dropped connection) retry."""
    server.script(Reply(error_after=0), Reply(drop_after=0), Reply(content="x y z"))
    texts = claude_texts(claude)
    assert inspect.isgeneratorfunction(texts)
    with no_wait() as clock:
        assert list(texts()) == ["x ", "y ", "z"]
    assert len(server.requests) == 3
    assert len(clock.waits) == 2


def test_generator_function_error_after_an_item_is_raised(server, claude):
    """After the generator yielded, a mid-stream error is raised with a note, not retried."""
    server.script(Reply(content="x y z", error_after=2))
    got = []
    with no_wait(), pytest.raises(anthropic.APIStatusError) as caught:
        got.extend(claude_texts(claude)())
    assert got == ["x ", "y "]
    assert len(server.requests) == 1
    assert "after 2 chunks had reached the caller" in caught.value.__notes__[-1]


def test_generator_function_restart(server, claude):
    """restart=True re-runs a generator from the start after it failed mid-way."""
    server.script(Reply(content="x y", error_after=1), Reply(content="x y"))
    with no_wait(), capture_events() as events:
        assert list(claude_texts(claude, restart=True)()) == ["x ", "x ", "y"]
    assert named(events, "stream_restarted")[0]["chunks"] == 1


def test_async_generator_function(server):
    """An async generator is retried before its first item and raises after, noted."""
    server.script(Reply(error_after=0), Reply(content="p q r", drop_after=2))

    async def main():
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as c:

            @llm_retry(preset="openai")
            async def pieces():
                stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
                async with stream:
                    async for chunk in stream:
                        if chunk.choices[0].delta.content:
                            yield chunk.choices[0].delta.content

            assert inspect.isasyncgenfunction(pieces)
            got = []
            with pytest.raises(BROKEN) as caught:
                await adrain(contextlib.aclosing(pieces()), got)
            return got, caught.value

    with no_wait():
        got, error = asyncio.run(main())
    assert got == ["p ", "q "]
    assert len(server.requests) == 2
    assert "not retried" in error.__notes__[-1]


class Flaky(Exception):
    """A retryable failure of a plain generator."""

    status_code = 503


POLICY = Policy(name="gen", statuses={503: Retry("overloaded")}, attempts=3)


def test_generator_protocol_send_return_and_close():
    """send() values reach the generator, its return value comes back, close() reaches it."""
    log = []
    failures = [Flaky()]

    @llm_retry(policy=POLICY)
    def echo():
        try:
            if failures:
                raise failures.pop()
            received = yield "first"
            log.append(received)
            received = yield "second"
            log.append(received)
            return "done"
        finally:
            log.append("closed")

    with no_wait():
        gen = echo()
        assert next(gen) == "first"
        assert gen.send("a") == "second"
        with pytest.raises(StopIteration) as stop:
            gen.send("b")
    assert stop.value.value == "done"
    assert log == ["closed", "a", "b", "closed"]
    with no_wait():
        gen = echo()
        next(gen)
        gen.close()
    assert log[-1] == "closed"


def test_async_generator_asend_and_aclose():
    """asend() values reach an async generator and aclose() runs its cleanup."""
    log = []

    @llm_retry(policy=POLICY)
    async def echo():
        try:
            received = yield 1
            log.append(received)
            yield 2
        finally:
            log.append("closed")

    async def main():
        gen = echo()
        assert await gen.__anext__() == 1
        assert await gen.asend("x") == 2
        await gen.aclose()

    asyncio.run(main())
    assert log == ["x", "closed"]


def test_an_empty_generator_ends_at_once():
    """A generator that yields nothing ends normally, with its return value."""

    @llm_retry(policy=POLICY)
    def nothing():
        return "value"
        yield  # pragma: no cover - makes this a generator

    with pytest.raises(StopIteration) as stop:
        next(nothing())
    assert stop.value.value == "value"


# -- decoration-time checks and the output test -------------------------------------------
def test_options_that_do_not_fit_are_rejected_when_decorating():
    """validate= on a stream and restart= with stream=False are PolicyErrors at decoration."""

    def gen():
        yield 1

    with pytest.raises(PolicyError, match="stream has none"):
        llm_retry(policy=POLICY, validate=lambda r: None)(gen)
    with pytest.raises(PolicyError, match="restart=True applies to streams"):
        llm_retry(policy=POLICY, restart=True, stream=False)(lambda: 1)
    with pytest.raises(PolicyError, match="validate= must be a function"):
        llm_retry(policy=POLICY, validate="json")(lambda: 1)


@pytest.mark.parametrize(
    ("chunk", "output"),
    [
        ({"type": "message_start"}, False),
        ({"type": "content_block_start"}, False),
        ({"type": "ping"}, False),
        ({"type": "content_block_delta", "delta": {"type": "text_delta", "text": ""}}, False),
        ({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "a"}}, True),
        ({"object": "chat.completion.chunk", "choices": [{"delta": {"role": "assistant"}}]}, False),
        ({"object": "chat.completion.chunk", "choices": [{"delta": {"content": ""}}]}, False),
        ({"object": "chat.completion.chunk", "choices": [{"delta": {"content": "a"}}]}, True),
        (
            {"object": "chat.completion.chunk", "choices": [{"delta": {"reasoning_content": "h"}}]},
            True,
        ),
        (
            {
                "object": "chat.completion.chunk",
                "choices": [{"delta": {}, "finish_reason": "stop"}],
            },
            True,
        ),
        ("plain text", True),
    ],
)
def test_what_counts_as_output(chunk, output):
    """Opening events and empty openai chunks are held back; content and reasoning are output."""
    assert is_output(chunk) is output


def test_streams_and_restarts_under_a_budget(server, gpt):
    """Inside @budget a stream is retried through the guarded drivers; restarts keep counting."""
    from llm_retry import budget  # noqa: PLC0415 - the only test here that needs it

    @budget(total=90)
    @llm_retry(preset="openai", stream=True, restart=True)
    def ask():
        return gpt.chat.completions.create(model="m", messages=MESSAGES, stream=True)

    server.script(Reply(error_after=0), Reply(content="a b", error_after=1), Reply(content="a b"))
    with no_wait(), capture_events() as events, ask() as stream:
        assert text_of(stream) == "a a b"
    failed = [(e["attempt"], e.get("chunks")) for e in named(events, "attempt_failed")]
    assert failed == [(1, None), (2, 2)]
    assert named(events, "stream_restarted")[0]["attempt"] == 3
