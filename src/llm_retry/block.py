"""``retrying(...)``: a policy for code that is not a function of its own.

::

    for attempt in retrying(preset="deepseek"):
        with attempt:
            reply = client.chat.completions.create(...)

    async for attempt in retrying(preset="deepseek"):
        with attempt:
            reply = await client.chat.completions.create(...)

Each failure inside ``with attempt:`` is classified, waited on and reported exactly as for a
decorated function (the same decision core and drivers); when the policy gives up, the last
error is raised as itself, with the note. Inside a ``@budget`` the block keeps its deadline.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .policy import Policy
from .retry import source_of
from .run.drivers import Attempt, PolicySource, attempts

__all__ = ["Attempt", "Retrying", "retrying"]


class Retrying:
    """The attempts of one block; iterate it with ``for`` or ``async for``, once per run."""

    __slots__ = ("name", "source")

    def __init__(self, source: PolicySource, name: str) -> None:
        self.source = source
        self.name = name

    def __iter__(self) -> Iterator[Attempt]:
        return attempts(self.source, self.name)

    def __aiter__(self) -> AsyncIterator[Attempt]:
        from .run.adrivers import aattempts  # noqa: PLC0415 - asyncio only for async code

        return aattempts(self.source, self.name)

    def __repr__(self) -> str:
        return f"Retrying({self.name!r})"


def retrying(
    *,
    preset: str | None = None,
    policy: Policy | None = None,
    name: str | None = None,
    **overrides: Any,
) -> Retrying:
    """Retry a block of code as a policy says: ``for attempt in retrying(...): with attempt:``.

    Args:
        preset: a preset's name (``generic`` when neither it nor ``policy`` is given), resolved
            with the active profile when the block starts.
        policy: a `Policy` object.
        name: how events name the block; default: the calling function (``module.function``).
        **overrides: policy settings to change (``attempts=3``).

    Raises:
        PolicyError: for an unknown preset or an invalid override.
    """
    if name is None:
        caller = sys._getframe(1)
        name = f"{caller.f_globals.get('__name__', '?')}.{caller.f_code.co_name}"
    return Retrying(source_of(preset, policy, overrides), name)
