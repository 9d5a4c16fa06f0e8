"""Draw one call's attempts and waits as an SVG, from the events a real call emits.

The call is the real openai client against llm-retry's local `FaultServer`, under the
``deepseek`` preset, answered with a 429 (``Retry-After: 2``), a 503, then a success. It runs on
the virtual clock of `no_wait`, where each request is given 0.4 s, and with the jitter seeded,
so the picture is the same on every run. Everything drawn comes from the captured events:
``attempt_failed`` (what each attempt got and why), ``retry_scheduled`` (when each wait began,
its length and its source) and ``recovered`` (when the call ended).

Run from the repository root (the docs build does it through ``docs/hooks.py``)::

    python docs/scripts/timeline.py          # writes docs/images/timeline.svg
    python docs/scripts/timeline.py --check  # exit status 1 if that file is not current
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent.parent / "images" / "timeline.svg"
REQUEST_SECONDS = 0.4
SEED = 7

WIDTH, LEFT, RIGHT = 760, 24, 24
BAR_Y, BAR_H, HEIGHT = 100, 28, 200
LABEL_ROW = 34  # labels alternate between two rows above the bars, so neighbours never overlap
COLOURS = {"retry": "#e8833a", "fail": "#d64545", "success": "#3a9d5d", "wait": "#8a94a6"}


@dataclass(frozen=True)
class Attempt:
    """One attempt on the timeline: when it ran, what it got, and the wait after it."""

    number: int
    start: float
    end: float
    label: str
    kind: str  # "retry", "fail" or "success"
    wait: float = 0.0
    wait_source: str = ""


def capture() -> list[dict[str, Any]]:
    """Make the call and return its events."""
    import openai  # noqa: PLC0415 - only when drawing

    from llm_retry import llm_retry  # noqa: PLC0415
    from llm_retry.cli import quiet_logs  # noqa: PLC0415
    from llm_retry.testing import FaultServer, Reply, capture_events, no_wait  # noqa: PLC0415

    random.seed(SEED)
    with quiet_logs(), FaultServer() as server, no_wait() as clock, capture_events() as events:
        server.script(Reply(429, headers={"Retry-After": "2"}), Reply(503), Reply(200))
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-timeline", max_retries=0)

        @llm_retry(preset="deepseek")
        def ask(prompt: str) -> str:
            try:
                r = client.chat.completions.create(
                    model="deepseek-v4-flash", messages=[{"role": "user", "content": prompt}]
                )
            finally:
                clock.advance(REQUEST_SECONDS)  # the time the request takes, on the clock
            return r.choices[0].message.content or ""

        ask("hello")
        client.close()
    return list(events)


def attempts(events: list[dict[str, Any]]) -> list[Attempt]:
    """The attempts and waits the events describe."""
    failed = {e["attempt"]: e for e in events if e["event"] == "llm_retry.attempt_failed"}
    waits = {e["attempt"] - 1: e for e in events if e["event"] == "llm_retry.retry_scheduled"}
    ending = next(e for e in events if e["event"] in ("llm_retry.recovered", "llm_retry.gave_up"))
    found, start = [], 0.0
    for number in range(1, ending["attempts"] + 1):
        wait = waits.get(number)
        end = wait["elapsed"] if wait else ending["elapsed"]
        fail = failed.get(number)
        if fail is None:
            label, kind = "200 OK", "success"
        else:
            label, kind = f"{fail['status']} {fail['reason']}", fail["classification"]
        found.append(
            Attempt(
                number,
                start,
                end,
                label,
                kind,
                wait["wait"] if wait else 0.0,
                wait["source"] if wait else "",
            )
        )
        start = end + (wait["wait"] if wait else 0.0)
    return found


def _text(x: float, y: float, text: str, **attributes: str) -> str:
    extra = "".join(f' {key.replace("_", "-")}="{value}"' for key, value in attributes.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def render(found: list[Attempt]) -> str:
    """The SVG of ``found``: attempts as bars, waits as dashed spans, a seconds axis."""
    total = max(a.end for a in found)
    span = max(1.0, float(int(total) + 1))
    scale = (WIDTH - LEFT - RIGHT) / span

    def x(t: float) -> float:
        return LEFT + t * scale

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'role="img" aria-labelledby="title" font-family="system-ui, sans-serif" font-size="12">',
        '<title id="title">One call under the deepseek preset: attempts and waits</title>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" rx="8" fill="#ffffff"/>',
    ]
    for a in found:
        colour = COLOURS[a.kind]
        width = max(2.0, x(a.end) - x(a.start))
        parts.append(
            f'<rect x="{x(a.start):.1f}" y="{BAR_Y}" width="{width:.1f}" height="{BAR_H}" '
            f'rx="3" fill="{colour}"/>'
        )
        raised = LABEL_ROW * ((a.number - 1) % 2)
        parts.append(
            f'<line x1="{x(a.start):.1f}" y1="{BAR_Y - 4 - raised}" x2="{x(a.start):.1f}" '
            f'y2="{BAR_Y}" stroke="{colour}"/>'
        )
        top = BAR_Y - 24 - raised
        parts.append(_text(x(a.start) + 4, top, f"attempt {a.number}", font_weight="600"))
        parts.append(_text(x(a.start) + 4, top + 15, a.label, fill="#333333"))
        if a.wait:
            y = BAR_Y + BAR_H / 2
            parts.append(
                f'<line x1="{x(a.end):.1f}" y1="{y}" x2="{x(a.end + a.wait):.1f}" y2="{y}" '
                f'stroke="{COLOURS["wait"]}" stroke-width="2" stroke-dasharray="5 4"/>'
            )
            middle = x(a.end + a.wait / 2)
            wait = f"wait {a.wait:.1f} s ({a.wait_source})"
            parts.append(
                _text(middle, BAR_Y + BAR_H + 18, wait, text_anchor="middle", fill="#555555")
            )
    axis = BAR_Y + BAR_H + 40
    parts.append(
        f'<line x1="{LEFT}" y1="{axis}" x2="{WIDTH - RIGHT}" y2="{axis}" stroke="#999999"/>'
    )
    for second in range(int(span) + 1):
        tick = x(second)
        parts.append(
            f'<line x1="{tick:.1f}" y1="{axis}" x2="{tick:.1f}" y2="{axis + 5}" stroke="#999999"/>'
        )
        parts.append(
            _text(tick, axis + 18, f"{second} s", text_anchor="middle", fill="#555555")
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def current() -> str:
    """The SVG as the code draws it now."""
    return render(attempts(capture()))


def main(argv: list[str]) -> int:
    svg = current()
    if "--check" in argv:
        stale = not OUTPUT.is_file() or OUTPUT.read_text(encoding="utf-8") != svg
        if stale:
            print(f"{OUTPUT.name} is not current: run python docs/scripts/timeline.py")
        return int(stale)
    OUTPUT.parent.mkdir(exist_ok=True)
    if not OUTPUT.is_file() or OUTPUT.read_text(encoding="utf-8") != svg:
        OUTPUT.write_text(svg, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
