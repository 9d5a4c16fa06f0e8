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


def need(module: str) -> Any:
    """Import a package a test needs; skip without it, but fail under ``CI=true``.

    Tests of the client frameworks are marked ``clients``: a run that cannot install them
    (the oldest SDK majors) deselects them with ``-m "not clients"`` rather than skipping.
    """
    import importlib  # noqa: PLC0415 - only the client tests need it
    import os  # noqa: PLC0415

    import pytest  # noqa: PLC0415

    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)
