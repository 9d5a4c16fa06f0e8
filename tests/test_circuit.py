"""@circuit: rejects while open, probes when half-open, counts by the policy, stacks with retry."""

from __future__ import annotations

import asyncio
import re
import threading

import openai
import pytest

from helpers import HTTPError, flaky
from llm_retry import CircuitOpenError, PolicyError, circuit, llm_retry
from llm_retry.stores import MemoryStore
from llm_retry.testing import FaultServer, Reply, capture_events, no_wait


def failing(status: int):
    """A function that always raises HTTPError(status); counts calls."""

    def call(*args, **kwargs):
        call.calls += 1
        raise HTTPError(status)

    call.calls = 0
    return call


@pytest.fixture
def store():
    """A private store so circuits of different tests never meet."""
    return MemoryStore()


def test_opens_after_consecutive_failures_and_rejects_without_calling(store):
    """Five 503s open the circuit; the sixth call is rejected and the function is not called."""
    body = failing(503)
    breaker = circuit("svc", preset="deepseek", store=store)
    guarded = breaker(body)
    with no_wait(), capture_events() as events:
        for _ in range(5):
            with pytest.raises(HTTPError):
                guarded()
        with pytest.raises(CircuitOpenError) as caught:
            guarded()
    assert body.calls == 5
    error = caught.value
    assert (error.name, error.state, error.key) == ("svc", "open", None)
    assert error.retry_in == pytest.approx(2)  # the first break is short: 2 s, doubling to 60 s
    assert isinstance(error.__cause__, HTTPError)
    assert "probe allowed in 2.0 s" in str(error)
    opened = [e for e in events if e["event"] == "llm_retry.circuit_open"]
    assert len(opened) == 1
    assert opened[0]["failures"] == 5
    assert opened[0]["break_duration"] == 2
    assert "5 consecutive failures" in opened[0]["reason"]
    assert events[-1]["event"] == "llm_retry.circuit_rejected"
    assert breaker.state().state == "open"


def test_half_open_probe_success_closes(store):
    """After the break one probe goes through; its success closes the circuit."""
    breaker = circuit("svc", store=store, failures=1, break_duration=10)
    body = flaky(HTTPError(503))
    call = breaker(body)
    with no_wait() as clock, capture_events() as events:
        with pytest.raises(HTTPError):
            call()
        with pytest.raises(CircuitOpenError):
            call()
        clock.advance(10)
        assert call() == "ok"
        assert breaker.state().state == "closed"
        assert call() == "ok"
    assert body.calls == 3
    names = [e["event"] for e in events]
    assert names == [
        "llm_retry.circuit_open",
        "llm_retry.circuit_rejected",
        "llm_retry.circuit_half_open",
        "llm_retry.circuit_closed",
    ]


def test_probe_failure_reopens(store):
    """A failed probe opens the circuit for another break."""
    breaker = circuit("svc", store=store, failures=1, break_duration=10)
    guarded = breaker(failing(500))
    with no_wait() as clock:
        with pytest.raises(HTTPError):
            guarded()
        clock.advance(10)
        with pytest.raises(HTTPError):
            guarded()
        state = breaker.state()
    assert (state.state, state.retry_in) == ("open", 10)
    assert state.reason.startswith("probe failed: status 500")


@pytest.mark.parametrize(
    ("status", "opens"), [(400, False), (422, False), (429, False), (503, True)]
)
def test_what_counts_is_the_policy_classification(store, status, opens):
    """Caller errors and rate limits do not open the circuit; server errors do."""
    breaker = circuit("svc", preset="deepseek", store=store, failures=2)
    guarded = breaker(failing(status))
    with no_wait():
        for _ in range(4):
            with pytest.raises((HTTPError, CircuitOpenError)):
                guarded()
    assert (breaker.state().state == "open") is opens
    assert guarded.__wrapped__.calls == (2 if opens else 4)


@pytest.mark.parametrize("status", [401, 402])
def test_account_wide_failures_trip_at_once(store, status):
    """A 401 or 402 opens the DeepSeek circuit on the first occurrence: every call would fail."""
    breaker = circuit("deepseek", store=store)
    with no_wait(), pytest.raises(HTTPError):
        breaker(failing(status))()
    assert breaker.state().state == "open"
    assert f"status {status}" in breaker.state().reason


