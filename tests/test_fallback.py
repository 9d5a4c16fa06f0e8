"""fallback: which failures advance the chain, in what order, with which events and notes."""

from __future__ import annotations

import asyncio
import inspect

import openai
import pytest

from helpers import HTTPError
from llm_retry import (
    Backoff,
    BudgetExhaustedError,
    CircuitOpenError,
    Fail,
    Policy,
    PolicyError,
    Retry,
    budget,
    fallback,
    llm_retry,
)
from llm_retry.testing import FaultServer, Reply, capture_events, no_wait

POLICY = Policy(
    name="test",
    statuses={503: Retry("overloaded"), 401: Fail("bad key")},
    codes={"context_length_exceeded": Fail("prompt too long")},
    backoff=Backoff(base=1, cap=1, jitter="none"),
    attempts=2,
)


def test_a_keyword_swap_advances_after_retries_are_exhausted():
    """model=[a, b]: a fails its retries, b answers; one fallback event with the reason."""
    seen = []

    @fallback(model=["pro", "flash"])
    @llm_retry(policy=POLICY)
    def ask(prompt, *, model):
        seen.append(model)
        if model == "pro":
            raise HTTPError(503)
        return f"{model}: {prompt}"

    with no_wait(), capture_events() as events:
        assert ask("hi") == "flash: hi"
    assert seen == ["pro", "pro", "flash"]
    (advance,) = [e for e in events if e["event"] == "llm_retry.fallback"]
    assert advance["failed"] == "model='pro'"
    assert advance["next"] == "model='flash'"
    assert advance["alternative"] == 2
    assert advance["of"] == 2
    assert advance["error"] == "helpers.HTTPError"
    assert "attempts exhausted (2 of 2)" in advance["reason"]


def test_a_value_the_caller_passes_starts_the_chain_there():
    """ask(model="flash") tries flash first, then the values after it."""
    seen = []

    @fallback(model=["pro", "flash", "lite"])
    @llm_retry(policy=POLICY)
    def ask(*, model):
        seen.append(model)
        raise HTTPError(503)

    with no_wait(), pytest.raises(HTTPError):
        ask(model="flash")
    assert seen == ["flash", "flash", "lite", "lite"]


def test_callable_alternatives_get_the_same_arguments():
    """fallback(b, c) calls b and c with the arguments a was called with, in order."""
    seen = []

    @llm_retry(policy=POLICY)
    def second(x, *, y):
        seen.append(("second", x, y))
        raise HTTPError(503)

    def third(x, *, y):
        seen.append(("third", x, y))
        return x + y

    @fallback(second, third)
    @llm_retry(policy=POLICY)
    def first(x, *, y):
        seen.append(("first", x, y))
        raise HTTPError(503)

    with no_wait(), capture_events() as events:
        assert first(1, y=2) == 3
    assert [s[0] for s in seen] == ["first", "first", "second", "second", "third"]
    hops = [(e["failed"], e["next"]) for e in events if e["event"] == "llm_retry.fallback"]
    assert [(a.rsplit(".", 1)[-1], b.rsplit(".", 1)[-1]) for a, b in hops] == [
        ("first", "second"),
        ("second", "third"),
    ]


def test_when_every_alternative_fails_the_last_failure_is_raised_with_the_chain():
    """The last error is raised, noted with every alternative tried and why each failed."""
    last = HTTPError(503)
    errors = [HTTPError(503), HTTPError(503), HTTPError(503), last]

    @fallback(model=["a", "b"])
    @llm_retry(policy=POLICY)
    def ask(*, model):
        raise errors.pop(0)

    with no_wait(), pytest.raises(HTTPError) as caught:
        ask()
    assert caught.value is last
    note = caught.value.__notes__[-1]
    assert note.startswith("llm-retry fallback: all 2 alternatives failed: model='a' (")
    assert "; model='b' (" in note


def test_failures_no_alternative_can_fix_are_raised_at_once():
    """A 401 (a Fail rule not listed in on=) does not advance: the next model would fail too."""
    seen = []

    @fallback(model=["a", "b"])
    @llm_retry(policy=POLICY)
    def ask(*, model):
        seen.append(model)
        raise HTTPError(401)

    with no_wait(), capture_events() as events, pytest.raises(HTTPError):
        ask()
    assert seen == ["a"]
    assert not [e for e in events if e["event"] == "llm_retry.fallback"]


def test_on_lists_fail_reasons_that_fall_through():
    """on=("context_length_exceeded",) moves a prompt that is too long to the next model."""
    seen = []

    @fallback(model=["short", "long"], on=("context_length_exceeded",))
    @llm_retry(policy=POLICY)
    def ask(*, model):
        seen.append(model)
        if model == "short":
            raise HTTPError(400, code="context_length_exceeded")
        return model

    with no_wait(), capture_events() as events:
        assert ask() == "long"
    assert seen == ["short", "long"]
    (advance,) = [e for e in events if e["event"] == "llm_retry.fallback"]
    assert "prompt too long" in advance["reason"]


@pytest.mark.parametrize("trigger", ["400", "4xx", ValueError])
def test_on_accepts_statuses_classes_and_exception_types(trigger):
    """Statuses, status classes and exception classes can be listed in on= too."""

    class Rejected(HTTPError, ValueError):
        """A 400 that is also a ValueError."""

    @fallback(model=["a", "b"], on=(trigger,))
    def ask(*, model):
        if model == "a":
            raise Rejected(400)
        return model

    assert ask() == "b"


