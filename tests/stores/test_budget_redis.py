"""Budgets shared through a real redis-server: retry budgets and blocks across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid

import pytest

from helpers import HTTPError, run_python
from llm_retry import Backoff, Policy, Retry, budget, llm_retry
from llm_retry.decide.retry_budget import Limit, RetryBudget
from llm_retry.stores import RedisStore
from llm_retry.testing import capture_events, no_wait

POLICY = Policy(
    name="storm",
    statuses={503: Retry("overloaded")},
    backoff=Backoff(base=0, cap=0),
    attempts=5,
)


pytestmark = pytest.mark.usefixtures("fresh_budgets")


def python_json(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (another process) and return the JSON it prints."""
    return json.loads(run_python("-c", textwrap.dedent(code), timeout=60).strip().splitlines()[-1])


STORM = """
    import json, threading, structlog
    from llm_retry import Backoff, Policy, Retry, budget, llm_retry
    from llm_retry.stores import RedisStore

    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    attempts, barrier = [], threading.Barrier({callers})

    class Overloaded(Exception):
        status_code = 503

    @budget({name!r}, store=RedisStore({url!r}), retry_ratio=0.2, min_retries_per_sec=1)
    @llm_retry(policy=Policy(statuses={{503: Retry()}}, backoff=Backoff(0, 0), attempts=5))
    def ask():
        attempts.append(1)
        if len(attempts) <= {callers}:
            barrier.wait(timeout=30)
        raise Overloaded()

    def caller():
        try:
            ask()
        except Overloaded:
            pass

    threads = [threading.Thread(target=caller) for _ in range({callers})]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    print(json.dumps({{"retries": len(attempts) - {callers}}}))
"""


def test_a_storm_in_two_processes_shares_one_retry_budget(redis_server):
    """Two processes failing together retry no more than the budget allows both together."""
    name = f"storm-{uuid.uuid4()}"
    code = STORM.format(callers=50, name=name, url=redis_server.url)
    procs = [
        subprocess.Popen(  # noqa: S603 - this interpreter, our own code
            [sys.executable, "-c", textwrap.dedent(code)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    retries = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        retries.append(json.loads(out.strip().splitlines()[-1])["retries"])
    allowed_together = 0.2 * 100 + 1 * 10
    allowed_alone = 0.2 * 50 + 1 * 10
    assert sum(retries) <= allowed_together
    assert sum(retries) < 2 * allowed_alone  # unshared budgets would have allowed 40
    assert min(retries) > 0


def test_a_block_set_in_another_process_holds_calls_here(redis_server):
    """A 429's block recorded by another process makes this process's call wait it out."""
    key = f"k-{uuid.uuid4()}"
    python_json(
        f"""
        import json, time
        from llm_retry.stores import RedisStore
        from llm_retry.run.keys import key_throttle
        block = key_throttle(RedisStore({redis_server.url!r}), {key!r}).extend(30, time.time())
        print(json.dumps({{"until": block.until}}))
        """
    )
    calls = []

    @budget(key=key, store=RedisStore(redis_server.url), total=60)
    @llm_retry(policy=POLICY)
    def ask():
        calls.append(1)
        return "ok"

    with no_wait() as clock, capture_events() as events:
        assert ask() == "ok"
    assert len(clock.waits) == 1
    assert 29 < clock.waits[0] <= 30
    (throttled,) = [e for e in events if e["event"] == "llm_retry.throttled"]
    assert throttled["hint"] == 30


def test_deposits_from_one_store_are_seen_by_another(redis_server):
    """Calls counted by one process reach Redis by the next second and count for another."""
    name = f"shared-{uuid.uuid4()}"
    here, there = RedisStore(redis_server.url), RedisStore(redis_server.url)
    writer, reader = RetryBudget(name, here), RetryBudget(name, there)
    for _ in range(10):
        writer.deposit(1000.2, 10)
    writer.deposit(1001.0, 10)  # a new second: the first second's ten calls are written
    answer = reader.withdraw(1001.5, Limit(ratio=0.1, min_retries_per_sec=0, window=10))
    assert answer.calls == 10
    assert answer.allowed


def test_calls_go_on_with_local_state_when_redis_is_down(redis_server):
    """With Redis unreachable, budgets work in this process and one warning event says so."""
    store = RedisStore(redis_server.url, retry_interval=60)
    redis_server.stop()
    attempts = []

    @budget(f"down-{uuid.uuid4()}", store=store, retry_ratio=0, min_retries_per_sec=0.1)
    @llm_retry(policy=POLICY)
    def ask():
        attempts.append(1)
        raise HTTPError(503)

    with no_wait(), capture_events() as events:
        for _ in range(2):
            with pytest.raises(HTTPError):
                ask()
    assert len(attempts) == 3  # one retry per 10 s window, kept locally
    down = [e for e in events if e["event"] == "llm_retry.store_unavailable"]
    assert len(down) == 1
