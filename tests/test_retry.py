"""@llm_retry on plain callables: sync, async, methods; notes, never-retried errors, events."""

from __future__ import annotations

import asyncio
import inspect
from typing import get_type_hints

import pytest

from helpers import HTTPError, flaky
from llm_retry import Backoff, Fail, Policy, PolicyError, Retry, llm_retry
from llm_retry.testing import capture_events, no_wait

POLICY = Policy(
    name="test",
    statuses={
        429: Retry("rate limited"),
        503: Retry("overloaded"),
        402: Fail("no money", fix="top up"),
    },
    backoff=Backoff(base=1, cap=8, jitter="none"),
    attempts=4,
)


def test_success_first_time_makes_one_call_and_no_events():
    """The happy path calls once, passes arguments through and emits nothing."""
    seen = []

    @llm_retry(policy=POLICY)
    def ask(prompt, *, n=1):
        seen.append((prompt, n))
        return prompt * n

    with capture_events() as events:
        assert ask("a", n=3) == "aaa"
    assert seen == [("a", 3)]
    assert events == []


def test_retries_then_succeeds_with_backoff_waits():
    """Retryable failures are retried with exponential waits; success is reported once."""
    body = flaky(HTTPError(503), HTTPError(503))
    ask = llm_retry(policy=POLICY)(body)
    with no_wait() as clock, capture_events() as events:
        assert ask() == "ok"
    assert body.calls == 3
    assert clock.waits == [1.0, 2.0]
    names = [e["event"] for e in events]
    assert names == [
        "llm_retry.attempt_failed",
        "llm_retry.retry_scheduled",
        "llm_retry.attempt_failed",
        "llm_retry.retry_scheduled",
        "llm_retry.recovered",
    ]
    assert events[-1]["attempts"] == 3
    assert events[-1]["elapsed"] == 3.0


def test_non_retryable_error_is_raised_once_with_a_note():
    """A Fail rule means one attempt and the original exception, noted with reason and fix."""
    error = HTTPError(402)
    body = flaky(error)
    ask = llm_retry(policy=POLICY)(body)
    with no_wait() as clock, pytest.raises(HTTPError) as caught:
        ask()
    assert caught.value is error
    assert body.calls == 1
    assert clock.waits == []
    (note,) = caught.value.__notes__
    assert "gave up after 1 attempt" in note
    assert "status 402: no money (fail, rule status 402); fix: top up" in note


def test_exhausted_raises_the_last_original_error_with_a_note():
    """Running out of attempts re-raises the last error with a summary note."""
    last = HTTPError(503)
    ask = llm_retry(policy=POLICY)(flaky(HTTPError(503), HTTPError(503), HTTPError(503), last))
    with no_wait(), pytest.raises(HTTPError) as caught:
        ask()
    assert caught.value is last
    (note,) = caught.value.__notes__
    assert note.startswith("llm-retry [test]: gave up after 4 attempts in 7.0 s: status 503")
    assert note.endswith("attempts exhausted (4 of 4)")


def test_retry_after_beyond_cap_gives_up_at_once():
    """A Retry-After longer than max_retry_after gives up now instead of sleeping."""
    policy = POLICY.evolve(max_retry_after=30)
    body = flaky(HTTPError(429, {"Retry-After": "3600"}))
    with no_wait() as clock, pytest.raises(HTTPError) as caught:
        llm_retry(policy=policy)(body)()
    assert body.calls == 1
    assert clock.waits == []
    assert (
        "asked to wait 3600.0 s (retry-after), more than max_retry_after 30 s"
        in caught.value.__notes__[0]
    )


def test_retry_after_is_a_floor_on_the_recorded_wait():
    """The wait after a 429 with Retry-After: 5 is 5 s even though backoff says 1 s."""
    body = flaky(HTTPError(429, {"Retry-After": "5"}))
    with no_wait() as clock, capture_events() as events:
        assert llm_retry(policy=POLICY)(body)() == "ok"
    assert clock.waits == [5.0]
    (scheduled,) = [e for e in events if e["event"] == "llm_retry.retry_scheduled"]
    assert scheduled["source"] == "retry-after"
    assert scheduled["backoff"] == 1.0
    assert scheduled["retry_after"] == 5.0


