"""A user's module, type-checked by mypy (strict) and pyright: every decorator keeps the types.

Nothing here runs: ``.ci/run`` checks it with both type checkers. Each ``assert_type`` states
what a checker must infer; a decorator that lost a signature, a return type or coroutine-ness
would fail it. The ``fallback(model=...)`` pattern is the one in the docs: the swapped keyword
gets the chain's first value as its default, so callers may leave it out.
"""

# pyright: strict

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from typing_extensions import assert_type

import llm_retry
from llm_retry import (
    Circuit,
    CircuitSnapshot,
    Policy,
    Retry,
    budget,
    circuit,
    fallback,
    load_preset,
    remaining,
    retrying,
)
from llm_retry import llm_retry as retry
from llm_retry.testing import capture_events, no_wait

POLICY = Policy(attempts=3, statuses={429: Retry()})
MODELS = ["deepseek-v4-pro", "deepseek-v4-flash"]


# -- functions --------------------------------------------------------------------------------
@retry
def bare(prompt: str) -> str:
    return prompt


@retry(preset="deepseek", attempts=3)
def configured(prompt: str, *, temperature: float = 0.0) -> str:
    return prompt


@circuit("deepseek")
def guarded(prompt: str) -> str:
    return prompt


@budget(total=90)
def timed(prompt: str) -> str:
    return prompt


@fallback(model=MODELS)
@budget(total=90)
@retry(preset="deepseek")
@circuit("deepseek")
def summarise(text: str, *, model: str = MODELS[0]) -> str:
    return text


def ask_flash(prompt: str) -> str:
    return prompt


@fallback(ask_flash)
@retry(policy=POLICY)
def ask_pro(prompt: str) -> str:
    return prompt


assert_type(bare("hi"), str)
assert_type(configured("hi", temperature=0.5), str)
assert_type(guarded("hi"), str)
assert_type(timed("hi"), str)
assert_type(summarise("a very long text"), str)
assert_type(summarise("a very long text", model="deepseek-v4-flash"), str)
assert_type(ask_pro("hi"), str)


@fallback(model=MODELS)
@retry(preset="deepseek")
def required(text: str, *, model: str) -> str:  # without the default the keyword stays required
    return text


required("text")  # type: ignore[call-arg]  # what the pattern above avoids
plain: Callable[[str], str] = bare


# -- coroutines -------------------------------------------------------------------------------
@fallback(model=MODELS)
@budget(total=90)
@retry(preset="deepseek")
@circuit("deepseek")
async def asummarise(text: str, *, model: str = MODELS[0]) -> str:
    return text


@retry
async def abare(prompt: str) -> int:
    return len(prompt)


async def caller() -> str:
    assert_type(await abare("hi"), int)
    assert_type(await asummarise("text", model="deepseek-v4-flash"), str)
    pending: Coroutine[Any, Any, str] = asummarise("text")
    return await pending


# -- methods, classmethods, staticmethods ------------------------------------------------------
class Client:
    prefix = "client"

    @budget(total=30)
    @retry(preset="openai")
    @circuit("openai")
    def method(self, prompt: str) -> str:
        return self.prefix + prompt

    @retry(preset="openai")
    async def amethod(self, prompt: str) -> str:
        return prompt

    @classmethod
    @retry(policy=POLICY)
    @circuit("openai")
    def klass(cls, prompt: str) -> str:
        return cls.prefix + prompt

    @staticmethod
    @budget(total=30)
    @retry
    def static(prompt: str) -> bytes:
        return prompt.encode()

    @fallback(model=MODELS)
    @retry(preset="deepseek")
    def swap(self, prompt: str, *, model: str = MODELS[0]) -> list[str]:
        return [prompt, model]


client = Client()
assert_type(client.method("hi"), str)


async def method_caller() -> None:
    assert_type(await client.amethod("hi"), str)


assert_type(Client.klass("hi"), str)
assert_type(client.klass("hi"), str)
assert_type(Client.static("hi"), bytes)
assert_type(client.swap("hi"), list[str])


# -- the objects around the decorators ---------------------------------------------------------
breaker = circuit("typing", failures=3)
assert_type(breaker, Circuit)
assert_type(breaker.state(), CircuitSnapshot)
assert_type(remaining(), float | None)
assert_type(load_preset("deepseek"), Policy)
assert_type(llm_retry.__version__, str)

with no_wait(), capture_events() as events:
    assert_type(events, list[dict[str, Any]])


# -- blocks -------------------------------------------------------------------------------------
def block(prompt: str) -> str:
    for attempt in retrying(preset="deepseek"):
        with attempt:
            assert_type(attempt.number, int)
            return prompt
    raise AssertionError("unreachable: the last attempt returns or raises")


async def ablock(prompt: str) -> str:
    async for attempt in retrying(preset="deepseek", attempts=3):
        async with attempt:
            return prompt
    raise AssertionError("unreachable: the last attempt returns or raises")
