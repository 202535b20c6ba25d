"""Inline SVG charts of the report: mean ± std per method, with an axis zoomed to the data (close values
stay apart; the axis says where it starts), error bars, one colour per method across every chart and the
legend beside the plot, never over it. No script, no external resource; the SVG scales to its box."""
from __future__ import annotations

import math
from html import escape
from typing import Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
W, H, LEFT, RIGHT, TOP, BOTTOM = 560, 260, 48, 12, 12, 44


def method_colours(methods: Sequence[str]) -> dict[str, str]:
    """One fixed colour per method (in the order given), the same in every chart of a page."""
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(dict.fromkeys(methods))}


def axis_range(lows: Sequence[float], highs: Sequence[float]) -> tuple[float, float, float]:
    """(start, end, tick step): zoomed around [min(lows), max(highs)], on round ticks, never below 0."""
    lo, hi = min(lows), max(highs)
    span = max(hi - lo, 1e-9)
    step = next(s * 10 ** e for e in range(-3, 4) for s in (1, 2, 5) if s * 10 ** e >= span / 5)
    start = max(0.0, math.floor((lo - 0.5 * step) / step) * step)
    end = math.ceil((hi + 0.5 * step) / step) * step
    return start, end, step


def _y(v: float, start: float, end: float) -> float:
    return TOP + (H - TOP - BOTTOM) * (1 - (v - start) / (end - start))


def _axis(start: float, end: float, step: float, ylabel: str) -> list[str]:
    out = []
    n = int(round((end - start) / step))
    for i in range(n + 1):
        v = start + i * step
        y = _y(v, start, end)
        label = f"{v:g}"
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                   f'<text class="ytick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{label}</text>')
    out.append(f'<text x="12" y="{TOP + (H - TOP - BOTTOM) / 2:.0f}" font-size="11" text-anchor="middle" '
               f'transform="rotate(-90 12 {TOP + (H - TOP - BOTTOM) / 2:.0f})">{escape(ylabel)}</text>')
    return out


def svg_chart(groups: Sequence[str], series: dict[str, dict[int, tuple[float, float]]], colours: dict[str, str],
              kind: str = "bar", ylabel: str = "test accuracy (%)", title: str = "") -> str:
    """An SVG chart plus an HTML legend. ``series``: method -> {group index: (mean, std)}; ``kind`` ``bar``
    (grouped bars) or ``line`` (one line per method across the groups, e.g. IPC)."""
    points = [(m, s) for m, d in series.items() for s in d.values()]
    if not points:
        return ""
    start, end, step = axis_range([m - s for _, (m, s) in points], [m + s for _, (m, s) in points])
    body = _axis(start, end, step, ylabel)
    slot = (W - LEFT - RIGHT) / max(len(groups), 1)
    methods = list(series)
    for g, name in enumerate(groups):
        body.append(f'<text x="{LEFT + slot * (g + .5):.1f}" y="{H - BOTTOM + 16}" font-size="11" '
                    f'text-anchor="middle">{escape(name)}</text>')
    bar = slot * 0.8 / max(len(methods), 1)
    for j, m in enumerate(methods):
        c = colours[m]
        line = []
        for g, (mean, std) in sorted(series[m].items()):
            x = LEFT + slot * (g + .5) + ((j - (len(methods) - 1) / 2) * bar if kind == "bar" else 0)
            y, y0 = _y(mean, start, end), _y(start, start, end)
            if kind == "bar":
                body.append(f'<rect class="bar" x="{x - bar / 2:.1f}" y="{y:.1f}" width="{bar * .9:.1f}" '
                            f'height="{y0 - y:.1f}" fill="{c}"><title>{escape(m)}: {mean:.1f} ± {std:.1f}</title></rect>')
            else:
                line.append(f"{x:.1f},{y:.1f}")
                body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{c}"><title>{escape(m)}: '
                            f'{mean:.1f} ± {std:.1f}</title></circle>')
            if std:
                lo, hi = _y(max(mean - std, start), start, end), _y(mean + std, start, end)
                body.append(f'<path d="M{x:.1f},{lo:.1f}V{hi:.1f}M{x - 4:.1f},{lo:.1f}h8M{x - 4:.1f},{hi:.1f}h8" '
                            f'stroke="#222" fill="none"/>')
        if line:
            body.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="{c}" stroke-width="2"/>')
    note = f"axis from {start:g} (zoomed; bars do not start at 0)" if start > 0 else "axis from 0"
    legend = "".join(f'<span class="key"><i style="background:{colours[m]}"></i>{escape(m)}</span>' for m in methods)
    return (f'<figure class="chart"><svg viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title or ylabel)}">'
            f'{"".join(body)}</svg><figcaption>{escape(title)}{" — " if title else ""}{note}; mean ± std '
            f'(error bars) <span class="legend">{legend}</span></figcaption></figure>')
