"""Charts as inline SVG, drawn on the server: no script, no CDN, readable without colour.

Each chart is a ``<figure>`` with a caption, an SVG with ``role="img"`` and a text summary as its label, and the
numbers in a table underneath (collapsed), so screen readers and people who want exact values get them too.
Series differ by colour *and* by dash pattern / fill pattern.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .html import esc, table

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 56
SERIES_CLASSES = ("s0", "s1", "s2")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 5 × 10ⁿ)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        top = step * 10**exponent
        if top >= value:
            return float(top)
    return float(10 ** (exponent + 1))


def _axes(top: float, bottom: float = 0.0) -> tuple[str, float, float]:
    """The y grid and labels; returns svg, plot height and the y of value 0."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    span = top - bottom
    for i in range(5):
        value = bottom + span * i / 4
        y = TOP + plot_h - plot_h * (value - bottom) / span
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    zero = TOP + plot_h - plot_h * (0 - bottom) / span
    return "".join(parts), plot_h, zero


def _x_labels(categories: Sequence[str], xs: Sequence[float]) -> str:
    every = max(1, math.ceil(len(categories) / 12))
    return "".join(
        f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{esc(c)}</text>'
        for i, (c, x) in enumerate(zip(categories, xs, strict=True))
        if i % every == 0
    )


def _legend(series: Sequence[Series]) -> str:
    items = []
    for i, s in enumerate(series):
        x = LEFT + i * 180
        cls = SERIES_CLASSES[i % len(SERIES_CLASSES)]
        items.append(
            f'<rect class="{cls} bar" x="{x}" y="{HEIGHT - 22}" width="14" height="10"/>'
            f'<text class="legend" x="{x + 20}" y="{HEIGHT - 13}">{esc(s.name)}</text>'
        )
    return "".join(items)


def _figure(title: str, summary: str, svg_body: str, headers: Sequence[str], rows: list[list[str]]) -> str:
    data = table(headers, rows, caption=f"{title}: values")
    return (
        f'<figure class="chart"><figcaption>{esc(title)}</figcaption>'
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{esc(summary)}" '
        f'xmlns="http://www.w3.org/2000/svg">{svg_body}</svg>'
        f"<details><summary>Show the numbers</summary>{data}</details></figure>"
    )


def grouped_bars(title: str, categories: Sequence[str], series: Sequence[Series], *, summary: str) -> str:
    """Side-by-side bars per category (e.g. score bins: live vs candidate)."""
    if not categories:
        return f'<p class="empty">{esc(title)}: no data in this period.</p>'
    top = nice_max(max((v for s in series for v in s.values), default=0))
    grid, plot_h, zero = _axes(top)
    slot = (WIDTH - LEFT - RIGHT) / len(categories)
    bar_w = max(1.0, slot * 0.8 / len(series))
    bars, centres = [], []
    for ci in range(len(categories)):
        x0 = LEFT + ci * slot + slot * 0.1
        centres.append(LEFT + ci * slot + slot / 2)
        for si, s in enumerate(series):
            h = plot_h * s.values[ci] / top
            cls = SERIES_CLASSES[si % len(SERIES_CLASSES)]
            bars.append(
                f'<rect class="{cls} bar" x="{x0 + si * bar_w:.1f}" y="{zero - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"><title>{esc(s.name)} {esc(categories[ci])}: '
                f"{s.values[ci]:g}</title></rect>"
            )
    body = grid + "".join(bars) + _x_labels(categories, centres) + _legend(series)
    rows = [[esc(c), *(f"{s.values[i]:g}" for s in series)] for i, c in enumerate(categories)]
    return _figure(title, summary, body, ["", *(s.name for s in series)], rows)


def lines(title: str, categories: Sequence[str], series: Sequence[Series], *, summary: str) -> str:
    """One line per series over categories (e.g. MQLs per ISO week), with a marker on every point."""
    if not categories:
        return f'<p class="empty">{esc(title)}: no data in this period.</p>'
    top = nice_max(max((v for s in series for v in s.values), default=0))
    grid, plot_h, zero = _axes(top)
    n = len(categories)
    step = (WIDTH - LEFT - RIGHT) / max(1, n)
    xs = [LEFT + step * (i + 0.5) for i in range(n)]
    paths = []
    # Drawn last-first so the dashed first series (live) stays visible where the lines coincide.
    for si, s in reversed(list(enumerate(series))):
        cls = SERIES_CLASSES[si % len(SERIES_CLASSES)]
        pts = [(x, zero - plot_h * v / top) for x, v in zip(xs, s.values, strict=True)]
        d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(pts))
        paths.append(f'<path class="{cls} line" d="{d}"/>')
        paths.extend(
            f'<circle class="{cls} dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5"><title>{esc(s.name)} '
            f"{esc(categories[i])}: {s.values[i]:g}</title></circle>"
            for i, (x, y) in enumerate(pts)
        )
    body = grid + "".join(paths) + _x_labels(categories, xs) + _legend(series)
    rows = [[esc(c), *(f"{s.values[i]:g}" for s in series)] for i, c in enumerate(categories)]
    return _figure(title, summary, body, ["", *(s.name for s in series)], rows)


def timeline(
    title: str, points: Sequence[tuple[datetime, float]], marks: Sequence[tuple[datetime, str]], *, summary: str
) -> str:
    """A line of a value over time (sampled by the caller), with labelled vertical marks (qualified, recycled)."""
    if not points:
        return f'<p class="empty">{esc(title)}: no history for this lead.</p>'
    start, end = points[0][0], points[-1][0]
    span = max((end - start).total_seconds(), 1.0)
    low = min(0.0, min(v for _, v in points))
    top = nice_max(max(v for _, v in points))
    grid, plot_h, _ = _axes(top, low)

    def x_of(at: datetime) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (at - start).total_seconds() / span

    def y_of(value: float) -> float:
        return TOP + plot_h - plot_h * (value - low) / (top - low)

    d = [f"{'M' if i == 0 else 'L'}{x_of(at):.1f},{y_of(value):.1f}" for i, (at, value) in enumerate(points)]
    body = [grid, f'<path class="s1 line" d="{" ".join(d)}"/>']
    for at, label in marks:
        x = x_of(at)
        body.append(
            f'<line class="mark" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>'
            f'<text class="mark-label" x="{x + 3:.1f}" y="{TOP + 10}">{esc(label)}</text>'
        )
    ticks = [start + (end - start) * i / 4 for i in range(5)] if end > start else [start]
    body.extend(
        f'<text class="tick" x="{x_of(t):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
        f"{esc(t.strftime('%b %d'))}</text>"
        for t in ticks
    )
    rows = [[esc(at.strftime("%Y-%m-%d %H:%M")), f"{v:g}"] for at, v in points]
    return _figure(title, summary, "".join(body), ["time (UTC)", "score"], rows)
