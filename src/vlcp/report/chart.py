"""Inline SVG charts of the report: mean ± std per method, error bars, one colour per method across every
chart and the legend beside the plot, never over it. No script, no external resource; the SVG scales to its
box (text stays ≥ 10 px on a 390 px phone).

The axis is zoomed only as far as the noise allows: its span is at least ``ZOOM_NOISE`` times the largest
error bar (or, with one network per method and so no error bar, ``NOISE_FLOOR`` of the largest value), so a
difference inside the error bars never looks large; the caption names the methods within one std of the best.
"""
from __future__ import annotations

import math
from html import escape
from typing import Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
W, H, RIGHT, TOP, BOTTOM = 420, 240, 10, 12, 40
FONT = 13  # user units; the chart is at most 32em wide and about 358 px on a 390 px phone: ≥ 10 px
TITLE_BAND = 24  # the rotated axis title's column, left of the tick labels
ZOOM_NOISE = 10.0
NOISE_FLOOR = 0.005


def method_colours(methods: Sequence[str]) -> dict[str, str]:
    """One fixed colour per method (in the order given), the same in every chart of a page."""
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(dict.fromkeys(methods))}


def axis_range(lows: Sequence[float], highs: Sequence[float], noise: float = 0.0) -> tuple[float, float, float]:
    """(start, end, tick step) around [min(lows), max(highs)] on round ticks, never below 0, spanning at least
    ``ZOOM_NOISE`` × max(``noise``, ``NOISE_FLOOR`` × the largest value)."""
    lo, hi = min(lows), max(highs)
    floor = NOISE_FLOOR * max(abs(hi), abs(lo))
    lo = min(lo, hi - ZOOM_NOISE * max(noise, floor))
    span = max(hi - lo, 1e-9)
    step = next(s * 10 ** e for e in range(-3, 4) for s in (1, 2, 5) if s * 10 ** e >= span / 5)
    start = max(0.0, math.floor((lo - 0.5 * step) / step) * step)
    end = math.ceil((hi + 0.5 * step) / step) * step
    return start, end, step


def _y(v: float, start: float, end: float) -> float:
    return TOP + (H - TOP - BOTTOM) * (1 - (v - start) / (end - start))


def _tick_labels(start: float, end: float, step: float) -> list[tuple[float, str]]:
    n = int(round((end - start) / step))
    digits = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return [(start + i * step, f"{start + i * step:.{digits}f}") for i in range(n + 1)]


def _left(ticks: list[tuple[float, str]]) -> float:
    """The plot's left edge: the axis title's band, then room for the widest tick label (≈ 0.62 em a digit)."""
    return TITLE_BAND + 0.62 * FONT * max(len(t) for _, t in ticks) + 8


def _axis(ticks: list[tuple[float, str]], start: float, end: float, left: float, ylabel: str) -> list[str]:
    out = []
    for v, label in ticks:
        y = _y(v, start, end)
        out.append(f'<line x1="{left:.1f}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                   f'<text class="ytick" x="{left - 5:.1f}" y="{y + FONT / 3:.1f}" text-anchor="end" '
                   f'font-size="{FONT}">{label}</text>')
    mid = TOP + (H - TOP - BOTTOM) / 2
    out.append(f'<text class="ytitle" x="{FONT}" y="{mid:.0f}" font-size="{FONT}" text-anchor="middle" '
               f'transform="rotate(-90 {FONT} {mid:.0f})">{escape(ylabel)}</text>')
    return out


def close_to_best(groups: Sequence[str], series: dict[str, dict[int, tuple[float, float]]]) -> list[str]:
    """Per group, the methods within one std of its best (``vlcp.evaluate.results.within_one_std``), in words."""
    from vlcp.evaluate.results import within_one_std

    out = []
    for g, name in enumerate(groups):
        close = within_one_std({m: d[g] for m, d in series.items() if g in d})
        if close:
            out.append(f"{name}: {', '.join(close[1])} within one std of {close[0]}")
    return out


def _bar(x: float, width: float, mean: float, std: float, start: float, end: float, colour: str, name: str) -> str:
    y, y0 = _y(mean, start, end), _y(start, start, end)
    return (f'<rect class="bar" x="{x - width / 2:.1f}" y="{y:.1f}" width="{width * .9:.1f}" height="{y0 - y:.1f}" '
            f'fill="{colour}"><title>{escape(name)}: {mean:.1f}{f" ± {std:.1f}" if std else ""}</title></rect>')


