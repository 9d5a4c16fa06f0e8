"""Testing switches: no-wait mode on a virtual clock, and captured events.

Both are plain context-manager objects rather than ``@contextmanager`` generators: an exception
leaving a generator-based block gets its ``__traceback__`` assigned by ``contextlib``, which
fails (and replaces the exception) for a frozen-dataclass exception.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

from llm_retry.events import subscribe
from llm_retry.run import clock as _clock

__all__ = ["capture_events", "no_wait"]

T = TypeVar("T")


class _Block(Generic[T]):
    """A ``with`` block: ``enter()`` gives the value bound by ``as``, ``leave()`` undoes it."""

    def __init__(self, enter: Callable[[], tuple[T, Callable[[], object]]]) -> None:
        self._enter = enter
        self._leave: Callable[[], object] | None = None

    def __enter__(self) -> T:
        value, self._leave = self._enter()
        return value

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._leave is not None:
            self._leave()


def no_wait(*, start: float = 1000.0) -> _Block[_clock.VirtualClock]:
    """Skip every wait llm-retry would sleep, and record it; restore the real clock on exit.

    Inside the block time is virtual: it moves only by the waits that were skipped (and by
    ``clock.advance(seconds)``), so elapsed times and deadlines are exact and repeatable.

    >>> from llm_retry.testing import no_wait
    >>> with no_wait() as clock:
    ...     pass  # call decorated functions here
    >>> clock.waits
    []

    Returns:
        A context manager whose ``as`` value is the virtual clock: ``clock.waits`` lists the
        skipped waits in seconds, in order.
    """

    def enter() -> tuple[_clock.VirtualClock, Callable[[], object]]:
        clock = _clock.VirtualClock(start)
        previous = _clock.use(clock)
        return clock, lambda: _clock.use(previous)

    return _Block(enter)


def capture_events() -> _Block[list[dict[str, Any]]]:
    """Collect every llm-retry event emitted inside the block, as redacted dicts.

    Works whatever structlog's configuration; the events are still logged as usual.

    Returns:
        A context manager whose ``as`` value is a list that fills with
        ``{"event": ..., "log_level": ..., **fields}`` dicts.
    """

    def enter() -> tuple[list[dict[str, Any]], Callable[[], object]]:
        events: list[dict[str, Any]] = []
        return events, subscribe(events.append)

    return _Block(enter)