def test_per_key_circuits_are_independent(store):
    """A key function gives one circuit per model; one model's outage does not block another."""
    breaker = circuit("openai", store=store, failures=1, key=lambda *a, model, **k: model)

    @breaker
    def complete(*, model: str) -> str:
        if model == "down":
            raise HTTPError(503)
        return model

    with no_wait():
        with pytest.raises(HTTPError):
            complete(model="down")
        with pytest.raises(CircuitOpenError) as caught:
            complete(model="down")
        assert complete(model="up") == "up"
    assert caught.value.key == "down"
    assert "circuit 'openai[down]' is open" in str(caught.value)
    assert breaker.state("down").state == "open"
    assert breaker.state("up").state == "closed"
    assert breaker.state().state == "closed"


def test_per_key_memory_is_bounded():
    """A store keeps at most max_keys circuits, forgetting the least recently used."""
    small = MemoryStore(max_keys=10)
    breaker = circuit("many", store=small, failures=5, key=lambda i: i)
    guarded = breaker(failing(503))
    with no_wait():
        for i in range(100):
            with pytest.raises(HTTPError):
                guarded(i)
    assert len(small) == 10


def test_clean_successes_store_nothing(store):
    """A closed circuit that only sees successes keeps no state at all."""
    breaker = circuit("quiet", store=store)
    guarded = breaker(lambda: 1)
    for _ in range(100):
        guarded()
    assert len(store) == 0


def test_manual_open_close_reset_and_state(store):
    """open(), close() and reset() act at once and are events."""
    breaker = circuit("svc", store=store)
    calls = []
    guarded = breaker(lambda: calls.append(1))
    with no_wait(), capture_events() as events:
        breaker.open(reason="maintenance")
        with pytest.raises(CircuitOpenError):
            guarded()
        assert breaker.state().reason == "maintenance"
        breaker.close()
        guarded()
        breaker.reset()
    assert calls == [1]
    assert [e["event"] for e in events] == [
        "llm_retry.circuit_open",
        "llm_retry.circuit_rejected",
        "llm_retry.circuit_closed",
    ]


def test_same_name_shares_state(store):
    """Two Circuit objects with the same name and store are one circuit."""
    circuit("shared", store=store).open()
    assert circuit("shared", store=store).state().state == "open"


def test_bad_settings_fail_at_decoration():
    """Unknown or impossible settings raise PolicyError when the circuit is made."""
    with pytest.raises(PolicyError, match="unknown circuit setting failurs"):
        circuit("x", failurs=3)
    with pytest.raises(PolicyError, match="failures must be a whole number"):
        circuit("x", failures=0)
    with pytest.raises(PolicyError, match="needs a name"):
        circuit("")


def test_async_functions_and_methods(store):
    """Async functions stay coroutine functions; methods keep self."""
    breaker = circuit("svc", store=store, failures=1)

    class Client:
        @breaker
        async def ask(self, fail: bool) -> str:
            if fail:
                raise HTTPError(503)
            return "ok"

    client = Client()

    async def main() -> None:
        assert await client.ask(False) == "ok"
        with pytest.raises(HTTPError):
            await client.ask(True)
        with pytest.raises(CircuitOpenError):
            await client.ask(False)

    with no_wait():
        asyncio.run(main())


def test_cancellation_does_not_count(store):
    """A cancelled call is neither success nor failure."""
    breaker = circuit("svc", store=store, failures=1)

    @breaker
    async def call() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(call())
    assert breaker.state().state == "closed"


def half_open_breaker(store, k):
    """A circuit that is open with its break over, so the next callers race to probe."""
    breaker = circuit("race", store=store, failures=1, break_duration=5, half_open_probes=k)
    breaker.open()
    return breaker


