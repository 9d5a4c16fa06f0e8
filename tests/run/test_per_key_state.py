"""Per-key state is bounded and lives in one default store.

A budget or circuit keyed by a function of the call's arguments (a model, a tenant) must not
grow without limit over an unbounded set of keys, and resetting the process's state (as tests
do) must reset all of it.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_retry import budget, circuit, llm_retry
from llm_retry.run import keys
from llm_retry.stores import JSONCodec, MemoryStore
from llm_retry.testing import capture_events

pytestmark = pytest.mark.usefixtures("fresh_budgets")

NUMBER: JSONCodec[int] = JSONCodec(lambda n: n, int)


def test_budget_keyed_by_a_function_keeps_at_most_max_keys_throttles(monkeypatch):
    """500 distinct keys through a budget bounded at 50: 50 throttles kept, the newest."""
    monkeypatch.setattr(keys, "MAX_KEYS", 50)

    @budget(total=5, key=lambda tenant: f"tenant-{tenant}")
    def call(tenant: int) -> int:
        return tenant

    for tenant in range(500):
        assert call(tenant) == tenant
    kept = [name for (_, name) in keys._throttles]
    assert len(kept) == 50
    assert kept == [f"tenant-{t}" for t in range(450, 500)]


def test_a_key_in_use_is_kept_over_older_ones(monkeypatch):
    """Least recently *used* goes first: a key called again is kept."""
    monkeypatch.setattr(keys, "MAX_KEYS", 3)
    store = MemoryStore()
    hot = keys.key_throttle(store, "hot")
    for name in ("a", "b", "c", "d"):
        assert keys.key_throttle(store, "hot") is hot
        keys.key_throttle(store, name)
    assert [name for (_, name) in keys._throttles] == ["c", "hot", "d"]


def test_retry_budgets_are_bounded_too(monkeypatch):
    """Named retry budgets share the bound."""
    monkeypatch.setattr(keys, "MAX_KEYS", 10)
    store = MemoryStore()
    for i in range(100):
        keys.retry_budget(store, f"b{i}")
    assert len(keys._budgets) == 10


@given(st.lists(st.integers(0, 30), max_size=200), st.integers(1, 8))
def test_memory_store_keeps_the_most_recent_keys(touched, bound):
    """Whatever keys are written, a `MemoryStore` holds at most ``max_keys``: the last ones."""
    store = MemoryStore(max_keys=bound)
    for k in touched:
        store.update(str(k), lambda n: (None, n + 1), 0, NUMBER)
    recent: list[str] = []
    for k in reversed(touched):
        if str(k) not in recent:
            recent.append(str(k))
    assert len(store) == min(bound, len(recent))
    assert all(store.peek(k, NUMBER) for k in recent[:bound])


def test_circuits_and_budgets_share_one_default_store():
    """There is one default store, and resetting the process's state resets circuits too."""
    breaker = circuit("one-store")
    assert breaker.store is keys.default_store()
    assert budget(total=1).store is keys.default_store()
    breaker.open()
    assert breaker.state().state == "open"
    keys.reset()
    assert breaker.state().state == "closed"


def test_memory_store_async_methods_are_its_sync_ones():
    """`MemoryStore.apeek`/`aupdate` answer as `peek`/`update` do."""
    store = MemoryStore()

    async def main() -> int | None:
        assert await store.aupdate("n", lambda n: (n, n + 2), 0, NUMBER) == 0
        found: int | None = await store.apeek("n", NUMBER)
        return found

    assert asyncio.run(main()) == 2
    assert store.peek("n", NUMBER) == 2


class SyncOnlyStore:
    """A store written before stores had async methods: only ``peek`` and ``update``."""

    def __init__(self) -> None:
        self.inner = MemoryStore()

    def peek(self, key, codec):
        return self.inner.peek(key, codec)

    def update(self, key, fn, default, codec):
        return self.inner.update(key, fn, default, codec)


def test_a_store_without_async_methods_still_works_in_async_code():
    """Circuits and budgets on a store of one's own with only the sync methods: async calls
    use those, as before."""
    store = SyncOnlyStore()
    breaker = circuit("sync-only", store=store, failures=1)  # type: ignore[arg-type]

    class Down(Exception):
        status_code = 503

    @budget(total=5, key="k", store=store)  # type: ignore[arg-type]
    @llm_retry(attempts=1)
    @breaker
    async def down() -> None:
        raise Down

    async def main() -> None:
        with pytest.raises(Down):
            await down()

    with capture_events():
        asyncio.run(main())
    assert breaker.state().state == "open"
