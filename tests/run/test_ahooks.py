"""Async hook twins: an async pipeline awaits ``aenter``/``aexit`` where a hook has them, in
the same order and with the same refusal rule as the sync ``enter``/``exit``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_retry import llm_retry
from llm_retry.run.pipeline import attach


class Recorder:
    """A hook that records what it is asked; with ``twins``, it offers async ones."""

    def __init__(self, name: str, log: list[str], *, twins: bool, refuse: bool = False) -> None:
        self.name, self.log, self.refuse = name, log, refuse
        if twins:
            self.aenter, self.aexit = self._aenter, self._aexit

    def enter(self, args: Any, kwargs: Any) -> str:
        self.log.append(f"enter {self.name}")
        if self.refuse:
            raise PermissionError(self.name)
        return self.name

    def exit(self, token: str, error: BaseException | None) -> None:
        self.log.append(f"exit {token} {type(error).__name__ if error else 'ok'}")

    async def _aenter(self, args: Any, kwargs: Any) -> str:
        await asyncio.sleep(0)
        self.log.append(f"aenter {self.name}")
        if self.refuse:
            raise PermissionError(self.name)
        return self.name

    async def _aexit(self, token: str, error: BaseException | None) -> None:
        await asyncio.sleep(0)
        self.log.append(f"aexit {token} {type(error).__name__ if error else 'ok'}")


def decorated(*hooks: Recorder, retry: bool = False) -> Any:
    async def call() -> str:
        hooks[0].log.append("call")
        return "ok"

    func: Any = call
    for hook in reversed(hooks):
        func = attach(func, hook)
    return llm_retry(attempts=1)(func) if retry else func


@pytest.mark.parametrize("retry", [False, True])
def test_twins_are_awaited_in_order_around_the_call(retry):
    """Entered outermost first, exited innermost first; hooks without twins run as before."""
    log: list[str] = []
    func = decorated(Recorder("a", log, twins=False), Recorder("b", log, twins=True), retry=retry)
    assert asyncio.run(func()) == "ok"
    assert log == ["enter a", "aenter b", "call", "aexit b ok", "exit a ok"]


def test_a_twin_that_refuses_makes_the_entered_hooks_exit_with_its_error():
    """As in `enter_all`: the hooks already entered exit with the refusal, then it is raised."""
    log: list[str] = []
    func = decorated(Recorder("a", log, twins=True), Recorder("b", log, twins=True, refuse=True))
    with pytest.raises(PermissionError, match="b"):
        asyncio.run(func())
    assert log == ["aenter a", "aenter b", "aexit a PermissionError"]