def test_garbage_retry_after_is_ignored_with_reason_in_the_event():
    """An unreadable header falls back to backoff and the event says why."""
    body = flaky(HTTPError(429, {"Retry-After": "later"}))
    with no_wait() as clock, capture_events() as events:
        llm_retry(policy=POLICY)(body)()
    assert clock.waits == [1.0]
    failed = events[0]
    assert failed["ignored_headers"] == [
        "retry-after ignored: 'later' is neither a number of seconds nor an HTTP date"
    ]


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(1), GeneratorExit()])
def test_base_exceptions_are_never_retried(error):
    """Interrupts and exits pass straight through, un-noted, after one call."""
    body = flaky(error)
    with no_wait(), pytest.raises(type(error)) as caught:
        llm_retry(policy=POLICY.evolve(otherwise=Retry()))(body)()
    assert body.calls == 1
    assert not getattr(caught.value, "__notes__", None)


def test_base_exception_after_a_retry_is_not_retried():
    """A KeyboardInterrupt on a later attempt stops the loop at once."""
    body = flaky(HTTPError(503), KeyboardInterrupt())
    with no_wait(), pytest.raises(KeyboardInterrupt):
        llm_retry(policy=POLICY)(body)()
    assert body.calls == 2


def test_unclassified_exception_follows_otherwise():
    """An exception no rule matches uses `otherwise` (Fail by default)."""
    body = flaky(ValueError("bug"))
    with no_wait(), pytest.raises(ValueError, match="bug"):
        llm_retry(policy=POLICY)(body)()
    assert body.calls == 1


def test_async_retries_and_keeps_coroutine_function():
    """Async functions stay coroutine functions and retry the same way."""
    calls = []

    @llm_retry(policy=POLICY)
    async def ask(prompt: str) -> str:
        calls.append(prompt)
        if len(calls) < 3:
            raise HTTPError(503)
        return prompt

    assert inspect.iscoroutinefunction(ask)
    with no_wait() as clock:
        assert asyncio.run(ask("hi")) == "hi"
    assert calls == ["hi"] * 3
    assert clock.waits == [1.0, 2.0]


def test_async_non_retryable_is_noted():
    """Async Fail rules raise the original once with the note."""

    @llm_retry(policy=POLICY)
    async def ask() -> None:
        raise HTTPError(402)

    with no_wait(), pytest.raises(HTTPError) as caught:
        asyncio.run(ask())
    assert "fix: top up" in caught.value.__notes__[0]


def test_cancel_during_a_wait_ends_at_once():
    """Cancelling a task while it waits between attempts cancels it; no further attempt runs."""
    calls = []

    @llm_retry(policy=POLICY.evolve(backoff=Backoff(base=3600, cap=3600, jitter="none")))
    async def ask() -> None:
        calls.append(1)
        raise HTTPError(503)

    async def main() -> None:
        task = asyncio.create_task(ask())
        while not calls:
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)

    asyncio.run(main())
    assert calls == [1]


def test_cancelled_error_from_the_call_is_not_retried():
    """CancelledError raised by the wrapped coroutine propagates after one attempt."""
    calls = []

    @llm_retry(policy=POLICY.evolve(otherwise=Retry()))
    async def ask() -> None:
        calls.append(1)
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(ask())
    assert calls == [1]


class Client:
    """A class with every kind of method decorated."""

    def __init__(self):
        self.calls = 0

    @llm_retry(policy=POLICY)
    def method(self, x: int) -> int:
        self.calls += 1
        if self.calls == 1:
            raise HTTPError(503)
        return x * 2

    @classmethod
    @llm_retry(policy=POLICY)
    def klass(cls, x: int) -> str:
        return f"{cls.__name__}:{x}"

    @staticmethod
    @llm_retry(policy=POLICY)
    def static(x: int) -> int:
        return x + 1

    @llm_retry(policy=POLICY)
    async def amethod(self, x: int) -> int:
        self.calls += 1
        if self.calls == 1:
            raise HTTPError(503)
        return x


