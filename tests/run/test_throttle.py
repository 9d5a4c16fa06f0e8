"""Coordinated Retry-After and pacing through the real openai client and the fault server.

The server runs on the test's virtual clock (``FaultServer(clock=clock.now)``), so its request
log shows when each request arrived in virtual time: the waits are exact and nothing sleeps.
"""

from __future__ import annotations

import uuid

import openai
import pytest

from llm_retry import BudgetExhaustedError, budget, llm_retry, use_profile
from llm_retry.events import subscribe
from llm_retry.run import keys as throttle_state
from llm_retry.testing import FaultServer, Reply, capture_events, no_wait

MESSAGES = [{"role": "user", "content": "ping"}]


pytestmark = pytest.mark.usefixtures("fresh_budgets")


@pytest.fixture
def clock():
    """The virtual clock of the test."""
    with no_wait() as virtual:
        yield virtual


@pytest.fixture
def server(clock):
    """A fault server whose request log is on the virtual clock."""
    with FaultServer(clock=clock.now) as srv:
        yield srv


@pytest.fixture
def client(server):
    """A real OpenAI client pointed at the fault server, SDK retries off."""
    with openai.OpenAI(base_url=server.base_url, api_key="sk-test-1234567", max_retries=0) as c:
        yield c


def ask_under(client, key, **retry):
    """A DeepSeek call site under ``@budget(key=...)``."""

    @budget(key=key, total=120)
    @llm_retry(preset="deepseek", **retry)
    def ask(model="deepseek-v4-flash"):
        return client.chat.completions.create(model=model, messages=MESSAGES).id

    return ask


def test_a_call_waits_for_the_retry_after_another_call_received(server, client, clock):
    """After one call's 429 with Retry-After: 5, the next call under the key waits 5 s first."""
    key = f"k-{uuid.uuid4()}"
    server.script(Reply.rate_limited(5))
    give_up = ask_under(client, key, attempts=1)  # takes the 429 and gives up
    with pytest.raises(openai.RateLimitError):
        give_up()
    with capture_events() as events:
        ask_under(client, key)()
    first, second = server.requests
    assert second.at - first.at == pytest.approx(5.0)
    assert second.reply.status == 200
    assert clock.waits == [pytest.approx(5.0)]
    (throttled,) = [e for e in events if e["event"] == "llm_retry.throttled"]
    assert throttled["key"] == key
    assert throttled["hint"] == 5.0
    assert throttled["reason"] == "retry-after"
    assert throttled["attempt"] == 1


def test_a_rate_limit_reset_blocks_the_key_too(server, client, clock):
    """A 429 whose only hint is x-ratelimit-reset holds back the next call for that long."""
    key = f"k-{uuid.uuid4()}"
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "3s"}
    server.script(Reply(429, headers=headers))
    with pytest.raises(openai.RateLimitError):
        ask_under(client, key, attempts=1)()
    ask_under(client, key)()
    first, second = server.requests
    assert second.at - first.at == pytest.approx(3.0)
    assert clock.waits == [pytest.approx(3.0)]


def test_without_a_budget_each_call_collects_its_own_429(server, client, clock):
    """The same two calls without @budget: the second is sent at once and refused too."""
    server.script(Reply.rate_limited(5), Reply.rate_limited(5))

    @llm_retry(preset="deepseek", attempts=1)
    def ask():
        return client.chat.completions.create(model="m", messages=MESSAGES)

    for _ in range(2):
        with pytest.raises(openai.RateLimitError):
            ask()
    assert [r.at for r in server.requests] == [clock.now(), clock.now()]


def test_other_keys_are_not_blocked(server, client, clock):
    """A block under one key does not hold back calls under another."""
    server.script(Reply.rate_limited(5))
    with pytest.raises(openai.RateLimitError):
        ask_under(client, "one", attempts=1)()
    ask_under(client, "two")()
    assert clock.waits == []


