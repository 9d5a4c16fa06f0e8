"""Testing switches: no-wait mode on a virtual clock, and captured events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llm_retry.events import subscribe
from llm_retry.run import clock as _clock

__all__ = ["capture_events", "no_wait"]


@contextmanager
def no_wait(*, start: float = 1000.0) -> Iterator[_clock.VirtualClock]:
    """Skip every wait llm-retry would sleep, and record it; restore the real clock on exit.

    Inside the block time is virtual: it moves only by the waits that were skipped (and by
    ``clock.advance(seconds)``), so elapsed times and deadlines are exact and repeatable.

    >>> from llm_retry.testing import no_wait
    >>> with no_wait() as clock:
    ...     pass  # call decorated functions here
    >>> clock.waits
    []

    Yields:
        The virtual clock: ``clock.waits`` lists the skipped waits in seconds, in order.
    """
    clock = _clock.VirtualClock(start)
    previous = _clock.use(clock)
    try:
        yield clock
    finally:
        _clock.use(previous)


@contextmanager
def capture_events() -> Iterator[list[dict[str, Any]]]:
    """Collect every llm-retry event emitted inside the block, as redacted dicts.

    Works whatever structlog's configuration; the events are still logged as usual.

    Yields:
        A list that fills with ``{"event": ..., "log_level": ..., **fields}`` dicts.
    """
    events: list[dict[str, Any]] = []
    unsubscribe = subscribe(events.append)
    try:
        yield events
    finally:
        unsubscribe()