def test_methods_classmethods_staticmethods():
    """Methods bind self, classmethods cls, staticmethods nothing; retries work on methods."""
    client = Client()
    with no_wait():
        assert client.method(4) == 8
        assert client.calls == 2
        assert Client.klass(1) == "Client:1"
        assert client.static(1) == 2
        assert Client.static(2) == 3
        other = Client()
        assert asyncio.run(other.amethod(5)) == 5
        assert other.calls == 2
    assert inspect.iscoroutinefunction(Client.amethod)
    assert inspect.iscoroutinefunction(other.amethod)


def test_signature_hints_and_name_are_kept():
    """The wrapper reports the wrapped function's signature, hints, name and docstring."""

    def ask(prompt: str, *, temperature: float = 0.0) -> str:
        """Ask."""
        return prompt

    wrapped = llm_retry(ask)
    assert inspect.signature(wrapped) == inspect.signature(ask)
    assert get_type_hints(wrapped) == get_type_hints(ask)
    assert wrapped.__name__ == "ask"
    assert wrapped.__doc__ == "Ask."
    assert wrapped.__wrapped__ is ask


def test_bare_decorator_uses_the_generic_preset():
    """Bare @llm_retry retries 429/5xx/408/409 and fails other 4xx."""
    with no_wait():
        assert (
            llm_retry(flaky(HTTPError(429), HTTPError(500), HTTPError(408), HTTPError(409)))()
            == "ok"
        )
        body = flaky(HTTPError(404))
        with pytest.raises(HTTPError):
            llm_retry(body)()
        assert body.calls == 1


def test_transport_failures_are_retried_by_default():
    """Timeouts and connection errors (stdlib ones here) are retried by the generic policy."""
    body = flaky(TimeoutError("read timed out"), ConnectionResetError("reset"))
    with no_wait():
        assert llm_retry(body)() == "ok"
    assert body.calls == 3


def test_overrides_apply_on_top_of_the_policy():
    """Keyword overrides change the policy for this function only."""
    body = flaky(*[HTTPError(503)] * 10)
    with no_wait(), pytest.raises(HTTPError):
        llm_retry(policy=POLICY, attempts=2)(body)()
    assert body.calls == 2


def test_bad_decorator_arguments_fail_at_decoration():
    """Invalid arguments raise PolicyError when decorating, not on the first error."""
    with pytest.raises(PolicyError, match="not both"):
        llm_retry(preset="openai", policy=POLICY)
    with pytest.raises(PolicyError, match="must be a Policy"):
        llm_retry(policy={"attempts": 3})  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="unknown policy setting tries"):
        llm_retry(policy=POLICY, tries=3)
    with pytest.raises(PolicyError, match="unknown preset 'nope'; presets: anthropic, deepseek"):
        llm_retry(preset="nope")


def test_events_redact_secrets_from_messages():
    """API keys and Authorization values never reach an event."""
    error = HTTPError(503)
    error.args = ("failed with key sk-live1234567890abcdef and Authorization: Bearer abc.def-ghi",)
    with no_wait(), capture_events() as events:
        llm_retry(policy=POLICY)(flaky(error))()
    message = events[0]["message"]
    assert "sk-live" not in message
    assert "abc.def" not in message
    assert message.count("***") == 2


def test_attempt_failed_event_fields():
    """The failed-attempt event carries the documented classification fields."""
    with no_wait(), capture_events() as events, pytest.raises(HTTPError):
        llm_retry(policy=POLICY)(flaky(HTTPError(402)))()
    failed, gave_up = events
    assert failed["event"] == "llm_retry.attempt_failed"
    assert failed["log_level"] == "warning"
    assert {
        k: failed[k] for k in ("attempt", "status", "classification", "rule", "reason", "fix")
    } == {
        "attempt": 1,
        "status": 402,
        "classification": "fail",
        "rule": "status 402",
        "reason": "no money",
        "fix": "top up",
    }
    assert failed["error"] == "helpers.HTTPError"
    assert failed["callable"].endswith("flaky.<locals>.call")
    assert gave_up["event"] == "llm_retry.gave_up"
    assert gave_up["attempts"] == 1
