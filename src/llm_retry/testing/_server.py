"""A scripted, fault-injecting HTTP server that speaks enough OpenAI and Anthropic for tests.

The server binds `127.0.0.1` on a free port, serves HTTP/1.1 (keep-alive, every reply
with a `Content-Length`) from a background thread, and answers each request with the next
[`Reply`][llm_retry.testing.Reply] of its script, or with its default reply once the
script is used up. Point the real SDK clients at it:

    with FaultServer() as server:
        server.script(Reply(429, headers={"Retry-After": "2"}), Reply(503), Reply(200))
        with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as c:
            c.chat.completions.create(model="m", messages=[...])  # raises RateLimitError

Requests to a path ending in `/messages` get Anthropic bodies; every other path gets
OpenAI chat completion bodies. A request with `"stream": true` that gets a success is
answered with server-sent events the SDKs' `stream=True` reads, where `error_after=K` or
`drop_after=K` inject an error event or a dropped connection after K pieces of content.

Only the standard library is used.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from llm_retry.testing._http import HOST, JOIN_TIMEOUT, HTTPServer
from llm_retry.testing._rate import ConcurrencyLimit, RateLimit
from llm_retry.testing._replies import (
    RecordedRequest,
    Reply,
    parse_json,
)

_POLL_INTERVAL = 0.02  # how often the accept loop looks for a shutdown request, in seconds

_FaultServerT = TypeVar("_FaultServerT", bound="FaultServer")


class FaultServer:
    """A local HTTP server answering OpenAI / Anthropic requests with scripted replies.

    Use it as a context manager: entering binds `127.0.0.1` on a free port and serves
    from a background thread; leaving closes every connection and the socket. It is
    safe to use from many threads and asyncio tasks at once.

    Args:
        default: The reply once the script is used up; `Reply(200)` when None.
        rate: Rate mode: admit this many requests per second and answer the others `429`
            (see `rate_limit`); None for no limit.
        retry_after: The `Retry-After` seconds of rate mode's refusals; None for no header.
        clock: The server's clock for `RecordedRequest.at` and rate windows (seconds);
            pass `no_wait()`'s `clock.now` to see virtual waits in the request log.

    Example:
        >>> with FaultServer() as server:
        ...     server.script(Reply(429), Reply(200, content="hi"))
        ...     # point openai.OpenAI(base_url=server.base_url, ...) at it
    """

    def __init__(
        self,
        *,
        default: Reply | None = None,
        rate: float | None = None,
        retry_after: float | None = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._rate = None if rate is None else RateLimit(rate, retry_after)
        self._concurrency: ConcurrencyLimit | None = None
        self._holding: set[int] = set()  # serials of requests holding a concurrency slot
        self._script: deque[Reply] = deque()
        self._records: list[RecordedRequest] = []
        self._initial_default = Reply() if default is None else default
        self._default = self._initial_default
        self._serial = 0
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self: _FaultServerT) -> _FaultServerT:
        """Start serving.

        Returns:
            The server itself.
        """
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop serving and close every connection."""
        self.close()

    def start(self) -> None:
        """Bind a free port on `127.0.0.1` and serve from a daemon thread.

        Raises:
            RuntimeError: If the server is already running.
        """
        if self._httpd is not None:
            msg = "FaultServer is already running"
            raise RuntimeError(msg)
        self._httpd = HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name=f"FaultServer-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving, wake delayed replies and close every connection; idempotent."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None or thread is None:
            return
        httpd.stop()
        thread.join(JOIN_TIMEOUT)

    @property
    def port(self) -> int:
        """The port the server listens on.

        Raises:
            RuntimeError: If the server is not running.
        """
        if self._httpd is None:
            msg = "FaultServer is not running: use it as a context manager or call start()"
            raise RuntimeError(msg)
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        """`http://127.0.0.1:PORT`, the `base_url` for `anthropic.Anthropic`."""
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`, the `base_url` for `openai.OpenAI`."""
        return f"{self.root_url}/v1"

    @property
    def default(self) -> Reply:
        """The reply once the script is used up (settable)."""
        with self._lock:
            return self._default

    @default.setter
    def default(self, reply: Reply) -> None:
        with self._lock:
            self._default = reply

    def script(self, *replies: Reply | int) -> None:
        """Queue replies, consumed first-in first-out, one per request.

        Args:
            *replies: The replies; a bare int `n` stands for `Reply(n)`.
        """
        queued = [Reply(r) if isinstance(r, int) else r for r in replies]
        with self._lock:
            self._script.extend(queued)

    @property
    def pending(self) -> int:
        """How many scripted replies no request has consumed yet."""
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._records)

    def reset(self) -> None:
        """Clear the script and the recorded requests, and restore the default reply."""
        with self._lock:
            self._script.clear()
            self._records.clear()
            self._default = self._initial_default
            if self._rate is not None:
                self._rate.reset()
            if self._concurrency is not None:
                self._concurrency.reset()
            self._holding.clear()

    def rate_limit(
        self,
        per_second: float | None,
        *,
        retry_after: float | None = 1.0,
        window: float = 1.0,
        headers: bool = False,
    ) -> None:
        """Rate mode: admit `per_second` requests per second, answer the others `429`.

        Windows are fixed, `window` seconds long, the first opening at the next request;
        refusals carry `Retry-After: retry_after` (no header when None) and take no
        scripted reply. Admitted requests get the script's replies, then the default.

        Args:
            per_second: Requests admitted per second; None turns rate mode off.
            retry_after: The refusals' `Retry-After` in seconds, or None.
            window: The window's length in seconds.
            headers: Refusals also carry OpenAI's `x-ratelimit-*-requests` headers (a
                rate limit, told apart from a concurrency limit by them).
        """
        limit = (
            None
            if per_second is None
            else RateLimit(per_second, retry_after, window, headers=headers)
        )
        with self._lock:
            self._rate = limit

    def concurrency_limit(
        self, limit: int | None, *, hold: float = 0.0, retry_after: float | None = 1.0
    ) -> None:
        """Concurrency mode: at most `limit` requests in flight, the others refused `429`.

        Each admitted request is answered after `hold` seconds (added to its reply's delay);
        a request arriving while `limit` are in flight gets a `429` at once, with
        `Retry-After: retry_after` (none when None) and no rate header, as DeepSeek's
        "dynamic concurrency limit" answers.

        Args:
            limit: Requests in flight at once; None turns concurrency mode off.
            hold: Seconds each admitted request takes.
            retry_after: The refusals' `Retry-After` in seconds, or None.
        """
        mode = None if limit is None else ConcurrencyLimit(limit, hold, retry_after)
        with self._lock:
            self._concurrency = mode
            self._holding.clear()

    def _answered(self, serial: int) -> None:
        """A request was answered (or dropped): free its concurrency slot, if it held one."""
        with self._lock:
            if serial in self._holding:
                self._holding.discard(serial)
                if self._concurrency is not None:
                    self._concurrency.leave()

    def _next_reply(self) -> Reply:
        """The reply for the next request: the script's head, else the default.

        Called with the lock held; the hook for other reply policies. In rate mode a
        request past the window's limit gets a 429 instead.
        """
        if self._rate is not None:
            refusal = self._rate.refusal(self._clock())
            if refusal is not None:
                return refusal
        reply = self._script.popleft() if self._script else self._default
        if self._concurrency is not None:
            refusal = self._concurrency.refusal()
            if refusal is not None:
                if reply is not self._default:
                    self._script.appendleft(reply)  # a refusal takes no scripted reply
                return refusal
            self._holding.add(self._serial)
            hold = self._concurrency.hold
            reply = dataclasses.replace(reply, delay=reply.delay + hold) if hold else reply
        return reply

    def _receive(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        raw_body: bytes,
    ) -> tuple[RecordedRequest, int]:
        """Pick the reply for a request and record both, atomically.

        The arrival time is taken under the lock, so `requests` is ordered by `at`.

        Returns:
            The recorded request and its serial number.
        """
        with self._lock:
            self._serial += 1
            request = RecordedRequest(
                method=method,
                path=path,
                headers=headers,
                body=parse_json(raw_body),
                at=self._clock(),
                reply=self._next_reply(),
                query=query,
                raw_body=raw_body,
            )
            self._records.append(request)
            return request, self._serial