def test_the_key_can_be_a_function_of_the_arguments(server, client, clock):
    """key=lambda ... model: blocks one model and not another."""

    @budget(key=lambda model: model, total=60)
    @llm_retry(preset="deepseek", attempts=1)
    def ask(model):
        return client.chat.completions.create(model=model, messages=MESSAGES).id

    server.script(Reply.rate_limited(7))
    with pytest.raises(openai.RateLimitError):
        ask("pro")
    ask("flash")
    assert clock.waits == []
    ask("pro")
    assert clock.waits == [pytest.approx(7.0)]
    assert [r.body["model"] for r in server.requests] == ["pro", "flash", "pro"]


def test_a_call_started_during_a_block_waits_only_for_what_is_left(server, client, clock):
    """A call made 8.5 s into a 9 s block waits 0.5 s, then retries its own 503 as usual."""
    key = f"k-{uuid.uuid4()}"
    server.script(Reply.rate_limited(9))
    with pytest.raises(openai.RateLimitError):
        ask_under(client, key, attempts=1)()
    clock.advance(8.5)
    server.script(Reply(503, headers={"Retry-After": "1"}), Reply(200))
    with capture_events() as events:
        ask_under(client, key)()
    (scheduled,) = [e for e in events if e["event"] == "llm_retry.retry_scheduled"]
    assert scheduled["source"] == "retry-after"
    assert clock.waits == [pytest.approx(0.5), pytest.approx(1.0)]


def test_a_retry_is_lengthened_to_a_longer_block_set_by_another_call(server, client, clock):
    """A retry planned for 1 s waits the 20 s another call was told to wait: source=throttle."""
    key = f"k-{uuid.uuid4()}"
    server.script(Reply(503, headers={"Retry-After": "1"}), Reply(200))
    blocks = throttle_state.key_throttle(throttle_state.default_store(), key)

    def another_call_is_told_to_wait(event):
        if event["event"] == "llm_retry.attempt_failed":
            blocks.extend(20, clock.wall())

    unsubscribe = subscribe(another_call_is_told_to_wait)
    try:
        with capture_events() as events:
            ask_under(client, key)()
    finally:
        unsubscribe()
    (scheduled,) = [e for e in events if e["event"] == "llm_retry.retry_scheduled"]
    assert scheduled["source"] == "throttle"
    assert scheduled["wait"] == pytest.approx(20.0)
    assert server.requests[1].at - server.requests[0].at == pytest.approx(20.0)
    (throttled,) = [e for e in events if e["event"] == "llm_retry.throttled"]
    assert throttled["attempt"] == 2
    assert throttled["hint"] == 20.0


def test_a_block_longer_than_the_deadline_stops_the_call_before_sending(server, client, clock):
    """A call that would wait past its deadline is not made: BudgetExhaustedError, no request."""
    key = f"k-{uuid.uuid4()}"
    server.script(Reply.rate_limited(50))
    with pytest.raises(openai.RateLimitError) as first:
        ask_under(client, key, attempts=1)()

    @budget(key=key, total=10)
    @llm_retry(preset="deepseek")
    def ask():
        return client.chat.completions.create(model="m", messages=MESSAGES)

    with capture_events() as events, pytest.raises(BudgetExhaustedError) as caught:
        ask()
    assert len(server.requests) == 1
    assert "waiting 50.0 s for key" in str(caught.value)
    assert caught.value.__cause__ is None  # this call made no attempt; no earlier failure
    assert first.value.__notes__
    assert events[-1]["event"] == "llm_retry.budget_exhausted"


def test_hints_the_policy_ignores_do_not_block(server, client, clock):
    """Under a profile that ignores Retry-After (test), a 429's hint blocks nobody."""
    key = f"k-{uuid.uuid4()}"
    server.script(Reply.rate_limited(5))
    with use_profile("test"):
        with pytest.raises(openai.RateLimitError):
            ask_under(client, key, attempts=1)()
        ask_under(client, key)()
    assert clock.waits == []


