"""Wait arithmetic without I/O: after a retryable failure, wait how long, or give up why.

The wait is ``max(server hint, backoff)``: the server's ``Retry-After`` is a floor under the
jittered backoff, never a ceiling. An open circuit's probe time is the wait itself: the circuit
already backs off for the provider (its break grows while the provider stays down), and a
backoff on top would make callers sleep past the probe that closes it. A hint longer than the
policy's ``max_retry_after`` means give up now with that reason; a long sleep is never the
answer to it. (A rate-limit reset header that long never gets here: `llm_retry.decide.classify`
drops it, and the backoff alone decides.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llm_retry.policy import Policy, Retry

from .classify import Decision

__all__ = ["GiveUp", "Wait", "next_step"]


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait ``seconds``, chosen from ``source``; both candidates are kept for the event.

    ``throttle`` is a wait lengthened by an active ``@budget``: another call under the same key
    was told to wait longer (coordinated ``Retry-After``).
    """

    seconds: float
    source: Literal["retry-after", "circuit", "backoff", "throttle"]
    backoff: float
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Do not retry, because of ``reason``."""

    reason: str


def attempt_limit(decision: Decision, policy: Policy) -> int:
    """Total attempts allowed when the latest failure was classified as ``decision``."""
    rule = decision.rule
    if isinstance(rule, Retry) and rule.attempts is not None:
        return rule.attempts
    return policy.attempts


def next_step(decision: Decision, policy: Policy, *, attempt: int, rand: float) -> Wait | GiveUp:
    """What to do after attempt number ``attempt`` (1-based) failed as ``decision``.

    Args:
        decision: the failure's classification.
        policy: the rules and waits.
        attempt: how many attempts have been made.
        rand: a uniform draw in ``[0, 1)`` for the jitter.
    """
    rule = decision.rule
    if not isinstance(rule, Retry):
        return GiveUp(f"not retried: {decision.describe()}")
    limit = attempt_limit(decision, policy)
    if attempt >= limit:
        return GiveUp(f"{decision.describe()}; attempts exhausted ({attempt} of {limit})")
    backoff = (rule.backoff or policy.backoff).compute(attempt - 1, rand)
    from_circuit = decision.hint.source == "circuit"
    honoured = from_circuit or (rule.retry_after and policy.retry_after)
    hint = decision.hint.seconds if honoured else None
    if hint is None:
        return Wait(backoff, "backoff", backoff)
    if hint > policy.max_retry_after:
        asked = "the circuit allows a probe in" if from_circuit else "the server asked to wait"
        return GiveUp(
            f"{decision.describe()}; {asked} {hint:.1f} s "
            f"({decision.hint.source}), more than max_retry_after {policy.max_retry_after:g} s"
        )
    if from_circuit or hint >= backoff:  # a circuit backs off itself: its probe time is the wait
        return Wait(hint, "circuit" if from_circuit else "retry-after", backoff, hint)
    return Wait(backoff, "backoff", backoff, hint)
