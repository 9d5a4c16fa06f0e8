"""The burst benchmark's clients: the README stack, and N worker processes sharing one Redis.

`readme_ask` is the stack the README recommends, as written (``store=`` only in the processes
rows, where a `RedisStore` shares the limits). `run_processes` starts a real ``redis-server``
on a loopback port, then N worker processes that each send their share of the burst at the
same wall-clock instant, and returns every call's outcome and the wall time.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

import openai

from llm_retry import budget, circuit, llm_retry
from llm_retry.run import keys
from llm_retry.stores import RedisStore, Store

MESSAGES = [{"role": "user", "content": "ping"}]
README = "README stack"


def readme_ask(client: openai.AsyncOpenAI, store: Store | None = None) -> Callable[[int], Any]:
    """``@budget(total=90) @llm_retry(preset="deepseek") @circuit("deepseek")``, fresh state."""
    keys.reset()  # this row starts as a fresh process does: nothing learned, nothing blocked
    circuit("deepseek", store=store).reset()

    @budget(total=90, store=store)
    @llm_retry(preset="deepseek", store=store)
    @circuit("deepseek", store=store)
    async def ask(i: int) -> Any:
        return await client.chat.completions.create(
            model="deepseek-v4-flash", messages=MESSAGES, user=str(i)
        )

    return ask


async def burst(
    base_url: str, n: int, build: Callable[[openai.AsyncOpenAI], Callable[[int], Awaitable[Any]]]
) -> list[Any]:
    """``n`` concurrent calls through ``build(client)``; their results or exceptions."""
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key="sk-bench", max_retries=0, timeout=60
    ) as client:
        ask = build(client)
        return await asyncio.gather(*(ask(i) for i in range(n)), return_exceptions=True)


# -- redis-server on loopback ------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway ``redis-server`` on a free loopback port; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("--processes needs redis-server (Debian package redis-server)")
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)  # the server is starting
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait(10)


# -- worker processes ------------------------------------------------------------------------
def _worker(conn: Connection, base_url: str, n: int, redis_url: str | None) -> None:
    import structlog  # noqa: PLC0415 - in the child process

    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    store = RedisStore(redis_url) if redis_url else None

    def build(client: openai.AsyncOpenAI) -> Callable[[int], Any]:
        ask = readme_ask(client, store)
        conn.send("ready")  # imported, connected, decorated: as the one-process rows start
        time.sleep(max(0.0, conn.recv() - time.time()))  # every process starts at once
        return ask

    results = asyncio.run(burst(base_url, n, build))
    errors = [r for r in results if isinstance(r, BaseException)]
    first = f"{type(errors[0]).__name__}: {errors[0]}"[:120] if errors else None
    conn.send((n - len(errors), len(errors), first, time.time()))


def run_processes(
    base_url: str, n: int, processes: int, redis_url: str | None
) -> tuple[int, int, str | None, float]:
    """The burst split over ``processes`` workers: ``(done, lost, first error, wall seconds)``."""
    context = multiprocessing.get_context("spawn")
    share = [n // processes + (1 if i < n % processes else 0) for i in range(processes)]
    pipes, workers = [], []
    for count in share:
        mine, theirs = context.Pipe()
        worker = context.Process(target=_worker, args=(theirs, base_url, count, redis_url))
        worker.start()
        pipes.append(mine)
        workers.append(worker)
    for pipe in pipes:
        pipe.recv()  # every worker is ready
    at = time.time() + 0.2
    for pipe in pipes:
        pipe.send(at)
    reports = [pipe.recv() for pipe in pipes]
    for worker in workers:
        worker.join(30)
    if redis_url:
        RedisStore(redis_url).clear()
    done = sum(r[0] for r in reports)
    lost = sum(r[1] for r in reports)
    first = next((r[2] for r in reports if r[2]), None)
    return done, lost, first, max(r[3] for r in reports) - at
