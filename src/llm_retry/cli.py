"""The ``llm-retry`` command: look at presets, explain decisions, validate files, simulate runs.

::

    llm-retry presets                              the presets, their profiles and files
    llm-retry show deepseek [--markdown]           a preset's decision table
    llm-retry explain openai 429 --code insufficient_quota
    llm-retry validate my-policy.toml              check preset files
    llm-retry simulate deepseek --responses '429(retry-after=2),503,200'
    llm-retry demo [--fast]                        a real client against a local fault server

Every answer comes from the library itself (`classify`, `next_step`, the decorator), never from
a re-implementation. ``python -m llm_retry`` is the same command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import structlog

from . import _schema
from ._tables import build_table, format_grid, render_markdown, render_plain, seconds
from .classify import Decision, classify
from .errors import PolicyError
from .policy import Fail, Policy, Retry
from .presets import PROFILES, Preset, available_presets, current_profile, get_preset, load_preset
from .retry import llm_retry
from .waits import GiveUp, Wait, attempt_limit, next_step

__all__ = ["SyntheticError", "main", "make_error", "parse_responses", "validate_file"]

PROG = "llm-retry"
_ALMOST_ONE = math.nextafter(1.0, 0.0)
_TRANSPORT = ("timeout", "connection")
_OPTION_HEADERS = {"retry-after": "Retry-After", "retry-after-ms": "retry-after-ms"}


class UsageError(Exception):
    """A command-line argument that cannot be used; exit status 2."""


# -- output helpers -------------------------------------------------------------------------
def _width() -> int:
    """The terminal width to wrap to, kept between 60 and 120 columns."""
    return max(60, min(120, shutil.get_terminal_size((100, 24)).columns))


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


def _print_pairs(pairs: Sequence[tuple[str, str]], indent: str = "  ") -> None:
    """Print ``label  value`` lines, values aligned and wrapped."""
    label_width = max(len(label) for label, _ in pairs)
    hanging = indent + " " * (label_width + 2)
    text_width = max(30, _width() - len(hanging))
    for label, value in pairs:
        wrapped = textwrap.wrap(value, text_width, break_on_hyphens=False) or [""]
        print(f"{indent}{label.ljust(label_width)}  {wrapped[0]}")
        for line in wrapped[1:]:
            print(hanging + line)


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Keep llm-retry's structlog events off the terminal: the commands print their own form.

    structlog's configuration is restored afterwards (a command may run inside a program).
    """
    configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    try:
        yield
    finally:
        if configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# -- synthetic failures -----------------------------------------------------------------------
