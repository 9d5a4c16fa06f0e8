"""Rate mode of the fault server: admit so many requests per second, refuse the rest with a 429.

Windows are fixed and consecutive, ``window`` seconds long, the first starting at the first
request after the limit is set (or the server reset): "20 per second" admits requests 1-20 of
each window and answers the others ``429`` with ``Retry-After`` (when ``retry_after`` is given),
as the providers' per-minute and per-second limits do.

Concurrency mode (`ConcurrencyLimit`) holds each admitted request for a while and refuses the
requests beyond ``limit`` in flight at once with a ``429`` and no rate header, as DeepSeek does.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm_retry.testing._replies import Reply

__all__ = ["ConcurrencyLimit", "RateLimit"]


class RateLimit:
    """Admit ``per_second * window`` requests per window; not thread-safe (the server locks).

    Args:
        per_second: requests admitted per second (at least one per window).
        retry_after: the ``Retry-After`` of the refusals in seconds, or ``None`` for none.
        window: the window's length in seconds.
        headers: refusals also carry OpenAI's rate headers (``x-ratelimit-limit-requests``,
            ``x-ratelimit-remaining-requests: 0``, ``x-ratelimit-reset-requests``), which tell
            a rate limit from a concurrency limit.
    """

    def __init__(
        self,
        per_second: float,
        retry_after: float | None,
        window: float = 1.0,
        *,
        headers: bool = False,
    ) -> None:
        if not per_second > 0 or not window > 0:
            msg = f"rate limits need per_second > 0 and window > 0, not {per_second}, {window}"
            raise ValueError(msg)
        if retry_after is not None and retry_after < 0:
            msg = f"retry_after must be >= 0 or None, not {retry_after!r}"
            raise ValueError(msg)
        self.capacity = max(1, math.floor(per_second * window))
        self.headers = headers
        self.retry_after = retry_after
        self.window = window
        self._anchor: float | None = None
        self._index = -1
        self._count = 0

    def refusal(self, now: float) -> Reply | None:
        """Count a request at ``now``: ``None`` if admitted, else the 429 to answer it with."""
        from llm_retry.testing._replies import Reply  # noqa: PLC0415 - the replies import us

        if self._anchor is None:
            self._anchor = now
        index = math.floor((now - self._anchor) / self.window)
        if index != self._index:
            self._index, self._count = index, 0
        if self._count < self.capacity:
            self._count += 1
            return None
        refusal = Reply.rate_limited(self.retry_after)
        if not self.headers:
            return refusal
        assert self._anchor is not None  # noqa: S101 - set above
        reset = self._anchor + (index + 1) * self.window - now
        limits = {  # OpenAI's names; the limit is per minute, the reset a Go duration
            "x-ratelimit-limit-requests": str(round(self.capacity * 60 / self.window)),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{max(0, round(reset * 1000))}ms",
        }
        return Reply(429, headers={**refusal.headers, **limits})

    def reset(self) -> None:
        """Start again: the next request opens the first window."""
        self._anchor, self._index, self._count = None, -1, 0


class ConcurrencyLimit:
    """Admit at most ``limit`` requests in flight, each answered after ``hold`` seconds.

    Not thread-safe (the server locks). Args:
        limit: requests in flight at once.
        hold: seconds an admitted request takes.
        retry_after: the ``Retry-After`` of the refusals in seconds, or ``None`` for none.
    """

    def __init__(self, limit: int, hold: float, retry_after: float | None = 1.0) -> None:
        if limit < 1 or hold < 0:
            msg = f"concurrency limits need limit >= 1 and hold >= 0, not {limit}, {hold}"
            raise ValueError(msg)
        self.limit = limit
        self.hold = hold
        self.retry_after = retry_after
        self.inflight = 0

    def refusal(self) -> Reply | None:
        """Count a request in: ``None`` if admitted (call `leave` when answered), else the 429."""
        from llm_retry.testing._replies import Reply  # noqa: PLC0415 - the replies import us

        if self.inflight < self.limit:
            self.inflight += 1
            return None
        return Reply.rate_limited(self.retry_after)

    def leave(self) -> None:
        """An admitted request was answered."""
        self.inflight = max(0, self.inflight - 1)

    def reset(self) -> None:
        """Start again with nothing in flight."""
        self.inflight = 0
