"""``llm-retry explain``: what a preset does with one failure, from `classify` and `next_step`."""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from typing import Any

from llm_retry.cli._output import UsageError, plural, print_json, print_pairs
from llm_retry.cli._presets import preset_argument
from llm_retry.cli._synthetic import make_error
from llm_retry.cli.tables import seconds
from llm_retry.decide.classify import Decision, classify
from llm_retry.decide.waits import GiveUp, Wait, attempt_limit, next_step
from llm_retry.policy import Fail, Policy, Retry
from llm_retry.presets import current_profile

__all__ = ["Explanation", "cmd_explain", "explain"]

_ALMOST_ONE = math.nextafter(1.0, 0.0)


@dataclass(frozen=True)
class Explanation:
    """What a policy does after one failed attempt, straight from `classify` and `next_step`."""

    policy: Policy
    decision: Decision
    attempt: int
    limit: int
    low: Wait | GiveUp
    high: Wait | GiveUp


def explain(policy: Policy, error: BaseException, attempt: int) -> Explanation:
    """Classify ``error`` and plan the step after ``attempt``, at both ends of the jitter."""
    decision = classify(error, policy, now=time.time())
    return Explanation(
        policy=policy,
        decision=decision,
        attempt=attempt,
        limit=attempt_limit(decision, policy),
        low=next_step(decision, policy, attempt=attempt, rand=0.0),
        high=next_step(decision, policy, attempt=attempt, rand=_ALMOST_ONE),
    )


def _span(low: float, high: float) -> str:
    """``7.0 s`` or ``0.0-4.0 s``."""
    return f"{low:.1f} s" if round(low, 1) == round(high, 1) else f"{low:.1f}-{high:.1f} s"


def _why(ex: Explanation) -> str:
    """Why the rule that matched is the one that decides."""
    decision, policy = ex.decision, ex.policy
    kind, _, key = decision.matched.partition(" ")
    if kind == "code":
        by_status = policy.rule_for_status(decision.status) if decision.status else None
        tail = f"; the status rule alone would {by_status[1].action}" if by_status else ""
        return f"code rules are looked up before status rules{tail}"
    code = f"code {decision.code!r} has no rule, and " if decision.code else ""
    if decision.matched.startswith("status class"):
        return f"{code}there is no rule for status {decision.status}, so its class decides"
    if kind == "status":
        return f"{code}status {key} has a rule of its own"
    if kind == "transport":
        return f"{code}no response, so no status: the transport rule decides"
    return "no code, status, transport or exception rule matches"


def _attempts_text(ex: Explanation) -> str:
    rule = ex.decision.rule
    if isinstance(rule, Fail):
        return "1: never retried"
    whose = "the rule's" if rule.attempts is not None else "the policy's"
    left = ex.limit - ex.attempt
    more = plural(left, "more attempt") + " allowed" if left > 0 else "no more allowed"
    return f"{ex.limit} in all ({whose}); attempt {ex.attempt} failed, so {more}"


def _hint_lines(ex: Explanation) -> list[str]:
    """The server's wait hint: its value and header, or why it was ignored."""
    rule, hint, policy = ex.decision.rule, ex.decision.hint, ex.policy
    if not isinstance(rule, Retry):
        return ["not read: the failure is not retried"]
    ignored = list(hint.ignored)
    if hint.seconds is None:
        return ignored or ["none (no retry-after-ms, Retry-After or used-up rate-limit header)"]
    found = f"{hint.seconds:.4g} s from the {hint.source} header"
    cap = seconds(policy.max_retry_after)
    if not policy.retry_after:
        found += ", ignored: this profile does not honour server hints"
    elif not rule.retry_after:
        found += ", ignored: this rule does not honour server hints"
    elif hint.seconds > policy.max_retry_after:
        found += f", over max_retry_after {cap}: give up"
    else:
        found += f", honoured (up to max_retry_after {cap})"
    return [found, *ignored]


def _wait_text(low: Wait, high: Wait) -> str:
    sources = {low.source, high.source}
    span = _span(low.seconds, high.seconds)
    if sources == {"retry-after"}:
        return f"{span}: the server's hint is the floor, above every backoff draw"
    if sources == {"backoff"}:
        return f"{span}: the backoff draw" + (
            ", above the server's hint" if low.retry_after is not None else ""
        )
    return f"{span}: max(server hint, backoff draw)"