class SyntheticError(Exception):
    """A made-up API failure carrying what `llm_retry.adapters.error_info` reads.

    Attributes:
        status_code: the HTTP status, or ``None`` for a transport failure.
        body: ``{"error": {"code": code}}``, like an OpenAI-style error body.
        headers: the response headers.
    """

    def __init__(
        self, status: int | None, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        what = f"HTTP {status}" if status is not None else type(self).__name__
        super().__init__(f"{what} (code {code})" if code else what)
        self.status_code = status
        self.body: dict[str, Any] = {"error": {"code": code}}
        self.headers: dict[str, str] = dict(headers or {})


class SyntheticTimeout(SyntheticError, TimeoutError):
    """A made-up request timeout."""


class SyntheticConnectionError(SyntheticError, ConnectionError):
    """A made-up connection failure."""


def make_error(
    status: int | str, code: str | None = None, headers: dict[str, str] | None = None
) -> SyntheticError:
    """A synthetic failure: an HTTP status, or ``"timeout"`` / ``"connection"``."""
    if status == "timeout":
        return SyntheticTimeout(None, code, headers)
    if status == "connection":
        return SyntheticConnectionError(None, code, headers)
    return SyntheticError(int(status), code, headers)


def _status_arg(text: str) -> int | str:
    """An HTTP status (100-599), ``timeout`` or ``connection``."""
    word = text.strip().lower()
    if word in _TRANSPORT:
        return word
    if word.isdigit() and 100 <= int(word) <= 599:
        return int(word)
    raise argparse.ArgumentTypeError(
        f"{text!r} is not an HTTP status (100-599), 'timeout' or 'connection'"
    )


def _header_arg(text: str) -> tuple[str, str]:
    """``'Retry-After: 7'`` -> ``("Retry-After", "7")``."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not a header: write 'Name: value'")
    return name.strip(), value.strip()


# -- presets --------------------------------------------------------------------------------
def _preset_entries() -> list[dict[str, Any]]:
    """Every preset with its profiles, file and description, or the reason it is invalid."""
    entries = []
    for name, source in available_presets().items():
        entry: dict[str, Any] = {"name": name, "source": source, "profiles": list(PROFILES)}
        try:
            entry["description"] = get_preset(name).description
        except PolicyError as exc:
            entry["description"] = ""
            entry["error"] = str(exc)
        entries.append(entry)
    return entries


def cmd_presets(args: argparse.Namespace) -> int:
    """List the presets."""
    entries = _preset_entries()
    if args.json:
        _print_json({"active_profile": current_profile(), "presets": entries})
    else:
        rows = [
            (
                entry["name"],
                " ".join(entry["profiles"]),
                entry["source"],
                f"INVALID: {entry['error']}" if "error" in entry else entry["description"],
            )
            for entry in entries
        ]
        for line in format_grid(("PRESET", "PROFILES", "SOURCE", "DESCRIPTION"), rows, _width()):
            print(line)
        print()
        print(
            f"Active profile: {current_profile()} "
            "(set LLM_RETRY_PROFILE, or call llm_retry.presets.use_profile)."
        )
        print("See one with: llm-retry show PRESET [--profile dev|test|prod]")
    return 1 if any("error" in entry for entry in entries) else 0


# -- show -----------------------------------------------------------------------------------
def cmd_show(args: argparse.Namespace) -> int:
    """Print a preset's decision table."""
    table = build_table(args.preset, args.profile or current_profile())
    if args.json:
        _print_json(table.as_dict())
    elif args.markdown:
        print(render_markdown(table))
    else:
        print(render_plain(table, _width()))
    return 0


# -- explain --------------------------------------------------------------------------------
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
    more = _plural(left, "more attempt") + " allowed" if left > 0 else "no more allowed"
    return f"{ex.limit} in all ({whose}); attempt {ex.attempt} failed, so {more}"


def _hint_lines(ex: Explanation) -> list[str]:
    """The server's wait hint: its value and header, or why it was ignored."""
    rule, hint, policy = ex.decision.rule, ex.decision.hint, ex.policy
    if not isinstance(rule, Retry):
        return ["not read: the failure is not retried"]
    ignored = list(hint.ignored)
    if hint.seconds is None:
        return ignored or ["none (no retry-after-ms or Retry-After header)"]
    found = f"{hint.seconds:g} s from the {hint.source} header"
    if not policy.retry_after:
        found += ", ignored: this profile does not honour server hints"
    elif not rule.retry_after:
        found += ", ignored: this rule does not honour server hints"
    elif hint.seconds > policy.max_retry_after:
        found += f", over max_retry_after {seconds(policy.max_retry_after)}: give up"
    else:
        found += f", honoured (up to max_retry_after {seconds(policy.max_retry_after)})"
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
    ex = explain(load_preset(args.preset, profile), error, args.attempt)
    if args.json:
        _print_json(_explain_dict(ex, args, profile))
        return 0
    label = _failure_label(args.status, args.code, headers)
    print(f"{args.preset} (profile {profile}): attempt {args.attempt} failed with {label}")
    print()
    _print_pairs(_explain_pairs(ex))
    return 0


# -- validate -------------------------------------------------------------------------------
def validate_file(path: str) -> list[str]:
    """The problems of the preset file at ``path`` (empty when it is valid in every profile).

    Each problem is one line naming the file and the key, as `PolicyError` messages do.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}"]
    try:
        data = _schema.parse(text, path)
    except PolicyError as exc:
        return [str(exc)]
    preset = Preset(Path(path).stem, path, str(data.get("description", "")), data)
    failing: dict[str, list[str]] = {}
    for profile in PROFILES:
        try:
            preset.policy(profile)
        except PolicyError as exc:
            failing.setdefault(str(exc), []).append(profile)
    return [
        message if len(profiles) == len(PROFILES) else f"{message} (profile {', '.join(profiles)})"
        for message, profiles in failing.items()
    ]


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate preset files."""
    results = {path: validate_file(path) for path in args.files}
    if args.json:
        _print_json(
            [
                {"file": path, "ok": not problems, "profiles": list(PROFILES), "problems": problems}
                for path, problems in results.items()
            ]
        )
    else:
        for path, problems in results.items():
            if problems:
                for problem in problems:
                    print(problem)
            else:
                print(f"{path}: ok (profiles {', '.join(PROFILES)})")
    return 1 if any(results.values()) else 0


# -- simulate -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scripted:
    """One scripted response of ``simulate --responses``."""

    status: int | str
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """A 2xx response: the call returns."""
        return isinstance(self.status, int) and 200 <= self.status < 300

    def error(self) -> SyntheticError:
        """The failure this response stands for."""
        return make_error(self.status, self.code, self.headers)


_TOKEN = re.compile(r"^\s*(\d{3}|timeout|connection)\s*(?:\((.*)\))?\s*$", re.IGNORECASE)


def _split_top_level(text: str) -> Iterator[str]:
    """Split on commas outside parentheses."""
    depth, start = 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            yield text[start:index]
            start = index + 1
    yield text[start:]


def _scripted(token: str) -> Scripted:
    match = _TOKEN.match(token)
    if match is None:
        raise ValueError(
            f"{token.strip()!r} is not a response: write a status (429), 'timeout' or "
            "'connection', optionally with (retry-after=N, retry-after-ms=N, code=C)"
        )
    status = _status_arg(match.group(1))
    code, headers = None, {}
    for option in filter(None, re.split(r"[,;]", match.group(2) or "")):
        key, equals, value = (part.strip() for part in option.partition("="))
        if not equals or not value:
            raise ValueError(f"{option.strip()!r} in {token.strip()!r}: write key=value")
        if key.lower() == "code":
            code = value
        elif key.lower() in _OPTION_HEADERS:
            headers[_OPTION_HEADERS[key.lower()]] = value
        else:
            raise ValueError(
                f"unknown option {key!r} in {token.strip()!r}; known: code, retry-after, "
                "retry-after-ms"
            )
    return Scripted(status, code, headers)


def parse_responses(text: str) -> list[Scripted]:
    """``'429(retry-after=2),503,200'`` -> the scripted responses, in order.

    Raises:
        ValueError: naming the part that cannot be read.
    """
    tokens = [token for token in _split_top_level(text) if token.strip()]
    if not tokens:
        raise ValueError("no responses: write e.g. '429(retry-after=2),503,200'")
    return [_scripted(token) for token in tokens]


def _responses_arg(text: str) -> list[Scripted]:
    try:
        return parse_responses(text)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    from .testing._modes import capture_events, no_wait  # noqa: PLC0415 - only for this command

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
    attempts = _plural(len(sim.started), "attempt")
    if sim.succeeded:
        return f"succeeded after {attempts} in {sim.elapsed:.1f} s of virtual time"
    reason = _gave_up_reason(sim) or "the error was raised"
    return f"gave up after {attempts} in {sim.elapsed:.1f} s of virtual time: {reason}"


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run a scripted call under a preset, in virtual time."""
    profile = args.profile or current_profile()
    policy = load_preset(args.preset, profile)
    if args.seed is not None:
        random.seed(args.seed)
    sim = simulate(policy, args.responses)
    timeline = _timeline(sim)
    exhausted = any(not entry["scripted"] for entry in timeline)
    if args.json:
        _print_json(
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
        return 0
    _print_timeline(args.preset, profile, args.seed, timeline, sim)
    return 0


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
        print(
            f"t={entry['t']:{width}.1f} s  attempt {entry['attempt']} -> "
            f"{entry['response']}{separator}{entry['outcome']}{note}"
        )
    print()
    print(_ending(sim))


# -- demo -----------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo against a local fault server."""
    from .demo import run_demo  # noqa: PLC0415 - imports the HTTP server only when asked

    return run_demo(sys.stdout, fast=args.fast)


# -- parser ---------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _profile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        help="the profile to use (default: $LLM_RETRY_PROFILE, else prod)",
    )


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