def _error_bar(x: float, mean: float, std: float, start: float, end: float) -> str:
    lo, hi = _y(max(mean - std, start), start, end), _y(mean + std, start, end)
    return f'<path d="M{x:.1f},{lo:.1f}V{hi:.1f}M{x - 4:.1f},{lo:.1f}h8M{x - 4:.1f},{hi:.1f}h8" stroke="#222" fill="none"/>'


def _reference_line(ref: tuple[str, float], start: float, end: float, left: float) -> str:
    label, value = ref
    y = _y(value, start, end)
    return (f'<line class="reference" x1="{left:.1f}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#444" '
            f'stroke-dasharray="5 3"><title>{escape(label)}: {value:.1f}</title></line>'
            f'<text x="{W - RIGHT}" y="{y - 4:.1f}" font-size="{FONT}" text-anchor="end">{escape(label)} '
            f'{value:.1f}</text>')


def svg_chart(groups: Sequence[str], series: dict[str, dict[int, tuple[float, float]]], colours: dict[str, str],
              kind: str = "bar", ylabel: str = "test accuracy (%)", title: str = "",
              reference: tuple[str, float] | None = None) -> str:
    """An SVG chart plus an HTML legend. ``series``: method -> {group index: (mean, std)}; ``kind`` ``bar``
    (grouped bars) or ``line`` (one line per method across the groups, e.g. IPC); ``reference``: (label, value)
    drawn as a dashed line across the plot (e.g. the whole training set)."""
    points = [ms for d in series.values() for ms in d.values()]
    if not points:
        return ""
    refs = [reference[1]] if reference else []
    noise = max(s for _, s in points)
    start, end, step = axis_range([m - s for m, s in points] + refs, [m + s for m, s in points] + refs, noise)
    ticks = _tick_labels(start, end, step)
    left = _left(ticks)
    body = _axis(ticks, start, end, left, ylabel)
    slot = (W - left - RIGHT) / max(len(groups), 1)
    methods = list(series)
    for g, name in enumerate(groups):
        body.append(f'<text class="xtick" x="{left + slot * (g + .5):.1f}" y="{H - BOTTOM + FONT + 6}" '
                    f'font-size="{FONT}" text-anchor="middle">{escape(name)}</text>')
    bar = slot * 0.8 / max(len(methods), 1)
    for j, m in enumerate(methods):
        line = []
        for g, (mean, std) in sorted(series[m].items()):
            x = left + slot * (g + .5) + ((j - (len(methods) - 1) / 2) * bar if kind == "bar" else 0)
            if kind == "bar":
                body.append(_bar(x, bar, mean, std, start, end, colours[m], m))
            else:
                line.append(f"{x:.1f},{_y(mean, start, end):.1f}")
                body.append(f'<circle cx="{x:.1f}" cy="{_y(mean, start, end):.1f}" r="3.5" fill="{colours[m]}"><title>'
                            f'{escape(m)}: {mean:.1f}{f" ± {std:.1f}" if std else ""}</title></circle>')
            if std:
                body.append(_error_bar(x, mean, std, start, end))
        if line:
            body.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="{colours[m]}" stroke-width="2"/>')
    if reference:
        body.append(_reference_line(reference, start, end, left))
    return _figure(body, groups, series, colours, title or ylabel, title, start, noise)


def _figure(body: list[str], groups, series, colours, label: str, title: str, start: float, noise: float) -> str:
    axis = (f"axis from {start:g}, not 0 (its span is at least {ZOOM_NOISE:g}× the largest error bar)" if start > 0
            else "axis from 0")
    spread = "mean ± std (error bars)" if noise else "one network per method: no spread measured, no error bars"
    close = close_to_best(groups, series)
    close_txt = f"; {'; '.join(close)} (not a measured difference)" if close else ""
    legend = "".join(f'<span class="key"><i style="background:{colours[m]}"></i>{escape(m)}</span>' for m in series)
    return (f'<figure class="chart"><svg viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}">'
            f'{"".join(body)}</svg><figcaption>{escape(title)}{" — " if title else ""}{axis}; {spread}'
            f'{escape(close_txt)} <span class="legend">{legend}</span></figcaption></figure>')
