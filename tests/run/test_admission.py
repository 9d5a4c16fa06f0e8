"""The preset's admission end to end: on by default, off on request, bounded by the deadline."""

from __future__ import annotations

import asyncio
import json
import textwrap
import uuid

import openai
import pytest
import redis

from helpers import HTTPError, run_python
from llm_retry import BudgetExhaustedError, Policy, PolicyError, Retry, budget, circuit, llm_retry
from llm_retry.decide.limits import LimitSettings
from llm_retry.run import admission
from llm_retry.run.keys import default_store
from llm_retry.stores import RedisStore
from llm_retry.testing import FaultServer, capture_events, no_wait

MESSAGES = [{"role": "user", "content": "ping"}]
TIGHT = """
description = "one attempt in flight at a time"
attempts = 3
[statuses]
429 = { action = "retry", reason = "rate limited" }
[limits]
initial = 1
min = 1
max = 1
"""


@pytest.fixture
def tight(tmp_path, monkeypatch):
    """A user preset ``tight`` whose limit is one attempt in flight."""
    (tmp_path / "tight.toml").write_text(TIGHT)
    monkeypatch.setenv("LLM_RETRY_POLICIES", str(tmp_path))
    return "tight"


def test_the_readme_stack_keeps_to_a_concurrency_limit_it_learns():
    """Against 3 in flight at most (429 beyond, no rate header): no call lost, few refusals."""

    async def main(server):
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-test", max_retries=0
        ) as client:

            @budget(total=90)
            @llm_retry(preset="deepseek")
            @circuit("deepseek")
            async def ask(i):
                return await client.chat.completions.create(model="m", messages=MESSAGES)

            return await asyncio.gather(*(ask(i) for i in range(30)), return_exceptions=True)

    with FaultServer() as server:
        server.concurrency_limit(3, hold=0.02, retry_after=0)
        results = asyncio.run(main(server))
        statuses = [r.reply.status for r in server.requests]
    assert not [r for r in results if isinstance(r, BaseException)]
    assert statuses.count(200) == 30
    # The first ten go at once (the initial limit) and seven are refused; the limit is then
    # what the server held, and only probes above it are refused later (a retry loop without
    # admission sends about 2.5 requests per call here).
    assert statuses.count(429) <= 15


def test_a_caller_in_line_stops_at_the_deadline_without_sending(tight):
    """A call waiting for a slot held by another is bounded by its budget's deadline."""
    sent = []

    @budget(total=5)
    @llm_retry(preset=tight)
    def ask():
        sent.append("ask")
        return "never"

    with no_wait() as clock, capture_events() as events:
        gate = admission.key_admission(default_store(), tight, LimitSettings(initial=1, max=1))
        holder = gate.admit_now(clock.wall(), LimitSettings(initial=1, max=1))
        assert holder is not None
        assert holder.admitted  # another call holds the only slot
        with pytest.raises(BudgetExhaustedError):
            ask()
    assert sent == []
    assert sum(clock.waits) == pytest.approx(5.0)  # waited for the slot until the deadline
    throttled = [e for e in events if e["event"] == "llm_retry.throttled"]
    assert throttled[0]["reason"] == "concurrency"


def test_a_call_inside_an_admitted_one_does_not_wait_for_its_slot(tight):
    """Nested calls under one key share the outer call's slot: no deadlock at a limit of one."""

    @llm_retry(preset=tight)
    def inner():
        return "ok"

    @llm_retry(preset=tight)
    def outer():
        return inner()

    with no_wait() as clock:
        assert outer() == "ok"
    assert clock.waits == []


def test_limits_false_and_a_disabled_section_turn_admission_off(tight, tmp_path):
    """``limits=False``, or ``enabled = false`` in the preset, leaves calls unadmitted."""

    @llm_retry(preset=tight, limits=False)
    def outer():
        return inner()

    @llm_retry(preset=tight, limits=False)
    def inner():
        return "ok"

    with no_wait() as clock:
        assert outer() == "ok"  # no slot to wait for
    assert clock.waits == []
    (tmp_path / "off.toml").write_text(TIGHT.replace("[limits]", "[limits]\nenabled = false"))
    with pytest.raises(PolicyError, match="no \\[limits\\] section enabled"):
        llm_retry(preset="off", limits=True)
    with pytest.raises(PolicyError, match="limits= must be True or False"):
        llm_retry(preset="deepseek", limits="yes")


