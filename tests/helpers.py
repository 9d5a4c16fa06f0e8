"""Shared fakes for the tests: an HTTP error, a callable that fails in turn, a child Python."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class HTTPError(Exception):
    """An HTTP failure with a status, headers and an optional provider code in its body."""

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.headers = headers or {}
        self.body = {"error": {"code": code}} if code else None


def flaky(*errors: BaseException, on_call: Callable[[], object] | None = None) -> Any:
    """A callable raising ``errors`` in turn, then returning "ok"; counts calls in ``.calls``."""
    pending = list(errors)

    def call(*args: object, **kwargs: object) -> str:
        call.calls += 1  # type: ignore[attr-defined]
        if on_call is not None:
            on_call()
        if pending:
            raise pending.pop(0)
        return "ok"

    call.calls = 0  # type: ignore[attr-defined]
    return call


def run_python(*args: str, timeout: float, cwd: Path | None = None) -> str:
    """Run this interpreter with ``args`` in another process; assert it exits 0; its stdout."""
    done = subprocess.run(  # noqa: S603 - this interpreter, our own code and scripts
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


CLIENT_FRAMEWORKS = frozenset(
    {
        "litellm",
        "langchain_core",
        "langchain_openai",
        "langchain_anthropic",
        "pydantic_ai",
        "instructor",
    }
)
SKIP_CLIENTS = "LLM_RETRY_SKIP_CLIENTS"
"""Set (to the reason) where the client frameworks cannot be installed: CI's oldest-SDK run,
whose openai<2 and anthropic<1 pins the current frameworks do not accept."""


def need(module: str) -> Any:
    """Import a client package for a test; skip without it, but fail under ``CI=true``.

    Where ``LLM_RETRY_SKIP_CLIENTS`` is set, a client framework's test is skipped with that
    reason, under CI too.
    """
    import importlib  # noqa: PLC0415 - only the client tests need it
    import os  # noqa: PLC0415

    import pytest  # noqa: PLC0415

    reason = os.environ.get(SKIP_CLIENTS)
    if reason and module.partition(".")[0] in CLIENT_FRAMEWORKS:
        pytest.skip(reason)
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)