def test_rate_mode_admits_per_window_and_refuses_the_rest(clock):
    """FaultServer(rate=3) admits three requests per second and answers the others 429."""
    with (
        FaultServer(rate=3, retry_after=2, clock=clock.now) as server,
        openai.OpenAI(base_url=server.base_url, api_key="sk-test-1234567", max_retries=0) as client,
    ):
        statuses, hints = [], []
        for _ in range(2):
            for _ in range(5):
                try:
                    client.chat.completions.create(model="m", messages=MESSAGES)
                    statuses.append(200)
                except openai.RateLimitError as exc:
                    statuses.append(429)
                    hints.append(exc.response.headers["retry-after"])
            clock.advance(1)
        assert statuses == [200, 200, 200, 429, 429] * 2
        assert hints == ["2"] * 4
        server.rate_limit(None)
        client.chat.completions.create(model="m", messages=MESSAGES)


def test_rate_mode_without_a_hint_and_reset(clock):
    """retry_after=None refuses without Retry-After; reset() opens a fresh window."""
    with (
        FaultServer(clock=clock.now) as server,
        openai.OpenAI(base_url=server.base_url, api_key="sk-test-1234567", max_retries=0) as client,
    ):
        server.rate_limit(1, retry_after=None)
        client.chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="m", messages=MESSAGES)
        assert "retry-after" not in caught.value.response.headers
        server.reset()
        client.chat.completions.create(model="m", messages=MESSAGES)
        assert len(server.requests) == 1


def test_rate_mode_rejects_nonsense():
    """A rate limit needs a positive rate and a non-negative Retry-After."""
    with pytest.raises(ValueError, match="per_second > 0"):
        FaultServer(rate=0)
    with pytest.raises(ValueError, match="retry_after must be >= 0"):
        FaultServer(rate=1, retry_after=-1)


def test_a_short_hint_does_not_shorten_the_pacing_windows(server, client, clock):
    """A used-up token limit's hint (milliseconds) is when to come back; windows stay 1 s long."""
    headers = {
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "1m0s",  # one token back in 2 ms
    }
    server.script(Reply(429, headers=headers))

    @budget(key=f"paced-{uuid.uuid4()}", pace=True, total=60)
    @llm_retry(preset="deepseek")
    def ask():
        return client.chat.completions.create(model="m", messages=MESSAGES).id

    for _ in range(3):
        ask()
    refused, *sent = (r.at for r in server.requests)
    assert len(sent) == 3  # the first call's retry, then the second and third calls
    # The second and third calls go in the next one-second windows; the first opened 2 ms after
    # the refusal: the hint says when to come back, not how long a window is.
    assert sent[1] - refused == pytest.approx(1.002)
    assert sent[2] - sent[1] == pytest.approx(1.0)


def test_pacing_sends_no_more_than_the_server_admits(clock):
    """With pace=True, sequential calls learn the limit from one 429 and then keep to it."""
    key = f"paced-{uuid.uuid4()}"
    with (
        FaultServer(rate=5, retry_after=1, clock=clock.now) as server,
        openai.OpenAI(base_url=server.base_url, api_key="sk-test-1234567", max_retries=0) as client,
    ):

        @budget(key=key, pace=True, total=60)
        @llm_retry(preset="deepseek")
        def ask():
            return client.chat.completions.create(model="m", messages=MESSAGES).id

        with capture_events() as events:
            for _ in range(16):
                ask()
    statuses = [r.reply.status for r in server.requests]
    assert statuses.count(429) == 1  # the one that taught the limit
    assert len(statuses) == 17
    per_second: dict[int, int] = {}
    start = server.requests[0].at
    for request in server.requests:
        if request.reply.status == 200:
            second = int(request.at - start + 1e-9)
            per_second[second] = per_second.get(second, 0) + 1
    assert per_second == {0: 5, 1: 5, 2: 5, 3: 1}
    paced = [e for e in events if e["event"] == "llm_retry.throttled" and e["reason"] == "pacing"]
    assert len(paced) == 2  # the first call of each later window waited for it
