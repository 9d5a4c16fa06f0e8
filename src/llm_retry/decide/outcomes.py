"""What a failed attempt means beyond its classification: output delivered, and billing.

A stream that fails after some of its output reached the caller cannot simply be retried: the
caller would get that output twice. The stream relay marks such a failure with a `StreamBreak`
(the attempt, how many chunks were delivered, whether the caller opted into restarts) before
handing it to the retry loop, and `held_back` turns the policy's planned wait into a give-up
unless restarts were asked for.

Billing: a rejected result (`InvalidResultError`) and a stream broken after output were billed
and thrown away; a timed-out request may still complete on the server and bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from llm_retry.errors import InvalidResultError
from llm_retry.events import emit

from .marks import attach, attached
from .waits import GiveUp, Wait

if TYPE_CHECKING:
    from .classify import Decision

__all__ = ["MAY_BILL_NOTE", "StreamBreak", "Tally", "billing", "held_back", "mark", "stream_break"]

_MARK = "__llm_retry_stream_break__"
MAY_BILL_NOTE = "a timed-out request may still complete on the server and bill"
Billing = Literal["billed", "may_bill"]


@dataclass(slots=True)
class Tally:
    """Failed attempts of one call that billed (output thrown away) or may have (timeouts)."""

    billed: int = 0
    may_bill: int = 0


@dataclass(frozen=True, slots=True)
class StreamBreak:
    """A failed attempt of a streaming call, before or after its output began.

    Attributes:
        attempt: the attempt that failed (the first is 1).
        delivered: chunks of that attempt the caller had already received (0: none).
        restart: the caller asked for ``restart=True``: re-run the call from the start.
        start: when the call's first attempt started, on the active clock.
        tally: the call's billing tally, shared by every retry loop of the call.
    """

    attempt: int
    delivered: int
    restart: bool
    start: float
    tally: Tally


def mark(exc: BaseException, record: StreamBreak) -> None:
    """Attach ``record`` to ``exc`` for the retry loop to read."""
    attach(exc, _MARK, record)


def stream_break(exc: BaseException | None) -> StreamBreak | None:
    """The record `mark` attached to ``exc``, if any."""
    found = attached(exc, _MARK)
    return found if isinstance(found, StreamBreak) else None


def held_back(
    step: Wait | GiveUp, exc: BaseException, decision: Decision, name: str, policy: str
) -> Wait | GiveUp:
    """``step``, unless it retries a stream whose output already reached the caller.

    Such a retry becomes a give-up, or, when the caller asked for restarts, stays a retry that
    is announced with a ``stream_restarted`` event.
    """
    record = stream_break(exc)
    if record is None or not record.delivered or not isinstance(step, Wait):
        return step
    if record.restart:
        _announce_restart(name, policy, record)
        return step
    chunks = "1 chunk" if record.delivered == 1 else f"{record.delivered} chunks"
    return GiveUp(
        f"not retried: {decision.describe()}; the stream failed after {chunks} had reached "
        "the caller, and a retry would repeat them (restart=True re-runs the call from the start)"
    )


def billing(exc: BaseException, decision: Decision) -> Billing | None:
    """``billed`` for output thrown away, ``may_bill`` for a timeout, else ``None``."""
    if isinstance(exc, InvalidResultError):
        return "billed"
    record = stream_break(exc)
    if record is not None and record.delivered:
        return "billed"
    if decision.transport == "timeout":
        return "may_bill"
    return None


def _announce_restart(name: str, policy: str, record: StreamBreak) -> None:
    """Tell the caller a stream starts over: the chunks it got from ``record`` come again."""
    emit(
        "llm_retry.stream_restarted",
        "warning",
        callable=name,
        policy=policy,
        attempt=record.attempt + 1,
        chunks=record.delivered,
    )
