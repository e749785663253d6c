"""Prometheus text exposition (format 0.0.4) of the live state and the service's health. Pure.

The families are built here and written by ``prometheus_client`` (its exposition: escaping,
number format, HELP and TYPE lines); one registry per scrape, so nothing lingers between them.

Queue and line metrics follow the ``asterisk_queue_*`` names of the usual
Asterisk exporters; the service's own health is ``aiguilleur_*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from cdr.kpi import DEFINITIONS, KpiSettings, service_level_of_counts
from queues.snapshot import LiveSnapshot
from web.wallboard import LINE_STATUSES, TodayStats

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes


@dataclass(frozen=True, slots=True)
class Health:
    ami_connected: bool
    spool_depth: int  # records fsync'd in the spool, not yet in PostgreSQL
    backlog: int  # records submitted, not yet in PostgreSQL (memory + spool)
    write_lag_seconds: float  # how long the backlog has not been empty (0 when empty)
    written_total: int
    write_failures_total: int
    dropped_total: int
    open_calls: int
    sse_clients: int
    live_updates_total: int


class _Out:
    """The metric families of one scrape, exposed by prometheus_client (its text format, its escaping)."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], float]]) -> None:
        rows = list(samples)
        labels = list(rows[0][0]) if rows else []
        metric = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(name, help_text, labels=labels)
        for sample_labels, value in rows:
            metric.add_metric([sample_labels[k] for k in labels], value)
        self.families.append(metric)

    def collect(self) -> list[Metric]:
        return self.families

    def text(self) -> str:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return generate_latest(registry).decode("utf-8")