def test_a_budget_without_a_name_keeps_its_meaning():
    """``@budget(total=...)`` over a policy without a preset admits nothing and blocks nothing."""
    error = HTTPError(429, {"Retry-After": "3"})
    calls = []

    @budget(total=30)
    @llm_retry(policy=Policy(name="p", statuses={429: Retry("rate limited")}), attempts=2)
    def ask():
        calls.append(1)
        if len(calls) == 1:
            raise error
        return "ok"

    with no_wait() as clock:
        assert ask() == "ok"
    assert clock.waits == [pytest.approx(3.0)]  # its own Retry-After, nothing more


def test_a_concurrency_refusal_does_not_block_the_other_calls():
    """A 429 without rate headers lowers the limit; other calls under the key do not wait."""
    refused = HTTPError(429, {"Retry-After": "2"})
    first = []

    @llm_retry(preset="deepseek")
    def ask():
        first.append(1)
        if len(first) == 1:
            raise refused
        return "ok"

    @llm_retry(preset="deepseek")
    def other():
        return "ok"

    with no_wait() as clock:
        assert ask() == "ok"
        waited = len(clock.waits)
        assert other() == "ok"
    assert len(clock.waits) == waited  # the other call did not wait for a block


def test_a_rate_refusal_blocks_the_key_and_paces():
    """A 429 with rate headers blocks the key until the window resets, then opens windows."""
    refused = HTTPError(
        429,
        {
            "Retry-After": "1",
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "500ms",
        },
    )
    calls = []

    @llm_retry(preset="openai")
    def ask():
        calls.append(1)
        if len(calls) == 1:
            raise refused
        return "ok"

    @llm_retry(preset="openai")
    def other():
        return "ok"

    with no_wait() as clock:
        assert ask() == "ok"
        before = len(clock.waits)
        assert other() == "ok"
    # The refused call waited out its own Retry-After (1 s); the server admitted one request
    # in its window, so the next call goes in the next window (the first opened at the reset).
    assert clock.waits[:before] == [pytest.approx(1.0)]
    assert clock.waits[before:] == [pytest.approx(0.5)]


# -- across processes --------------------------------------------------------------------
CHILD = """
    import json, sys, redis
    from llm_retry.decide.limits import LimitSettings
    from llm_retry.run.admission import LocalLimits, Pass
    from llm_retry.stores import RedisStore
    from llm_retry.stores.redis_limits import RedisLimits

    cfg = LimitSettings(initial=10, min=1, max=10)
    store = RedisStore(redis.Redis.from_url(sys.argv[1]), prefix=sys.argv[2])
    shared = RedisLimits(store, "deepseek", LocalLimits(cfg))
    taken = sum(shared.admit(1.0, 1.0, Pass(), cfg) == 0 for _ in range(6))
    print(json.dumps({"taken": taken}))
"""


def test_processes_share_one_limit_through_a_real_redis_server(redis_server):
    """Two other processes take six slots each of one limit of ten: the second gets four."""
    prefix = f"t{uuid.uuid4().hex}:"
    code = textwrap.dedent(CHILD)
    taken = [
        json.loads(run_python("-c", code, redis_server.url, prefix, timeout=60))["taken"]
        for _ in range(2)
    ]
    assert taken == [6, 4]
    store = RedisStore(redis.Redis.from_url(redis_server.url), prefix=prefix)
    gate = admission.key_admission(store, "deepseek", admission.LimitSettings(max=10))
    assert gate.backend.snapshot()["inflight"] == 10
    delay, ticket = gate.admit(1.0, 1.0, None, admission.LimitSettings(max=10))
    assert delay > 0  # full: this one waits in line
    assert ticket.in_line


def test_a_caller_cancelled_in_line_does_not_hold_up_the_ones_behind(tight):
    """Async callers wait in line, woken when a slot frees; a cancelled one leaves the line."""
    order = []

    async def main():
        release = asyncio.Event()

        @llm_retry(preset=tight)
        async def ask(name):
            order.append(name)
            if name == "first":
                await release.wait()  # holds the only slot
            return name

        first = asyncio.create_task(ask("first"))
        await asyncio.sleep(0)  # let it take the slot
        second = asyncio.create_task(ask("second"))
        third = asyncio.create_task(ask("third"))
        await asyncio.sleep(0)
        second.cancel()
        release.set()
        return await asyncio.wait_for(asyncio.gather(first, third), 5)

    assert asyncio.run(main()) == ["first", "third"]
    assert order == ["first", "third"]
