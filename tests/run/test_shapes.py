"""What a stream item is, per shape: output, an opening event, or an error to raise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import need
from llm_retry.decide.litellm import _json_in
from llm_retry.errors import StreamEventError
from llm_retry.run.shapes import error_of, is_output
from llm_retry.testing import no_wait


def responses(kind: str, **fields: object) -> dict[str, object]:
    return {"type": kind, "sequence_number": 0, **fields}


@pytest.mark.parametrize(
    ("item", "output"),
    [
        (responses("response.created", response={}), False),
        (responses("response.in_progress", response={}), False),
        (responses("response.queued", response={}), False),
        (responses("response.output_item.added", item={}), False),
        (responses("response.content_part.added", part={}), False),
        (responses("response.output_text.delta", delta=""), False),
        (responses("response.output_text.delta", delta="Hi"), True),
        (responses("response.function_call_arguments.delta", delta='{"a"'), True),
        (responses("response.audio.delta", delta="UklGR"), True),
        (responses("response.output_text.done", text="Hi"), True),
        (responses("response.completed", response={}), True),
        (responses("response.some_new_event"), False),
        ({"type": "content_block_delta", "delta": {"type": "input_json_delta"}}, False),
        ({"type": "content_block_delta", "delta": {"partial_json": '{"q'}}, True),
        ({"type": "content_block_delta", "delta": {"thinking": "hmm"}}, True),
        ({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}, True),
        ({"type": "text", "text": "Hi", "snapshot": "Hi"}, True),
        ({"type": "something_else"}, False),
        ({"type": "something_else", "delta": "x"}, True),
        ("", False),
        (3, True),
        ({"no": "type"}, True),
    ],
)
def test_items_commit_only_when_they_carry_output(item, output):
    """Opening events, empty deltas and unknown types are not output; text and tools are."""
    assert is_output(item) is output


@pytest.mark.clients
def test_langchain_chunks_commit_at_text_or_tool_calls():
    """An empty AIMessageChunk (Anthropic's message_start, OpenAI's role chunk) is held."""
    messages = need("langchain_core.messages")
    chunk = messages.AIMessageChunk
    assert not is_output(chunk(content=""))
    assert not is_output(chunk(content=[]))
    assert not is_output(chunk(content=[{"type": "text", "text": ""}]))
    assert is_output(chunk(content="Hi"))
    assert is_output(chunk(content=[{"type": "text", "text": "Hi"}]))
    tool = {"name": "f", "args": '{"a', "id": "1", "index": 0, "type": "tool_call_chunk"}
    assert is_output(chunk(content="", tool_call_chunks=[tool]))


@pytest.mark.clients
def test_pydantic_ai_events_commit_at_content_or_tool_args():
    """A part or delta with no content is held; the final-result marker is not output."""
    m = need("pydantic_ai.messages")
    assert not is_output(m.PartStartEvent(index=0, part=m.TextPart(content="")))
    assert is_output(m.PartStartEvent(index=0, part=m.TextPart(content="Hi")))
    assert not is_output(m.PartDeltaEvent(index=0, delta=m.TextPartDelta(content_delta="")))
    assert is_output(m.PartDeltaEvent(index=0, delta=m.TextPartDelta(content_delta="Hi")))
    assert is_output(m.PartDeltaEvent(index=0, delta=m.ToolCallPartDelta(args_delta='{"a')))
    assert not is_output(m.FinalResultEvent(tool_name=None, tool_call_id=None))


def test_error_events_become_errors_classified_by_their_type():
    """response.failed and error events are raised with the error object as body."""
    failed = responses(
        "response.failed",
        response={"status": "failed", "error": {"code": "rate_limit_exceeded", "message": "slow"}},
    )
    error = error_of(failed)
    assert isinstance(error, StreamEventError)
    assert error.body == {"error": {"code": "rate_limit_exceeded", "message": "slow"}}
    assert error.event is failed
    assert str(error) == "slow"
    event = error_of({"type": "error", "code": "server_error", "message": "boom"})
    assert event is not None
    assert event.body["error"]["code"] == "server_error"
    assert error_of(responses("response.completed")) is None
    assert error_of({"object": "chat.completion.chunk"}) is None


def test_a_rate_limit_event_before_output_is_retried_as_a_429():
    """A generator yielding a Responses response.failed first is retried like a 429."""
    from llm_retry import llm_retry  # noqa: PLC0415

    calls = []
    failed = responses(
        "response.failed", response={"error": {"code": "rate_limit_exceeded", "message": "x"}}
    )

    @llm_retry(preset="openai")
    def events():
        calls.append(1)
        yield responses("response.created", response={})
        if len(calls) == 1:
            yield failed
        yield responses("response.output_text.delta", delta="ok")

    with no_wait() as clock:
        items = list(events())
    assert len(calls) == 2
    assert len(clock.waits) == 1
    assert items[-1]["delta"] == "ok"


@given(st.text(max_size=200))
def test_quoted_json_reader_never_raises(text):
    """Whatever a LiteLLM message holds, reading the JSON in it returns a mapping or None."""
    found = _json_in(text)
    assert found is None or isinstance(found, dict)


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4))
def test_quoted_json_reader_finds_the_object_after_a_prefix(body):
    """``AnthropicException - {json}`` gives back the object."""
    import json  # noqa: PLC0415

    assert _json_in(f"litellm.RateLimitError: AnthropicException - {json.dumps(body)}") == body
