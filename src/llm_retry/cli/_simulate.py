"""``llm-retry simulate``: a scripted call under a preset, run by the decorator in virtual time."""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_retry.cli._output import paint, plural, print_json, quiet_logs
from llm_retry.cli._presets import preset_argument
from llm_retry.cli._script import Scripted
from llm_retry.cli._synthetic import SyntheticError
from llm_retry.policy import Policy
from llm_retry.presets import current_profile
from llm_retry.retry import llm_retry

__all__ = ["Simulation", "cmd_simulate", "simulate"]


@dataclass
class Simulation:
    """The outcome of a simulated call, in virtual time."""

    started: list[tuple[float, Scripted | None]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    succeeded: bool = False


def simulate(policy: Policy, script: Sequence[Scripted]) -> Simulation:
    """Call a function decorated with ``policy`` that answers with ``script``, without waiting.

    Attempts past the end of the script succeed (recorded as ``None``).
    """
    from llm_retry.testing._modes import capture_events, no_wait  # noqa: PLC0415 - only for this command

    result = Simulation()
    pending = iter(script)
    with quiet_logs(), no_wait() as clock, capture_events() as events:
        start = clock.now()

        @llm_retry(policy=policy)
        def call() -> None:
            response = next(pending, None)
            result.started.append((clock.now() - start, response))
            if response is not None and not response.ok:
                raise response.error()

        try:
            call()
            result.succeeded = True
        except SyntheticError:
            result.succeeded = False
        result.elapsed = round(clock.now() - start, 3)
    result.events = events
    return result


def _response_label(response: Scripted | None) -> str:
    return "200" if response is None else str(response.status)


def _attempt_outcome(
    failed: dict[str, Any] | None, scheduled: dict[str, Any] | None, gave_up: str | None
) -> str:
    """``rate limited: retry, wait 2.0 s (retry-after; backoff drew 0.1 s)``."""
    if failed is None:
        return "ok"
    text = f"{failed.get('reason', '')}: {failed['classification']}"
    if failed.get("fix"):
        text += f"; fix: {failed['fix']}"
    if scheduled is not None:
        text += f", wait {scheduled['wait']:.1f} s ({scheduled['source']}"
        if scheduled["source"] == "retry-after":
            text += f"; backoff drew {scheduled['backoff']:.1f} s"
        text += ")"
    elif failed["classification"] == "retry" and gave_up:
        text += f", but give up: {gave_up.rpartition('; ')[2]}"
    return text


def _gave_up_reason(sim: Simulation) -> str | None:
    reasons = [e["reason"] for e in sim.events if e["event"] == "llm_retry.gave_up"]
    return reasons[-1] if reasons else None


def _timeline(sim: Simulation) -> list[dict[str, Any]]:
    """One entry per attempt, merging what the function saw with the events."""
    failed = {e["attempt"]: e for e in sim.events if e["event"] == "llm_retry.attempt_failed"}
    scheduled = {
        e["attempt"] - 1: e for e in sim.events if e["event"] == "llm_retry.retry_scheduled"
    }
    gave_up = _gave_up_reason(sim)
    entries = []
    for number, (at, response) in enumerate(sim.started, start=1):
        fail, wait = failed.get(number), scheduled.get(number)
        entries.append(
            {
                "attempt": number,
                "t": round(at, 3),
                "response": _response_label(response),
                "scripted": response is not None,
                "action": fail["classification"] if fail else "success",
                "rule": fail["rule"] if fail else None,
                "reason": fail.get("reason") if fail else None,
                "wait": wait["wait"] if wait else None,
                "wait_source": wait["source"] if wait else None,
                "outcome": _attempt_outcome(fail, wait, gave_up),
            }
        )
    return entries


def _ending(sim: Simulation) -> str:
    attempts = plural(len(sim.started), "attempt")
    if sim.succeeded:
        return f"succeeded after {attempts} in {sim.elapsed:.1f} s of virtual time"
    reason = _gave_up_reason(sim) or "the error was raised"
    return f"gave up after {attempts} in {sim.elapsed:.1f} s of virtual time: {reason}"


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run a scripted call under a preset, in virtual time; exit status 1 if it gives up."""
    profile = args.profile or current_profile()
    policy = preset_argument(args.preset).policy(profile)
    if args.seed is not None:
        random.seed(args.seed)
    sim = simulate(policy, args.responses)
    timeline = _timeline(sim)
    exhausted = any(not entry["scripted"] for entry in timeline)
    if args.json:
        print_json(
            {
                "preset": args.preset,
                "profile": profile,
                "seed": args.seed,
                "attempts": timeline,
                "succeeded": sim.succeeded,
                "elapsed": round(sim.elapsed, 3),
                "script_exhausted": exhausted,
                "result": _ending(sim),
            }
        )
    else:
        _print_timeline(args.preset, profile, args.seed, timeline, sim)
    return 0 if sim.succeeded else 1


def _print_timeline(
    preset: str, profile: str, seed: int | None, timeline: list[dict[str, Any]], sim: Simulation
) -> None:
    jitter = f"seed {seed}" if seed is not None else "unseeded jitter: use --seed to repeat a run"
    print(f"{preset} (profile {profile}), virtual time, {jitter}")
    print()
    width = max(len(f"{entry['t']:.1f}") for entry in timeline)
    for entry in timeline:
        note = "" if entry["scripted"] else " (script used up: treated as 200)"
        separator = " " if entry["response"].isdigit() else ": "
        outcome = paint(entry["outcome"], "green" if entry["action"] == "success" else "yellow")
        print(
            f"t={entry['t']:{width}.1f} s  attempt {entry['attempt']} -> "
            f"{entry['response']}{separator}{outcome}{note}"
        )
    print()
    print(paint(_ending(sim), "green" if sim.succeeded else "red"))