Handler = Callable[[argparse.Namespace], int]


def _add(commands: Any, name: str, handler: Handler, summary: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=summary)
    parser.set_defaults(handler=handler)
    return parser


def _add_explain(commands: Any) -> None:
    explain_parser = _add(
        commands, "explain", cmd_explain, "explain what a preset does with one failure"
    )
    explain_parser.add_argument("preset", help="preset name (see 'llm-retry presets')")
    explain_parser.add_argument(
        "status", type=_status_arg, help="HTTP status (429), 'timeout' or 'connection'"
    )
    explain_parser.add_argument("--code", help="provider error code in the body")
    explain_parser.add_argument(
        "--header",
        type=_header_arg,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a response header, e.g. 'Retry-After: 7' (repeatable)",
    )
    explain_parser.add_argument(
        "--attempt", type=int, default=1, help="the attempt that failed (default: 1)"
    )
    _profile_option(explain_parser)
    _json_option(explain_parser)


def _add_simulate(commands: Any) -> None:
    simulate_parser = _add(
        commands, "simulate", cmd_simulate, "run a scripted call under a preset, in virtual time"
    )
    simulate_parser.add_argument("preset", help="preset name (see 'llm-retry presets')")
    simulate_parser.add_argument(
        "--responses",
        type=_responses_arg,
        required=True,
        metavar="SCRIPT",
        help="responses in order, e.g. '429(retry-after=2),503,timeout,200'; options in "
        "parentheses: retry-after=S, retry-after-ms=MS, code=C",
    )
    simulate_parser.add_argument("--seed", type=int, help="seed the jitter for a repeatable run")
    _profile_option(simulate_parser)
    _json_option(simulate_parser)


