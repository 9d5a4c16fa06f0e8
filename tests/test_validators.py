"""Bad 200s: validate= checks, the ready-made validators, and the policy's results rules."""

from __future__ import annotations

import asyncio
import json

import anthropic
import openai
import pytest

from llm_retry import InvalidResultError, Policy, PolicyError, Retry, llm_retry, load_preset
from llm_retry.policy.schema import parse
from llm_retry.testing import Reply, capture_events, no_wait
from llm_retry.testing._factories import anthropic_message_body, openai_completion_body
from llm_retry.validators import (
    all_of,
    content_of,
    finish_reason_of,
    json_mode,
    not_empty,
    not_truncated,
    parses,
)

MESSAGES = [{"role": "user", "content": "answer in json"}]


def extractor(client, **options):
    """A JSON-mode call site returning the whole ChatCompletion, checked by json_mode."""

    @llm_retry(preset="deepseek", validate=json_mode, **options)
    def extract():
        return client.chat.completions.create(
            model="deepseek-v4-flash", messages=MESSAGES, response_format={"type": "json_object"}
        )

    return extract


def failed_events(events):
    """The attempt_failed events."""
    return [e for e in events if e["event"] == "llm_retry.attempt_failed"]


# -- against the fault server --------------------------------------------------------------
def test_empty_and_truncated_json_are_retried_until_valid(server, gpt):
    """JSON cut at max_tokens, then empty content, then valid JSON: two billed retries."""
    server.script(
        Reply(content='{"name": "Ada", "ro', finish_reason="length"),
        Reply(content=""),
        Reply(content='{"name": "Ada"}'),
    )
    with no_wait() as clock, capture_events() as events:
        completion = extractor(gpt)()
    assert json.loads(completion.choices[0].message.content) == {"name": "Ada"}
    assert len(server.requests) == 3
    assert len(clock.waits) == 2
    first, second = failed_events(events)
    assert first["rule"] == "result truncated"
    assert "finish_reason is 'length'" in first["message"]
    assert (first["billing"], first["billed_attempts"]) == ("billed", 1)
    assert (second["rule"], second["reason"]) == (
        "result empty",
        "empty content (JSON mode may return none)",
    )
    assert second["message"].startswith("the result was rejected: empty:")
    assert second["billed_attempts"] == 2
    recovered = events[-1]
    assert (recovered["event"], recovered["billed_attempts"]) == ("llm_retry.recovered", 2)


def test_exhausted_validation_raises_invalid_result_error(server, gpt):
    """When the results rule's attempts run out, InvalidResultError carries the last result."""
    server.default = Reply(content="not json at all")
    with no_wait(), capture_events() as events, pytest.raises(InvalidResultError) as caught:
        extractor(gpt)()
    assert len(server.requests) == 3  # the deepseek preset's unparseable rule: 3 attempts
    error = caught.value
    assert error.kind == "unparseable"
    assert error.reason.startswith("unparseable: JSONDecodeError:")
    assert error.result.choices[0].message.content == "not json at all"
    assert "attempts exhausted (3 of 3)" in error.__notes__[-1]
    gave_up = events[-1]
    assert (gave_up["event"], gave_up["billed_attempts"]) == ("llm_retry.gave_up", 3)
    assert gave_up["error"] == "invalid result"


def test_truncation_gets_the_truncated_rules_attempts(server, gpt):
    """A response truncated every time is given two attempts, as the preset's rule says."""
    server.default = Reply(content='{"a": ', finish_reason="length")
    with no_wait(), pytest.raises(InvalidResultError, match="raise max_tokens"):
        extractor(gpt)()
    assert len(server.requests) == 2


def test_anthropic_max_tokens_and_a_custom_parser(server):
    """An anthropic message cut at max_tokens is retried; a parser's error names the reason."""
    server.script(
        Reply(content="{", finish_reason="max_tokens"), Reply(content="[1, 2]"), Reply(content="{}")
    )

    def a_dict(text):
        value = json.loads(text)
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")

    with anthropic.Anthropic(base_url=server.root_url, api_key="k", max_retries=0) as client:

        @llm_retry(preset="anthropic", validate=all_of(not_truncated, parses(a_dict)))
        def ask():
            return client.messages.create(model="m", max_tokens=5, messages=MESSAGES)

        with no_wait(), capture_events() as events:
            assert content_of(ask()) == "{}"
    reasons = [e["message"] for e in failed_events(events)]
    assert "stop_reason is 'max_tokens'" in reasons[0]
    assert "unparseable: TypeError: expected an object, got list" in reasons[1]


