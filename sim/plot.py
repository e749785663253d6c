"""The day profile as a self-contained HTML page with inline SVG (no plotting library).

Three panels over the hours of the day: offered calls per day (bars), service
level within the threshold, and ASA; one line per rule set.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 30, 30


def _nice(value: float) -> float:
    """The smallest 1, 2, 4, 5 or 8 x 10^k at or above ``value`` (quarter ticks stay round)."""
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for step in (1, 2, 4, 5, 8, 10):
        if step * 10**exp >= value:
            return float(step * 10**exp)
    return float(10 ** (exp + 1))  # pragma: no cover - the loop always returns


def _hours(profiles: Mapping[str, Mapping[str, Sequence[float | None]]]) -> list[int]:
    used = [h for h in range(24) if any((p["offered_per_day"][h] or 0) > 0 for p in profiles.values())]
    return list(range(min(used), max(used) + 1)) if used else list(range(24))


def _panel(title: str, hours: list[int], series: Mapping[str, Sequence[float | None]], *, bars: bool,
           percent: bool, unit: str) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for s in series.values() for h in hours if (v := s[h]) is not None]
    top = max(values, default=1.0)
    top = 1.0 if percent else _nice(top * 1.05)
    slot = plot_w / len(hours)

    def x(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-label="{html.escape(title)}">',
             f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#333"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>']
    for k in range(5):
        v = top * k / 4
        label = f"{v * 100:.0f}%" if percent else f"{v:g}{unit}"
        parts.append(f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{WIDTH - RIGHT}" y2="{y(v):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">{label}</text>')
    for i, h in enumerate(hours):
        parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - 10}" font-size="11" text-anchor="middle">{h}h</text>')
    n = max(len(series), 1)
    for k, (name, s) in enumerate(series.items()):
        color = COLORS[k % len(COLORS)]
        if bars:
            bw = slot * 0.8 / n
            for i, h in enumerate(hours):
                v = s[h]
                if v:
                    bx = LEFT + slot * i + slot * 0.1 + bw * k
                    parts.append(f'<rect x="{bx:.1f}" y="{y(v):.1f}" width="{bw:.1f}" '
                                 f'height="{TOP + plot_h - y(v):.1f}" fill="{color}" opacity="0.7">'
                                 f'<title>{html.escape(name)} {h}h: {v:.1f}</title></rect>')
        else:
            points = [f"{x(i):.1f},{y(v):.1f}" for i, h in enumerate(hours) if (v := s[h]) is not None]
            if points:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(points)}"/>')
            for i, h in enumerate(hours):
                v = s[h]
                if v is not None:
                    shown = f"{v * 100:.1f}%" if percent else f"{v:.1f}{unit}"
                    parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{color}">'
                                 f'<title>{html.escape(name)} {h}h: {shown}</title></circle>')
        lx = WIDTH - RIGHT - 90 * (n - k)  # legend in the title row, one entry per rule set
        parts.append(f'<rect x="{lx}" y="8" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{lx + 14}" y="17" font-size="11">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def day_profile_html(
    profiles: Mapping[str, Mapping[str, Sequence[float | None]]],
    *,
    title: str,
    threshold: float,
    notes: Sequence[str] = (),
) -> str:
    """One page; ``profiles`` maps a rule-set label to ``sim.kpi.hourly_profile`` output."""
    hours = _hours(profiles)
    panels = [
        _panel("Offered calls per day, by hour of arrival", hours,
               {k: p["offered_per_day"] for k, p in profiles.items()}, bars=True, percent=False, unit=""),
        _panel(f"Service level (answered within {threshold:.0f} s / offered)", hours,
               {k: p["sl"] for k, p in profiles.items()}, bars=False, percent=True, unit=""),
        _panel("ASA: mean wait of answered calls (s)", hours,
               {k: p["asa"] for k, p in profiles.items()}, bars=False, percent=False, unit=" s"),
        _panel("Abandonment (abandoned in queue / offered)", hours,
               {k: p["abandonment"] for k, p in profiles.items()}, bars=False, percent=True, unit=""),
    ]
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return (
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:20px;max-width:800px}svg{display:block;margin:12px 0}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><ul>{note_html}</ul>\n"
        + "\n".join(panels)
        + "\n</body></html>\n"
    )