@pytest.mark.parametrize("k", [1, 3])
def test_thousand_threads_racing_half_open_admit_exactly_k(store, k):
    """1000 threads released at once into a half-open circuit: exactly K probes run."""
    with no_wait() as clock:
        breaker = half_open_breaker(store, k)
        clock.advance(5)
        entered, release = [], threading.Event()

        @breaker
        def probe() -> None:
            entered.append(1)
            release.wait(10)

        start = threading.Barrier(1000)
        rejected = []

        def caller() -> None:
            start.wait()
            try:
                probe()
            except CircuitOpenError:
                rejected.append(1)

        threads = [threading.Thread(target=caller) for _ in range(1000)]
        for t in threads:
            t.start()
        while len(entered) + len(rejected) < 1000 and len(rejected) < 1000 - k:
            threading.Event().wait(0.001)
        release.set()
        for t in threads:
            t.join()
    assert (len(entered), len(rejected)) == (k, 1000 - k)
    assert breaker.state().state == "closed"


@pytest.mark.parametrize("k", [1, 2])
def test_thousand_tasks_racing_half_open_admit_exactly_k(store, k):
    """1000 asyncio tasks racing a half-open circuit: exactly K probes run, K successes close it."""

    async def main() -> tuple[int, int]:
        with no_wait() as clock:
            breaker = half_open_breaker(store, k)
            clock.advance(5)
            gate = asyncio.Event()
            entered = 0

            @breaker
            async def probe() -> None:
                nonlocal entered
                entered += 1
                await gate.wait()

            tasks = [asyncio.create_task(probe()) for _ in range(1000)]
            await asyncio.sleep(0)
            gate.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            rejected = sum(isinstance(r, CircuitOpenError) for r in results)
            assert breaker.state().state == "closed"
            return entered, rejected

    assert asyncio.run(main()) == (k, 1000 - k)


def test_llm_retry_outside_waits_for_the_probe_instead_of_burning_attempts(store):
    """With @llm_retry outside, an open circuit makes the retry wait until the probe time."""
    outcomes = [HTTPError(503), HTTPError(503), None]

    @llm_retry(preset="deepseek", max_retry_after=60)
    @circuit("inner", store=store, failures=2, break_duration=30)
    def call() -> str:
        outcome = outcomes.pop(0)
        if outcome:
            raise outcome
        return "ok"

    with no_wait() as clock, capture_events() as events:
        assert call() == "ok"
    scheduled = [e for e in events if e["event"] == "llm_retry.retry_scheduled"]
    assert scheduled[-1]["source"] == "circuit"
    # the circuit opened after the first wait; the last wait ends exactly at its probe time
    assert sum(clock.waits) == pytest.approx(clock.waits[0] + 30)
    assert not outcomes


def test_llm_retry_outside_fails_fast_when_the_probe_is_too_far(store):
    """If the probe time is past max_retry_after, the retry layer gives up at once."""
    body = failing(503)
    guarded = llm_retry(preset="deepseek", max_retry_after=5)(
        circuit("inner", store=store, failures=1, break_duration=60)(body)
    )
    with no_wait(), pytest.raises(CircuitOpenError) as caught:
        guarded()
    assert body.calls == 1
    note = caught.value.__notes__[-1]
    assert re.search(
        r"the circuit allows a probe in (5\d|60)\.\d s \(circuit\), more than max_retry_after 5 s",
        note,
    )
    assert isinstance(caught.value.__cause__, HTTPError)


def test_circuit_outside_counts_whole_retry_sequences(store):
    """With @circuit outside, one exhausted retry sequence is one failure."""
    body = failing(503)
    breaker = circuit("outer", store=store, failures=2)
    guarded = breaker(llm_retry(preset="deepseek", attempts=3)(body))
    with no_wait():
        with pytest.raises(HTTPError):
            guarded()
        assert breaker.state().failures == 1
        with pytest.raises(HTTPError):
            guarded()
        with pytest.raises(CircuitOpenError):
            guarded()
    assert body.calls == 6


def test_real_sdk_outage_through_the_fault_server(store):
    """A real openai client against a server answering 503: the circuit stops the requests."""
    with (
        FaultServer() as server,
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client,
    ):
        server.default = Reply(503)

        @circuit("deepseek", store=store, failures=3, break_duration=30)
        def ask() -> str:
            r = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}]
            )
            return r.choices[0].message.content

        with no_wait() as clock:
            for _ in range(10):
                with pytest.raises((openai.InternalServerError, CircuitOpenError)):
                    ask()
            assert len(server.requests) == 3
            server.default = Reply(200, content="back")
            clock.advance(30)
            assert ask() == "back"
    assert len(server.requests) == 4