def test_async_validation(server):
    """validate= works on async functions with the async client."""
    server.script(Reply(content=" "), Reply(content="ok"))

    async def main():
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as c:

            @llm_retry(preset="openai", validate=not_empty)
            async def ask():
                return await c.chat.completions.create(model="m", messages=MESSAGES)

            return content_of(await ask())

    with no_wait():
        assert asyncio.run(main()) == "ok"
    assert len(server.requests) == 2


# -- rules ---------------------------------------------------------------------------------
def test_results_rules_decide_per_kind_with_invalid_as_fallback():
    """A kind without a rule uses 'invalid'; a Fail rule raises after one attempt with its fix."""
    policy = Policy(
        name="p",
        results={"empty": Fail_("no text", "say json"), "invalid": Retry("bad", attempts=2)},
    )
    calls = []

    def body(result):
        def call():
            calls.append(1)
            return result

        return call

    with no_wait(), pytest.raises(InvalidResultError) as caught:
        llm_retry(policy=policy, validate=lambda r: "empty: none")(body(""))()
    assert len(calls) == 1
    assert "fix: say json" in caught.value.__notes__[-1]
    calls.clear()
    with no_wait(), pytest.raises(InvalidResultError):
        llm_retry(policy=policy, validate=lambda r: "missing field 'name'")(body("x"))()
    assert len(calls) == 2


def Fail_(reason, fix):
    """A Fail rule (imported here to keep the test's table readable)."""
    from llm_retry import Fail  # noqa: PLC0415

    return Fail(reason, fix=fix)


def test_a_policy_without_results_rules_retries_three_times():
    """The default rule for a rejected result retries, three attempts in all."""
    calls = []

    @llm_retry(policy=Policy(name="bare"), validate=lambda r: "invalid: always")
    def ask():
        calls.append(1)
        return "x"

    with no_wait(), pytest.raises(InvalidResultError):
        ask()
    assert len(calls) == 3


def test_results_table_in_toml_is_validated():
    """A results key must be a lower-case word; presets ship results rules."""
    with pytest.raises(PolicyError, match=r"results\.Bad-Kind: result kind"):
        parse('[results]\n"Bad-Kind" = "retry"\n', "x.toml")
    assert load_preset("deepseek").results["truncated"].attempts == 2
    assert "invalid" in load_preset("generic").results


# -- the validators themselves -------------------------------------------------------------
def test_validators_read_openai_and_anthropic_shapes():
    """content_of and finish_reason_of understand openai and anthropic bodies and strings."""
    chat = openai_completion_body(content='{"a": 1}')
    message = anthropic_message_body(content="hi")
    assert (content_of(chat), finish_reason_of(chat)) == ('{"a": 1}', "stop")
    assert (content_of(message), finish_reason_of(message)) == ("hi", "end_turn")
    assert content_of("text") == "text"
    assert finish_reason_of("text") is None
    with pytest.raises(TypeError, match="cannot find the text of a int"):
        content_of(3)


def test_json_mode_checks_in_order():
    """json_mode rejects truncation first, then emptiness, then invalid JSON."""
    cut = openai_completion_body(content="")
    cut["choices"][0]["finish_reason"] = "length"
    assert json_mode(cut).startswith("truncated:")
    assert json_mode(openai_completion_body(content="  ")).startswith("empty:")
    assert json_mode(openai_completion_body(content="{")).startswith("unparseable:")
    assert json_mode(openai_completion_body(content="{}")) is None


def test_invalid_result_error_kind():
    """The kind is the reason's first word when it is a lower-case identifier."""
    assert InvalidResultError("empty: x", None).kind == "empty"
    assert InvalidResultError("truncated", None).kind == "truncated"
    assert InvalidResultError("Missing field", None).kind == "invalid"
