"""Tables of simulated KPIs: one rule set (``sim run``) or two side by side (``sim compare``).

Each report is a list of blocks (a line of text, or a ``Table`` of cells): ``run_table`` and
``compare_table`` lay them out as plain text; the CLI draws the same blocks with rich on a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sim.kpi import HIGHER_IS_BETTER, LABELS, METRICS, Estimate, Summary, aggregate, mean_volumes, paired_deltas

PERCENT = {"sl", "sl_answered", "abandonment", "occupancy"}
COUNTS = {"offered", "answered"}
# Shown per scope kind (the partner side has no offered / abandon figures).
SHOWN = {
    "overall": ("offered", "answered", "sl", "sl_answered", "asa", "aht", "abandonment", "occupancy"),
    "queue": ("offered", "sl", "asa", "abandonment"),
    "partner": ("answered", "sl_answered", "asa", "aht", "occupancy"),
}


def _num(metric: str, value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    sign = "+" if signed else ""
    if metric in PERCENT:
        return f"{value * 100:{sign}.1f}%"
    if metric in COUNTS:
        return f"{value:{sign},.0f}"
    return f"{value:{sign}.1f}"


def _half(metric: str, value: float | None) -> str:
    if value is None:
        return ""
    if metric in PERCENT:
        return f" ± {value * 100:.1f}"
    if metric in COUNTS:
        return f" ± {value:,.0f}"
    return f" ± {value:.1f}"


def cell(metric: str, est: Estimate, *, signed: bool = False) -> str:
    return _num(metric, est.mean, signed=signed) + _half(metric, est.half_width)


def verdict(metric: str, delta: Estimate) -> str:
    """'better' / 'worse' when the 95% CI of the paired delta excludes 0, else '~'."""
    if delta.mean is None or delta.half_width is None or abs(delta.mean) <= delta.half_width:
        return "~" if delta.mean is not None else ""
    better = HIGHER_IS_BETTER.get(metric)
    if better is None:
        return "+" if delta.mean > 0 else "-"
    return "better" if (delta.mean > 0) == better else "worse"


def _scope_title(scope: str) -> str:
    kind, _, name = scope.partition(":")
    return {"overall": "overall", "queue": f"queue {name}", "partner": f"partner {name}"}.get(kind, scope)


def volumes_line(summaries: Sequence[Summary]) -> str:
    v = mean_volumes(summaries)
    return (f"calls per replication (mean): {v['calls']:,.0f}: offered to a queue {v['offered']:,.0f}, "
            f"closed hours {v['closed']:,.0f}, pranks/wrong numbers {v['pranks']:,.0f}, "
            f"lost in the menu {v['lost_in_ivr']:,.0f}, queue timeouts {v['timeouts']:,.0f}")


@dataclass(frozen=True)
class Table:
    """A header row and body rows of cells; the first column names the row, the others are figures."""

    header: list[str]
    rows: list[list[str]]

    def lines(self) -> list[str]:
        """Plain text: the first column left-aligned, the others right-aligned, two spaces apart."""
        every = [self.header, *self.rows]
        widths = [max(len(r[i]) for r in every) for i in range(len(self.header))]
        cells = [[c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
                 for row in every]
        return ["  ".join(row).rstrip() for row in cells]


Block = str | Table  # one line of text, or a table


def plain(blocks: Sequence[Block]) -> list[str]:
    """The blocks as plain-text lines."""
    return [line for block in blocks for line in ([block] if isinstance(block, str) else block.lines())]


def _as_text(blocks: Sequence[Block]) -> str:
    return "\n".join(plain(blocks)).rstrip() + "\n"


def run_blocks(summaries: Sequence[Summary]) -> list[Block]:
    """The volumes line, then one table per scope: each KPI's mean and 95% confidence half-width."""
    agg = aggregate(summaries)
    blocks: list[Block] = [volumes_line(summaries), ""]
    for scope, metrics in agg.items():
        kind = scope.split(":")[0]
        rows = [[f"  {LABELS[m]}", cell(m, metrics[m])] for m in SHOWN.get(kind, METRICS)]
        blocks += [Table([_scope_title(scope), "mean ± 95% CI"], rows), ""]
    return blocks


def run_table(summaries: Sequence[Summary]) -> str:
    """``run_blocks`` as plain text."""
    return _as_text(run_blocks(summaries))


def compare_blocks(current: Sequence[Summary], proposed: Sequence[Summary],
                   labels: tuple[str, str] = ("current", "proposed")) -> list[Block]:
    """Both volumes lines, then one table per scope: each side's KPI and the paired delta with its verdict."""
    a, b = aggregate(current), aggregate(proposed)
    deltas = paired_deltas(current, proposed)
    blocks: list[Block] = [f"{labels[0]}: " + volumes_line(current), f"{labels[1]}: " + volumes_line(proposed), ""]
    empty = Estimate(None, None, 0)
    for scope in deltas:
        kind = scope.split(":")[0]
        rows = []
        for m in SHOWN.get(kind, METRICS):
            ea, eb, ed = a.get(scope, {}).get(m, empty), b.get(scope, {}).get(m, empty), deltas[scope][m]
            rows.append([f"  {LABELS[m]}", cell(m, ea), cell(m, eb), cell(m, ed, signed=True), verdict(m, ed)])
        blocks += [Table([_scope_title(scope), labels[0], labels[1], "delta (paired)", ""], rows), ""]
    return blocks


def compare_table(current: Sequence[Summary], proposed: Sequence[Summary],
                  labels: tuple[str, str] = ("current", "proposed")) -> str:
    """``compare_blocks`` as plain text."""
    return _as_text(compare_blocks(current, proposed, labels))
