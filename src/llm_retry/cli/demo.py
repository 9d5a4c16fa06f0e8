"""``llm-retry demo``: a real openai client, a local fault server, and ``@llm_retry``.

Two calls go through ``openai.OpenAI(max_retries=0)`` to a `FaultServer` on 127.0.0.1 that
answers like DeepSeek having a bad minute:

1. 429 with ``Retry-After: 1``, then 503, then 200: the call succeeds on attempt 3, having waited
   at least the second the server asked for.
2. 402 "Insufficient Balance": the call fails after one attempt, with the fix in the exception's
   PEP 678 notes, because no retry can top up an account.

Every llm-retry event is printed as it happens. The waits are real (the demo takes a couple of
seconds); ``--fast`` runs on the virtual clock instead.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from llm_retry.events import subscribe
from llm_retry.policy.presets import use_profile
from llm_retry.retry import llm_retry
from llm_retry.run import clock as _clock

if TYPE_CHECKING:
    import openai

    from llm_retry.testing import FaultServer

__all__ = ["format_event", "run_demo"]

PRESET = "deepseek"
MODEL = "deepseek-v4-flash"
INSTALL_HINT = "the demo needs the openai SDK: pip install 'llm-retry[demo]'"
_INDENT = "   "
_NAME_WIDTH = len("retry_scheduled ")


def _say(out: TextIO, text: str, indent: str = "", hanging: int = 0) -> None:
    """Print ``text`` wrapped to the terminal, continuation lines indented by ``hanging``."""
    width = max(60, min(120, shutil.get_terminal_size((100, 24)).columns))
    lines = textwrap.wrap(
        text,
        width,
        initial_indent=indent,
        subsequent_indent=indent + " " * hanging,
        break_on_hyphens=False,
    )
    print("\n".join(lines), file=out)
    out.flush()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _what(event: dict[str, Any]) -> str:
    """``status 429``, ``status 429, code x`` or the error type, for an attempt_failed event."""
    parts = [f"{name} {event[name]}" for name in ("status", "code") if name in event]
    return ", ".join(parts) or str(event.get("error", "error"))


def format_event(event: dict[str, Any]) -> str:
    """One short line for an llm-retry event: ``attempt_failed   attempt 1: status 429 -> ...``."""
    name = str(event["event"]).removeprefix("llm_retry.")
    if name == "attempt_failed":
        text = (
            f"attempt {event['attempt']}: {_what(event)} -> {event['classification']}: "
            f"{event.get('reason', '')}"
        )
    elif name == "retry_scheduled":
        text = f"attempt {event['attempt']} in {event['wait']:.2f} s ({event['source']}"
        if event["source"] == "retry-after":
            text += f"; the backoff drew {event['backoff']:.2f} s"
        text += ")"
    elif name == "gave_up":
        text = f"after {_plural(event['attempts'], 'attempt')}: {event['reason']}"
    elif name == "recovered":
        text = f"after {_plural(event['attempts'], 'attempt')} in {event['elapsed']:.2f} s"
    else:
        skip = ("event", "log_level")
        text = ", ".join(f"{key}={value}" for key, value in event.items() if key not in skip)
    return f"{name:<{_NAME_WIDTH}} {text}"


@contextmanager
def _printing_events(out: TextIO) -> Iterator[None]:
    """Print every llm-retry event as it happens, stamped with the seconds since the block began."""
    origin = _clock.now()

    def show(event: dict[str, Any]) -> None:
        stamp = f"t={_clock.now() - origin:.2f} s  "
        _say(out, stamp + format_event(event), _INDENT, hanging=len(stamp) + _NAME_WIDTH + 1)

    unsubscribe = subscribe(show)
    try:
        yield
    finally:
        unsubscribe()


@dataclass(frozen=True)
class DemoCall:
    """What one scripted call of the demo did."""

    requests: int
    seconds: float


def _recovering_call(out: TextIO, server: FaultServer, ask: Callable[[str], str]) -> DemoCall:
    """Call 1: 429 (Retry-After: 1), 503, then 200."""
    from llm_retry.testing import Reply  # noqa: PLC0415 - the testing package is imported on demand

    _say(out, "1. A call that recovers: the server answers 429 (Retry-After: 1), 503, then 200.")
    server.script(
        Reply(429, headers={"Retry-After": "1"}),
        Reply(503),
        Reply(200, content="Hello from the fault server."),
    )
    seen, start = len(server.requests), _clock.now()
    with _printing_events(out):
        answer = ask("Say hello.")
    outcome = DemoCall(len(server.requests) - seen, _clock.now() - start)
    _say(
        out,
        f"=> succeeded after {_plural(outcome.requests, 'attempt')} in {outcome.seconds:.1f} s: "
        f"{answer!r}",
        _INDENT,
        hanging=3,
    )
    print(file=out)
    return outcome


def _failing_call(
    out: TextIO, server: FaultServer, ask: Callable[[str], str], api_error: type[Exception]
) -> DemoCall:
    """Call 2: 402 Insufficient Balance, which no retry can fix."""
    from llm_retry.testing import Reply  # noqa: PLC0415 - the testing package is imported on demand

    _say(out, "2. A call no retry can fix: the server answers 402 (Insufficient Balance).")
    server.script(Reply(402, message="Insufficient Balance"))
    seen, start = len(server.requests), _clock.now()
    error: Exception | None = None
    with _printing_events(out):
        try:
            ask("Say hello again.")
        except api_error as exc:
            error = exc
    outcome = DemoCall(len(server.requests) - seen, _clock.now() - start)
    kind = f"{type(error).__module__.partition('.')[0]}.{type(error).__qualname__}"
    summary = f"{kind}: {error}" if error else "no error (unexpected)"
    _say(
        out,
        f"=> failed after {_plural(outcome.requests, 'attempt')}: {summary}",
        _INDENT,
        hanging=3,
    )
    for note in getattr(error, "__notes__", ()):
        _say(out, f"note: {note}", _INDENT + "   ", hanging=6)
    print(file=out)
    return outcome


def _summary(out: TextIO, first: DemoCall, second: DemoCall, fast: bool) -> None:
    clock = " of virtual time" if fast else ""
    _say(
        out,
        f"Summary: the server saw {first.requests + second.requests} requests "
        f"({first.requests} for call 1, {second.requests} for call 2) in "
        f"{first.seconds + second.seconds:.1f} s{clock}. Call 1 waited the 1 s its Retry-After "
        "asked for, then backed off with jitter, and succeeded; call 2 failed at once with the "
        "fix in its notes, because retrying a 402 only spends time.",
        hanging=9,
    )


def _asker(client: openai.OpenAI) -> Callable[[str], str]:
    """The decorated function the demo calls: plain SDK code under ``@llm_retry``."""

    @llm_retry(preset=PRESET)
    def ask(question: str) -> str:
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}]
        )
        return completion.choices[0].message.content or ""

    return ask


def _header(out: TextIO, server: FaultServer, fast: bool) -> None:
    waits = (
        "skipped: a virtual clock records them (--fast)"
        if fast
        else "real, so this takes a few seconds (--fast skips them)"
    )
    lines = [
        f'llm-retry demo: @llm_retry(preset="{PRESET}", profile prod) around a real openai client',
        f"{_INDENT}server  {server.base_url}, a local FaultServer answering as scripted",
        f"{_INDENT}client  openai.OpenAI(max_retries=0): llm-retry does the retrying",
        f"{_INDENT}waits   {waits}",
        "",
    ]
    print("\n".join(lines), file=out)


def _run(out: TextIO, openai_module: Any, fast: bool) -> int:
    from llm_retry.testing import FaultServer  # noqa: PLC0415 - the testing package is imported on demand
    from llm_retry.testing._modes import no_wait  # noqa: PLC0415

    with ExitStack() as stack:
        server = stack.enter_context(FaultServer())
        stack.enter_context(use_profile("prod"))
        if fast:
            stack.enter_context(no_wait())
        client = stack.enter_context(
            openai_module.OpenAI(
                base_url=server.base_url, api_key="sk-demo", max_retries=0, timeout=10.0
            )
        )
        _header(out, server, fast)
        ask = _asker(client)
        first = _recovering_call(out, server, ask)
        second = _failing_call(out, server, ask, openai_module.APIStatusError)
        _summary(out, first, second, fast)
    return 0


def run_demo(out: TextIO = sys.stdout, *, fast: bool = False) -> int:
    """Run the demo, printing to ``out``; return the exit status (1 without the openai SDK).

    Args:
        out: where to print.
        fast: skip the waits on a virtual clock instead of sleeping them.
    """
    try:
        import openai  # noqa: PLC0415 - optional: the ``demo`` extra
    except ImportError:
        print(f"llm-retry: {INSTALL_HINT}", file=sys.stderr)
        return 1
    from . import quiet_logs  # noqa: PLC0415 - cli imports this module on demand

    with quiet_logs():
        return _run(out, openai, fast)
