"""Plain-text tables of simulated KPIs: one rule set (``sim run``) or two side by side (``sim compare``)."""

from __future__ import annotations

from collections.abc import Sequence

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


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    return out


def run_table(summaries: Sequence[Summary]) -> str:
    agg = aggregate(summaries)
    lines = [volumes_line(summaries), ""]
    for scope, metrics in agg.items():
        kind = scope.split(":")[0]
        rows = [[_scope_title(scope), "mean ± 95% CI"]]
        rows += [[f"  {LABELS[m]}", cell(m, metrics[m])] for m in SHOWN.get(kind, METRICS)]
        lines += [*_table(rows), ""]
    return "\n".join(lines).rstrip() + "\n"


def compare_table(current: Sequence[Summary], proposed: Sequence[Summary],
                  labels: tuple[str, str] = ("current", "proposed")) -> str:
    a, b = aggregate(current), aggregate(proposed)
    deltas = paired_deltas(current, proposed)
    lines = [f"{labels[0]}: " + volumes_line(current), f"{labels[1]}: " + volumes_line(proposed), ""]
    empty = Estimate(None, None, 0)
    for scope in deltas:
        kind = scope.split(":")[0]
        rows = [[_scope_title(scope), labels[0], labels[1], "delta (paired)", ""]]
        for m in SHOWN.get(kind, METRICS):
            ea, eb, ed = a.get(scope, {}).get(m, empty), b.get(scope, {}).get(m, empty), deltas[scope][m]
            rows.append([f"  {LABELS[m]}", cell(m, ea), cell(m, eb), cell(m, ed, signed=True), verdict(m, ed)])
        lines += [*_table(rows), ""]
    return "\n".join(lines).rstrip() + "\n"