def render(
    snapshot: LiveSnapshot,
    partner_of_line: Mapping[str, str],
    today: Mapping[str, TodayStats],
    health: Health,
    now: float,
    *,
    service_level_seconds: float = KpiSettings.service_level_seconds,
    today_overall: TodayStats | None = None,
) -> str:
    """``today``: the day's records per queue (``web.live.today_stats``); the service level adds
    the callers of ``snapshot`` waiting past ``service_level_seconds`` (``cdr.kpi.service_level_live``)."""
    out = _Out()
    names = sorted(snapshot.queues)
    queues = [snapshot.queues[n] for n in names]
    out.family("asterisk_queue_callers", "gauge", "Callers waiting in the queue.",
               (({"queue": q.name}, len(q.callers)) for q in queues))
    out.family("asterisk_queue_longest_wait_seconds", "gauge", "Wait of the caller waiting longest.",
               (({"queue": q.name}, max((max(0.0, now - c.joined_at) for c in q.callers), default=0.0))
                for q in queues))
    out.family("asterisk_queue_completed_total", "counter", "Calls answered and completed (app_queue counter).",
               (({"queue": q.name}, q.completed) for q in queues))
    out.family("asterisk_queue_abandoned_total", "counter", "Callers who hung up while waiting (app_queue counter).",
               (({"queue": q.name}, q.abandoned) for q in queues))
    member_samples: list[tuple[Mapping[str, str], float]] = []
    for q in queues:
        counts = dict.fromkeys(LINE_STATUSES, 0)
        for member in q.members.values():
            line = snapshot.lines.get(member.line)
            status = "paused" if member.paused else (line.status if line else "logged_out")
            counts[status] = counts.get(status, 0) + 1
        member_samples.extend(({"queue": q.name, "status": s}, n) for s, n in counts.items())
    out.family("asterisk_queue_members", "gauge", "Queue members by line status.", member_samples)
    past = {q.name: sum(1 for c in q.callers if now - c.joined_at > service_level_seconds) for q in queues}
    sl_samples: list[tuple[Mapping[str, str], float]] = []
    for name in sorted(set(today) | {n for n, count in past.items() if count}):
        stats = today.get(name)
        level = service_level_of_counts(stats.answered_within_threshold if stats else 0,
                                        stats.offered if stats else 0, past.get(name, 0))
        if level is not None:
            sl_samples.append(({"queue": name}, level))
    out.family("asterisk_queue_service_level_today_ratio", "gauge",
               f"{DEFINITIONS['service_level']} (today, T = {service_level_seconds:g} s).", sl_samples)
    if today_overall is not None or any(past.values()):
        overall = service_level_of_counts(today_overall.answered_within_threshold if today_overall else 0,
                                          today_overall.offered if today_overall else 0, sum(past.values()))
        out.family("aiguilleur_service_level_today_ratio", "gauge",
                   f"{DEFINITIONS['service_level']} (today, every queue, T = {service_level_seconds:g} s).",
                   [({}, overall)] if overall is not None else [])
    out.family("asterisk_queue_waiting_past_threshold", "gauge",
               f"{DEFINITIONS['waiting_past_threshold']} (T = {service_level_seconds:g} s).",
               (({"queue": name}, count) for name, count in sorted(past.items())))
    out.family("asterisk_queue_answered_within_threshold_today", "gauge",
               f"{DEFINITIONS['answered_within_threshold']} (today).",
               (({"queue": name}, stats.answered_within_threshold) for name, stats in sorted(today.items())))
    out.family("asterisk_queue_offered_today", "gauge", f"{DEFINITIONS['offered']} (today).",
               (({"queue": name}, stats.offered) for name, stats in sorted(today.items())))
    per_partner: dict[tuple[str, str], int] = {}
    for partner in sorted(set(partner_of_line.values())):
        for status in LINE_STATUSES:
            per_partner[(partner, status)] = 0
    for line_id, partner in partner_of_line.items():
        state = snapshot.lines.get(line_id)
        status = state.status if state else "logged_out"
        per_partner[(partner, status)] = per_partner.get((partner, status), 0) + 1
    out.family("asterisk_queue_lines", "gauge", "Partner lines by status.",
               (({"partner": p, "status": s}, n) for (p, s), n in sorted(per_partner.items())))
    out.family("asterisk_queue_line_calls_taken", "gauge", "Queue calls taken by the line (app_queue CallsTaken).",
               (({"line": line_id, "partner": partner_of_line.get(line_id, "")}, state.calls_taken)
                for line_id, state in sorted(snapshot.lines.items())))
    out.family("aiguilleur_ami_connected", "gauge", "1 when the AMI link is logged in.",
               [({}, int(health.ami_connected))])
    out.family("aiguilleur_live_synced", "gauge", "1 when the live state was resynced since the last AMI outage.",
               [({}, int(snapshot.synced))])
    if snapshot.nodes:  # several Asterisk nodes followed (issue 13): the view above is their merge
        out.family("aiguilleur_live_node_synced", "gauge",
                   "1 when this node's live state is synced (its AMI link up and resynced).",
                   (({"node": n.node}, int(n.synced)) for n in snapshot.nodes))
    out.family("aiguilleur_live_drift", "gauge", "Events that contradicted the live state since the last resync.",
               [({}, snapshot.drift)])
    out.family("aiguilleur_live_updates_total", "counter", "Live state changes pushed to the wallboard.",
               [({}, health.live_updates_total)])
    out.family("aiguilleur_cdr_spool_depth", "gauge", "Records in the fsync'd spool not yet in PostgreSQL.",
               [({}, health.spool_depth)])
    out.family("aiguilleur_cdr_backlog", "gauge", "Records submitted and not yet in PostgreSQL.",
               [({}, health.backlog)])
    out.family("aiguilleur_cdr_write_lag_seconds", "gauge",
               "Seconds since the record backlog was last empty (0 when every record is written).",
               [({}, round(health.write_lag_seconds, 3))])
    out.family("aiguilleur_cdr_written_total", "counter", "Records written to PostgreSQL.",
               [({}, health.written_total)])
    out.family("aiguilleur_cdr_write_failures_total", "counter", "Failed write attempts (each retried).",
               [({}, health.write_failures_total)])
    out.family("aiguilleur_cdr_dropped_total", "counter", "Records dropped because memory was full.",
               [({}, health.dropped_total)])
    out.family("aiguilleur_calls_open", "gauge", "Calls in progress followed by the CDR correlator.",
               [({}, health.open_calls)])
    out.family("aiguilleur_web_sse_clients", "gauge", "Connected live-update (SSE) clients.",
               [({}, health.sse_clients)])
    return out.text()
