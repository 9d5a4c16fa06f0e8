"""The failover of a shared store, as a model: what it knows of each key, through outages.

No server is needed: `Failover` is told what the server said (``seen``) and how it failed; the
model is a dict of the last values the server gave plus the changes made during an outage.
"""

from __future__ import annotations

import redis
from hypothesis import given
from hypothesis import strategies as st

from llm_retry.stores import JSONCodec
from llm_retry.stores.failover import Contended, Failover, is_busy
from llm_retry.testing import capture_events

NUMBER: JSONCodec[int] = JSONCodec(lambda n: n, int)
KEYS = st.sampled_from(["a", "b", "c"])
STEPS = st.one_of(
    st.tuples(st.just("seen"), KEYS, st.integers(0, 9)),
    st.tuples(st.just("down"), KEYS, st.integers(1, 3)),
    st.tuples(st.just("busy"), KEYS, st.integers(1, 3)),
)


@given(st.lists(STEPS, max_size=40))
def test_what_an_outage_goes_on_with_is_the_last_known_state(steps):
    """Down: updates apply to the last known value and are kept. Busy: they apply and are kept
    until the server is read again. Back up: keys changed while down are forgotten, the others
    are still known."""
    failover = Failover("redis", retry_interval=60.0)
    known: dict[str, int] = {}
    changed: set[str] = set()
    down = False
    with capture_events():
        for kind, key, n in steps:
            if kind == "seen":
                if down:
                    for k in changed:
                        known.pop(k, None)
                    changed.clear()
                    down = False
                failover.seen(key, n, 0)
                known[key] = n
            else:
                error = redis.ConnectionError("refused") if kind == "down" else Contended(key)
                before = known.get(key, 0)
                assert failover.update(key, lambda v, n=n: (v, v + n), 0, NUMBER, error) == before
                known[key] = before + n
                if kind == "down":
                    down = True
                    changed.add(key)
            for k in ("a", "b", "c"):
                assert (failover.known.peek(k, NUMBER) or 0) == known.get(k, 0), (k, steps)
            assert failover.available is not down


def test_busy_is_a_full_pool_or_a_lost_race_and_nothing_else():
    """The errors that mean "busy", not "down"."""
    assert is_busy(redis.exceptions.MaxConnectionsError("Too many connections"))
    assert is_busy(redis.ConnectionError("No connection available."))
    assert is_busy(Contended("k"))
    assert not is_busy(redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Refused."))
    assert not is_busy(redis.TimeoutError("Timeout reading from socket"))
    assert not is_busy(redis.exceptions.ReadOnlyError("READONLY"))
    assert not is_busy(OSError("reset"))