def _step_pairs(ex: Explanation) -> list[tuple[str, str]]:
    """The wait planned after the attempt, or why the call gives up."""
    low, high = ex.low, ex.high
    hints = [("hint", line) for line in _hint_lines(ex)]
    if isinstance(ex.decision.rule, Fail):
        return [*hints, ("result", "fail now: the error is raised at once, with a note")]
    give_up = next((step for step in (low, high) if isinstance(step, GiveUp)), None)
    if give_up is not None or not (isinstance(low, Wait) and isinstance(high, Wait)):
        reason = give_up.reason if give_up else "no wait planned"
        reason = reason.removeprefix(f"{ex.decision.describe()}; ")
        return [*hints, ("result", f"give up: {reason}")]
    rule = ex.decision.rule
    backoff = (rule.backoff if isinstance(rule, Retry) else None) or ex.policy.backoff
    ceiling = backoff.ceiling(ex.attempt - 1)
    return [
        (
            "backoff",
            f"{_span(low.backoff, high.backoff)} ({backoff.jitter} jitter; "
            f"ceiling {ceiling:.1f} s for the wait before attempt {ex.attempt + 1})",
        ),
        *hints,
        ("wait", _wait_text(low, high)),
        ("result", f"retry: attempt {ex.attempt + 1} starts after the wait"),
    ]


def _explain_pairs(ex: Explanation) -> list[tuple[str, str]]:
    decision = ex.decision
    rule = decision.rule
    pairs = [
        ("rule", f"{decision.matched} ({_why(ex)})"),
        ("action", f"{decision.action}: {decision.reason}"),
    ]
    if isinstance(rule, Fail) and rule.fix:
        pairs.append(("fix", rule.fix))
    pairs.append(("attempts", _attempts_text(ex)))
    return pairs + _step_pairs(ex)


def _failure_label(status: int | str, code: str | None, headers: dict[str, str]) -> str:
    described = {"timeout": "a timeout", "connection": "a connection failure"}
    parts = [f"status {status}" if isinstance(status, int) else described[status]]
    if code:
        parts.append(f"code {code}")
    if headers:
        word = "header" if len(headers) == 1 else "headers"
        parts.append(f"{word} " + "; ".join(f"{name}: {value}" for name, value in headers.items()))
    return ", ".join(parts)


def _step_dict(step: Wait | GiveUp) -> dict[str, Any]:
    if isinstance(step, GiveUp):
        return {"give_up": step.reason}
    return {
        "wait": round(step.seconds, 3),
        "source": step.source,
        "backoff": round(step.backoff, 3),
        "retry_after": step.retry_after,
    }


def _explain_dict(ex: Explanation, args: argparse.Namespace, profile: str) -> dict[str, Any]:
    decision, rule = ex.decision, ex.decision.rule
    return {
        "preset": args.preset,
        "profile": profile,
        "failure": {"status": args.status, "code": args.code, "headers": dict(args.header)},
        "attempt": ex.attempt,
        "rule": decision.matched,
        "why": _why(ex),
        "action": decision.action,
        "reason": decision.reason,
        "fix": rule.fix if isinstance(rule, Fail) and rule.fix else None,
        "attempt_limit": ex.limit if isinstance(rule, Retry) else 1,
        "hint": {
            "seconds": decision.hint.seconds,
            "header": decision.hint.source,
            "ignored": list(decision.hint.ignored),
        },
        "at_lowest_draw": _step_dict(ex.low),
        "at_highest_draw": _step_dict(ex.high),
    }


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain what a preset does with one failure."""
    if args.attempt < 1:
        raise UsageError("argument --attempt: must be 1 or more")
    if isinstance(args.status, int) and 200 <= args.status < 300:
        raise UsageError(f"status {args.status} is a success: there is nothing to retry")
    profile = args.profile or current_profile()
    headers = dict(args.header)
    error = make_error(args.status, args.code, headers)
    ex = explain(preset_argument(args.preset).policy(profile), error, args.attempt)
    if args.json:
        print_json(_explain_dict(ex, args, profile))
        return 0
    label = _failure_label(args.status, args.code, headers)
    print(f"{args.preset} (profile {profile}): attempt {args.attempt} failed with {label}")
    print()
    print_pairs(_explain_pairs(ex))
    return 0