def test_open_circuits_and_spent_budgets_advance():
    """CircuitOpenError and BudgetExhaustedError move on to the next alternative."""
    failures = [CircuitOpenError("circuit 'a' is open"), BudgetExhaustedError("no time")]

    @fallback(model=["a", "b", "c"])
    def ask(*, model):
        if failures:
            raise failures.pop(0)
        return model

    with capture_events() as events:
        assert ask() == "c"
    reasons = [e["reason"] for e in events if e["event"] == "llm_retry.fallback"]
    assert reasons == ["circuit 'a' is open", "no time"]


def test_a_budget_around_the_chain_stops_it_when_time_is_up():
    """With no time left in the surrounding budget, the chain does not try the next one."""
    seen = []

    @budget(total=1.5)
    @fallback(model=["a", "b"])
    @llm_retry(policy=POLICY)
    def ask(*, model):
        seen.append(model)
        clock.advance(2)  # the attempt outlives the budget
        raise HTTPError(503)

    with no_wait() as clock, pytest.raises(HTTPError) as caught:
        ask()
    assert seen == ["a"]
    assert "no time left for the next alternative" in caught.value.__notes__[-1]


def test_each_alternative_gets_its_own_budget_inside_the_chain():
    """@fallback > @budget: the second model gets a fresh deadline of its own."""
    seen = []

    @fallback(model=["a", "b"])
    @budget(total=1.5)
    @llm_retry(policy=POLICY)
    def ask(*, model):
        seen.append(model)
        if model == "a":
            raise HTTPError(503)
        return model

    with no_wait():
        assert ask() == "b"
    assert seen == ["a", "a", "b"]  # a's retry (a 1 s wait) fit its 1.5 s; b got 1.5 s anew


def test_async_chains_and_async_alternatives():
    """Async functions stay coroutine functions; sync and async alternatives both work."""

    async def async_alternative(x):
        return f"async {x}"

    @fallback(async_alternative)
    @llm_retry(policy=POLICY)
    async def ask(x):
        raise HTTPError(503)

    assert inspect.iscoroutinefunction(ask)
    with no_wait():
        assert asyncio.run(ask(1)) == "async 1"

    @fallback(model=["a", "b"])
    async def swap(*, model):
        if model == "a":
            raise BudgetExhaustedError("spent")
        return model

    assert asyncio.run(swap()) == "b"


class Assistant:
    """A service whose method falls back to another method."""

    def __init__(self):
        self.calls = []

    def backup(self, prompt):
        self.calls.append("backup")
        return f"backup: {prompt}"

    @fallback(backup)
    @llm_retry(policy=POLICY)
    def ask(self, prompt):
        self.calls.append("ask")
        raise HTTPError(503)


def test_methods_pass_self_to_alternatives():
    """A method's alternatives are called with self first, like the method."""
    assistant = Assistant()
    with no_wait():
        assert assistant.ask("hi") == "backup: hi"
    assert assistant.calls == ["ask", "ask", "backup"]


def test_the_real_sdk_falls_back_to_a_longer_context_model():
    """openai's 400 context_length_exceeded on one model moves the call to the next model."""
    with (
        FaultServer() as server,
        openai.OpenAI(base_url=server.base_url, api_key="sk-test-1234567", max_retries=0) as client,
    ):
        server.script(Reply(400, code="context_length_exceeded"), Reply(200, content="done"))

        @fallback(model=["deepseek-v4-flash", "deepseek-v4-pro"], on=("context_length_exceeded",))
        @llm_retry(preset="deepseek")
        def summarise(text, *, model):
            r = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": text}]
            )
            return r.choices[0].message.content

        with no_wait(), capture_events() as events:
            assert summarise("a long text") == "done"
    assert [r.body["model"] for r in server.requests] == ["deepseek-v4-flash", "deepseek-v4-pro"]
    (advance,) = [e for e in events if e["event"] == "llm_retry.fallback"]
    assert advance["error"] == "openai.BadRequestError"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "either alternative callables or one keyword"),
        ((print,), {"model": ["a"]}, "either alternative callables or one keyword"),
        ((), {"model": ["a"], "temperature": [0]}, "either alternative callables"),
        ((), {"model": "abc"}, "needs a non-empty list"),
        ((), {"model": []}, "needs a non-empty list"),
        (("x",), {}, "must be callables"),
        ((print,), {"on": (3,)}, "on= takes codes"),
    ],
)
def test_malformed_chains_fail_at_decoration(args, kwargs, message):
    """Mistakes in the chain raise PolicyError when decorating."""
    with pytest.raises(PolicyError, match=message):
        fallback(*args, **kwargs)


def test_a_swapped_keyword_the_function_cannot_take_fails_at_decoration():
    """fallback(modle=...) on a function without that parameter names the closest one."""
    with pytest.raises(PolicyError, match=r"has no parameter 'modle' \(did you mean 'model'\?\)"):

        @fallback(modle=["pro", "flash"])
        def ask(prompt: str, *, model: str = "pro") -> str:
            return prompt

    @fallback(model=["pro", "flash"])
    def anything(prompt: str, **options: str) -> str:  # **kwargs takes any keyword
        return options["model"]

    assert anything("hi") == "pro"
