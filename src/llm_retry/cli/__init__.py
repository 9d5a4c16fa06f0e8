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
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from llm_retry.cli._explain import cmd_explain
from llm_retry.cli._output import UsageError, quiet_logs
from llm_retry.cli._presets import cmd_presets, cmd_show, cmd_validate, validate_file
from llm_retry.cli._script import parse_responses, responses_arg
from llm_retry.cli._simulate import cmd_simulate
from llm_retry.cli._synthetic import SyntheticError, header_arg, make_error, status_arg
from llm_retry.errors import PolicyError
from llm_retry.policy.presets import check_profile
from llm_retry.presets import PROFILES

__all__ = [
    "SyntheticError",
    "main",
    "make_error",
    "parse_responses",
    "quiet_logs",
    "validate_file",
]

PROG = "llm-retry"


# -- demo -----------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo against a local fault server."""
    from llm_retry.cli.demo import run_demo  # noqa: PLC0415 - imports the HTTP server only when asked

    return run_demo(sys.stdout, fast=args.fast)


# -- parser ---------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _profile(name: str) -> str:
    """A ``--profile`` value: a shipped profile or one a preset file defines."""
    try:
        return check_profile(name)
    except PolicyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _profile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        type=_profile,
        metavar="|".join(PROFILES),
        help="the profile to use, or one a preset file defines "
        "(default: $LLM_RETRY_PROFILE, else prod)",
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
        "status", type=status_arg, help="HTTP status (429), 'timeout' or 'connection'"
    )
    explain_parser.add_argument("--code", help="provider error code in the body")
    explain_parser.add_argument(
        "--header",
        type=header_arg,
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
        type=responses_arg,
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
