"""A hand-written SVG of a burst: requests in flight and refusals over time, one panel per client.

No plotting dependency: the chart is a few hundred SVG elements written as text. Each panel
shows the requests the server was holding (admitted and not yet answered, a blue step line;
for instant replies, the requests admitted per bin) and the ``429`` refusals per bin (red bars),
on a shared time axis from the first request of the panel.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

Log = list[tuple[float, int, float]]  # (arrival, status, seconds held) per request

_W, _PANEL, _GAP, _LEFT, _TOP = 760, 90, 28, 190, 34
_BIN = 0.05


def _series(log: Log, end: float) -> tuple[list[float], list[int]]:
    start = log[0][0]
    bins = int(end / _BIN) + 1
    inflight = [0.0] * bins
    refused = [0] * bins
    for at, status, held in log:
        first = int((at - start) / _BIN)
        if status == 429:
            refused[min(first, bins - 1)] += 1
            continue
        if held <= 0:
            inflight[min(first, bins - 1)] += 1
            continue
        for b in range(first, min(bins, int((at - start + held) / _BIN) + 1)):
            lo, hi = max(at - start, b * _BIN), min(at - start + held, (b + 1) * _BIN)
            inflight[b] += max(0.0, hi - lo) / _BIN  # time-averaged requests held in the bin
    return inflight, refused


def burst_svg(title: str, panels: list[tuple[str, Log]], path: Path) -> None:
    """Write the chart of ``panels`` (client name, server log) to ``path``."""
    panels = [(name, log) for name, log in panels if log]
    end = max(log[-1][0] - log[0][0] + max(h for _, _, h in log) for _, log in panels)
    end = max(end, _BIN)
    series = [_series(log, end) for _, log in panels]
    top = max(1.0, *(max(*i, *r) for i, r in series))
    plot_w = _W - _LEFT - 20
    height = _TOP + len(panels) * (_PANEL + _GAP) + 30
    x = lambda t: _LEFT + plot_w * t / end  # noqa: E731 - a local scale
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{_W}" height="{height}" fill="white"/>',
        f'<text x="10" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<text x="{_W - 10}" y="18" text-anchor="end" fill="#555">'
        f'<tspan fill="#1f5fbf">in flight</tspan> / <tspan fill="#c0392b">429s</tspan> per '
        f"{_BIN * 1000:.0f} ms (scale 0-{top:.0f})</text>",
    ]
    for n, ((name, _), (inflight, refused)) in enumerate(zip(panels, series, strict=True)):
        y0 = _TOP + n * (_PANEL + _GAP) + _PANEL
        y = lambda v: y0 - _PANEL * v / top  # noqa: E731, B023 - per panel
        out.append(f'<text x="10" y="{y0 - _PANEL / 2:.1f}">{escape(name)}</text>')
        out.append(f'<line x1="{_LEFT}" y1="{y0}" x2="{_LEFT + plot_w}" y2="{y0}" stroke="#999"/>')
        for b, count in enumerate(refused):
            if count:
                bx, width = x(b * _BIN), max(1.0, x(_BIN) - _LEFT)
                out.append(
                    f'<rect x="{bx:.1f}" y="{y(count):.1f}" width="{width:.1f}" '
                    f'height="{y0 - y(count):.1f}" fill="#c0392b" opacity="0.7"/>'
                )
        points = " ".join(
            f"{x(b * _BIN):.1f},{y(v):.1f} {x((b + 1) * _BIN):.1f},{y(v):.1f}"
            for b, v in enumerate(inflight)
        )
        out.append(f'<polyline points="{points}" fill="none" stroke="#1f5fbf" stroke-width="1.5"/>')
    axis_y = _TOP + len(panels) * (_PANEL + _GAP) + 4
    step = 0.5 if end <= 6 else 1.0 if end <= 15 else 5.0
    t = 0.0
    while t <= end + 1e-9:
        out.append(f'<text x="{x(t):.1f}" y="{axis_y}" text-anchor="middle">{t:g} s</text>')
        t += step
    out.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