def build_parser() -> argparse.ArgumentParser:
    """The ``llm-retry`` argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Inspect, explain, validate and try llm-retry policies.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    presets_parser = _add(commands, "presets", cmd_presets, "list the presets")
    _json_option(presets_parser)

    show_parser = _add(commands, "show", cmd_show, "print a preset's decision table")
    show_parser.add_argument("preset", help="preset name (see 'llm-retry presets')")
    _profile_option(show_parser)
    output = show_parser.add_mutually_exclusive_group()
    output.add_argument("--markdown", action="store_true", help="print a Markdown table")
    output.add_argument("--json", action="store_true", help="print JSON for scripts")

    _add_explain(commands)

    validate_parser = _add(commands, "validate", cmd_validate, "check preset files")
    validate_parser.add_argument("files", nargs="+", metavar="FILE", help="a preset .toml file")
    _json_option(validate_parser)

    _add_simulate(commands)

    demo_parser = _add(
        commands, "demo", cmd_demo, "a real openai client against a local fault server"
    )
    demo_parser.add_argument(
        "--fast", action="store_true", help="skip the waits (virtual clock) instead of sleeping"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``llm-retry`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        status: int = args.handler(args)
    except UsageError as exc:
        print(f"{PROG} {args.handler.__name__.removeprefix('cmd_')}: error: {exc}", file=sys.stderr)
        return 2
    except PolicyError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `llm-retry show deepseek | head`: the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the exit flush does not fail again
        return 1
    return status
