"""``aiguilleur sim``: what-if simulation, traffic fitting and staffing from the command line.

    aiguilleur sim run [--hotline FILE] [--traffic FILE] [--start DATE] [--days N] [--replications R] [--seed S]
    aiguilleur sim compare CURRENT PROPOSED [same options]
    aiguilleur sim routing [--day DATE] [--replications R] [--seed S] [--tiers N] [--staffed SHARE]
    aiguilleur sim fit [--out FILE] [--since DATE] [--until DATE]
    aiguilleur sim erlang --calls-per-hour 120 --aht 300 [--target-sl 0.8] [--threshold 20] [--patience 60]
    aiguilleur sim erlang --per-partner [--date DATE | --calls-per-hour N]

Wired into ``aiguilleur.cli`` by ``cli_sim.register(sub)``. Bad input exits 2
with a message naming the file and field (``ConfigError`` is mapped by the
main CLI; calculator errors here).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path

from aiguilleur.cli_common import Table, progress, show, terminal
from aiguilleur.cli_common import iso_date as _date
from aiguilleur.cli_common import out as _out
from config.loader import ConfigError, load_hotline
from config.models import Hotline
from config.settings import REPO_ROOT, Settings
from sim import erlang
from sim.fit import fit_traffic
from sim.kpi import hourly_profile
from sim.plot import day_profile_html
from sim.report import compare_blocks, compare_table, run_blocks, run_table
from sim.routing_study import DEFAULT_WIDENINGS, busiest_day, run_study, variants, with_staffing
from sim.routing_study import report as routing_report
from sim.routing_study import report_blocks as routing_blocks
from sim.runner import Plan, Scenario, run
from sim.staffing import offered_per_hour_at_peak, partner_needs
from sim.traffic import Traffic, check_against, dump_traffic, load_traffic


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def traffic_path(settings: Settings, given: Path | None) -> Path:
    """``--traffic``, else ``traffic.yaml`` beside the hotline file, else the repository's."""
    if given is not None:
        return given
    beside = settings.hotline_file.parent / "traffic.yaml"
    return beside if beside.is_file() else REPO_ROOT / "config" / "traffic.yaml"


def _traffic(settings: Settings, args: argparse.Namespace) -> tuple[Traffic, Path]:
    path = traffic_path(settings, args.traffic)
    return load_traffic(path), path


def _plan(args: argparse.Namespace, traffic: Traffic) -> Plan:
    return Plan(start=args.start or traffic.volume.start, days=args.days, replications=args.replications,
                seed=args.seed, threshold=args.threshold)


def _header(kind: str, traffic_file: Path, plan: Plan, hotlines: list[tuple[str, Path]]) -> None:
    end = plan.start + dt.timedelta(days=plan.days - 1)
    _out(f"sim {kind}: " + ", ".join(f"{label} = {path}" for label, path in hotlines))
    _out(f"traffic {traffic_file}, {plan.start} to {end} ({plan.days} day(s)), {plan.replications} replication(s), "
         f"seed {plan.seed}, service level threshold {plan.threshold:.0f} s; ± = 95% confidence half-width")


def _write_plot(settings: Settings, args: argparse.Namespace, name: str, html: str) -> None:
    if args.no_plot:
        return
    path: Path = args.plot or settings.state_dir / "sim" / f"{name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    _out(f"day profile: {path}")


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    hotline_file: Path = args.hotline or settings.hotline_file
    hotline = load_hotline(hotline_file)
    traffic, traffic_file = _traffic(settings, args)
    plan = _plan(args, traffic)
    with progress(enabled=not args.no_progress) as bar:
        results = run([Scenario("current", hotline)], traffic, plan, progress=bar)
    _header("run", traffic_file, plan, [("rules", hotline_file)])
    if (console := terminal()) is not None:
        show(console, run_blocks(results["current"]))
    else:
        _out(run_table(results["current"]))
    _write_plot(settings, args, "run", day_profile_html(
        {"current": hourly_profile(results["current"])}, title=f"Day profile: {hotline.name}",
        threshold=plan.threshold, notes=[f"rules: {hotline_file}", f"traffic: {traffic_file}"]))
    return 0


def cmd_compare(settings: Settings, args: argparse.Namespace) -> int:
    current, proposed = load_hotline(args.current), load_hotline(args.proposed)
    traffic, traffic_file = _traffic(settings, args)
    plan = _plan(args, traffic)
    if plan.replications < 2:
        raise ConfigError("--replications: at least 2 are needed for confidence intervals")
    with progress(enabled=not args.no_progress) as bar:
        results = run([Scenario("current", current), Scenario("proposed", proposed)], traffic, plan, progress=bar)
    _header("compare", traffic_file, plan, [("current", args.current), ("proposed", args.proposed)])
    _out("delta = proposed - current on the same calls; better/worse when its 95% CI excludes 0, ~ otherwise")
    _out()
    if (console := terminal()) is not None:
        show(console, compare_blocks(results["current"], results["proposed"]))
    else:
        _out(compare_table(results["current"], results["proposed"]))
    _write_plot(settings, args, "compare", day_profile_html(
        {"current": hourly_profile(results["current"]), "proposed": hourly_profile(results["proposed"])},
        title="What-if: day profile", threshold=plan.threshold,
        notes=[f"current: {args.current}", f"proposed: {args.proposed}", f"traffic: {traffic_file}",
               f"{plan.start}, {plan.days} day(s), {plan.replications} replications, seed {plan.seed}"]))
    return 0


def _widenings(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of seconds: {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"every widening must be at least 1 s, got {text!r}")
    return values


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def cmd_routing(settings: Settings, args: argparse.Namespace) -> int:
    """Issue #11: best-partner share against service level, per routing variant, on the busiest day."""
    hotline_file: Path = args.hotline or settings.hotline_file
    hotline = load_hotline(hotline_file)
    traffic, traffic_file = _traffic(settings, args)
    if args.staffed is not None:
        traffic = with_staffing(traffic, args.staffed)
    day = args.day or busiest_day(traffic)
    if len(hotline.queues.escalation) < 2 and args.widenings:
        raise ConfigError(f"{hotline_file}: queues.escalation never widens: no trade-off curve to draw")
    chosen = variants(hotline, args.widenings, tiers=args.tiers)
    with progress(enabled=not args.no_progress) as bar:
        study = run_study(hotline, traffic, day, replications=args.replications, seed=args.seed,
                          threshold=args.threshold, chosen=chosen, progress=bar)
    staffed = "as in the model" if args.staffed is None else f"{args.staffed * 100:.0f}% of every partner's lines"
    lines = sum(p.lines for p in hotline.partners)
    _out(f"sim routing: rules {hotline_file}, traffic {traffic_file}; {lines} lines, staffed {staffed}; "
         f"expected calls that day {traffic.day_volume(day):.0f}; routing.tiers "
         f"{args.tiers or hotline.routing.tiers}, service level threshold {args.threshold:.0f} s")
    if (console := terminal()) is not None:
        show(console, routing_blocks(study))
    else:
        _out(routing_report(study))
    return 0


def cmd_fit(settings: Settings, args: argparse.Namespace) -> int:
    from sim.fit_io import fetch_rows  # the database driver only for this command

    base, base_file = _traffic(settings, args)
    hotline = load_hotline(settings.hotline_file)
    since = dt.datetime.combine(args.since, dt.time(), dt.UTC) if args.since else None
    until = dt.datetime.combine(args.until, dt.time(), dt.UTC) if args.until else None
    rows = asyncio.run(fetch_rows(settings.database_url, settings.state_dir, since, until))
    report = fit_traffic(rows, base, hotline.hours.timezone, min_samples=args.min_samples)
    check_against(report.traffic, hotline, source="fitted traffic model")
    _out(f"sim fit: {report.rows} call record(s)"
         + (f" from {report.first} to {report.last}" if report.first else "") + f"; base model {base_file}")
    for note in report.notes:
        _out(f"  {note}")
    if not rows:
        return 0
    header = (f"Fitted by `aiguilleur sim fit` from {report.rows} call records ({report.first} to {report.last}),\n"
              f"base model {base_file}.")
    text = dump_traffic(report.traffic, header)
    if args.out is None:
        _out()
        _out(text.rstrip())
    else:
        args.out.write_text(text, encoding="utf-8")
        _out(f"wrote {args.out}")
    return 0


def _pct(x: float) -> str:
    return f"{x * 100:5.1f}%"


def _fixed(cells: list[str], widths: tuple[int, ...], *, sep: str, left: int = 0) -> str:
    """A plain row in fixed-width columns: the first ``left`` left-aligned, the others right-aligned."""
    return sep.join(c.ljust(w) if i < left else c.rjust(w)
                    for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def _trimmed(header: list[str], rows: list[list[str]]) -> Table:
    """The cells without the padding of the plain layout (rich sizes its own columns)."""
    return Table(header, [[c.strip() for c in row] for row in rows])


# The plain layouts scripts read: column widths as they have always been.
POOL_WIDTHS = (5, 9, 6, 8, 9, 6, 8, 9)
PARTNER_WIDTHS = (10, 8, 6, 8, 9, 9, 9, 8, 6)


def _erlang_pool(args: argparse.Namespace) -> int:
    calls, aht, target, threshold = args.calls_per_hour, args.aht, args.target_sl, args.threshold
    need_c = erlang.lines_for_erlang_c(calls, aht, target, threshold)
    need_a = (erlang.lines_for_erlang_a(calls, aht, args.patience, target, threshold)
              if args.patience is not None else None)
    traffic = erlang.offered_load(calls, aht)
    _out(f"{calls:g} calls/h x {aht:g} s = {traffic:.2f} erlangs; target {target * 100:.0f}% answered "
         f"within {threshold:g} s" + (f"; mean patience {args.patience:g} s" if args.patience else ""))
    _out(f"Erlang C (no abandonment): {need_c.lines} lines "
         f"(service level {_pct(need_c.service_level)}, ASA {need_c.asa:.1f} s, occupancy {_pct(need_c.occupancy)})")
    if need_a is not None:
        _out(f"Erlang A (abandonment):    {need_a.lines} lines (service level {_pct(need_a.service_level)}, "
             f"ASA {need_a.asa:.1f} s, abandonment {_pct(need_a.p_abandon)}, occupancy {_pct(need_a.occupancy)})")
    low = max(1, min(need_c.lines, need_a.lines if need_a else need_c.lines) - 3)
    high = max(need_c.lines, need_a.lines if need_a else 0) + 2
    _out()
    header = ["lines", "C:P(wait)", "C:SL", "C:ASA(s)", "occupancy"]
    head = "lines  C:P(wait)  C:SL     C:ASA(s)  occupancy"
    if need_a is not None:
        header += ["A:SL", "A:ASA(s)", "A:abandon"]
        head += "  A:SL     A:ASA(s)  A:abandon"
    rows = []
    for n in range(low, high + 1):
        c = erlang.erlang_c_metrics(calls, aht, n, threshold)
        row = ([str(n), _pct(c.p_wait), _pct(c.service_level), f"{c.asa:.1f}", _pct(c.occupancy)]
               if c.stable else [str(n), "overload", "-", "-", "-"])
        if need_a is not None and args.patience is not None:
            a = erlang.erlang_a_metrics(calls, aht, args.patience, n, threshold)
            row += [_pct(a.service_level), f"{a.asa:.1f}", _pct(a.p_abandon)]
        rows.append(row)
    if (console := terminal()) is not None:
        show(console, [_trimmed(header, rows)])
        return 0
    _out(head)
    for row in rows:
        _out(_fixed(row, POOL_WIDTHS[:len(row)], sep="  "))
    return 0


def _erlang_partners(settings: Settings, args: argparse.Namespace) -> int:
    hotline: Hotline = load_hotline(args.hotline or settings.hotline_file)
    traffic, traffic_file = _traffic(settings, args)
    check_against(traffic, hotline, source=str(traffic_file))
    day = args.date or traffic.volume.start
    calls = args.calls_per_hour if args.calls_per_hour is not None else offered_per_hour_at_peak(traffic, day)
    needs = partner_needs(hotline, traffic, calls, target_sl=args.target_sl, threshold=args.threshold,
                          patience=args.patience, use_traffic_patience=args.patience is None)
    source = "given" if args.calls_per_hour is not None else f"busiest hour of {day} in {traffic_file}"
    _out(f"{calls:.0f} offered calls/h ({source}); target {args.target_sl * 100:.0f}% answered within "
         f"{args.threshold:g} s; each partner sized for the queues whose lines ring first there")
    header = ["partner", "calls/h", "AHT s", "erlangs", "Erlang C", "Erlang A", "patience", "staffed", "lines"]
    rows = []
    for n in needs:
        load = erlang.offered_load(n.calls_per_hour, n.aht) if n.aht else 0.0
        rows.append([n.partner, f"{n.calls_per_hour:.1f}", f"{n.aht:.0f}", f"{load:.2f}",
                     f"{n.erlang_c.lines}" if n.erlang_c else "-", f"{n.erlang_a.lines}" if n.erlang_a else "-",
                     f"{n.patience:.0f} s" if n.patience else "-", str(n.staffed), str(n.configured)])
    if (console := terminal()) is not None:
        show(console, [_trimmed(header, rows)])
        return 0
    for row in [header, *rows]:
        _out(_fixed(row, PARTNER_WIDTHS, sep=" ", left=1))
    return 0


def cmd_erlang(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.per_partner or args.aht is None:
            if args.calls_per_hour is None and args.aht is not None:
                raise erlang.ErlangError("--aht needs --calls-per-hour (or use --per-partner)")
            return _erlang_partners(settings, args)
        if args.calls_per_hour is None:
            raise erlang.ErlangError("--calls-per-hour is required with --aht")
        return _erlang_pool(args)
    except erlang.ErlangError as exc:
        sys.stderr.write(f"sim erlang: {exc}\n")
        return 2


def _sim_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--traffic", type=Path, default=None, help="traffic model (default: config/traffic.yaml)")
    p.add_argument("--start", type=_date, default=None, help="first simulated day (default: the model's start)")
    p.add_argument("--days", type=_positive, default=5, help="simulated days (default 5)")
    p.add_argument("--replications", type=_positive, default=10, help="independent replications (default 10)")
    p.add_argument("--seed", type=int, default=1, help="random seed: same seed, same figures")
    p.add_argument("--threshold", type=float, default=20.0, help="service level threshold in seconds")
    p.add_argument("--plot", type=Path, default=None, help="day-profile HTML file (default: var/sim/<cmd>.html)")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sim`` and its actions to the main CLI's sub-commands."""
    sim = subparsers.add_parser("sim", help="what-if simulation, traffic fit and staffing (Erlang C/A)")
    actions = sim.add_subparsers(dest="sim_action", required=True)

    p = actions.add_parser("run", help="simulate the hotline rules on the traffic model")
    p.add_argument("--hotline", type=Path, default=None, help="rules (default: config/hotline.yaml)")
    _sim_options(p)
    p.set_defaults(func=cmd_run)

    p = actions.add_parser("compare", help="the same traffic against two rule sets, KPIs and deltas")
    p.add_argument("current", type=Path, help="current hotline file")
    p.add_argument("proposed", type=Path, help="proposed hotline file")
    _sim_options(p)
    p.set_defaults(func=cmd_compare)

    p = actions.add_parser("routing", help="routing variants on the busiest day: best-partner share vs service level")
    p.add_argument("--hotline", type=Path, default=None, help="rules (default: config/hotline.yaml)")
    p.add_argument("--traffic", type=Path, default=None, help="traffic model (default: config/traffic.yaml)")
    p.add_argument("--day", type=_date, default=None, help="simulated day (default: the model's busiest)")
    p.add_argument("--replications", type=_positive, default=10, help="independent replications (default 10)")
    p.add_argument("--seed", type=int, default=1, help="random seed: same seed, same figures")
    p.add_argument("--threshold", type=float, default=60.0, help="service level threshold in seconds (default 60)")
    p.add_argument("--tiers", type=int, choices=range(1, 10), default=None, metavar="N",
                   help="routing.tiers of the ranking variants (default: the rules')")
    p.add_argument("--staffed", type=_share, default=None, metavar="SHARE",
                   help="share of every partner's lines staffed (default: the traffic model's)")
    p.add_argument("--widenings", type=_widenings, default=DEFAULT_WIDENINGS, metavar="S,S,...",
                   help="first widening (s) of each trade-off point (default 10,20,30,45,60,90)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=cmd_routing)

    p = actions.add_parser("fit", help="estimate the traffic model from the stored call records")
    p.add_argument("--traffic", type=Path, default=None, help="base model (default: config/traffic.yaml)")
    p.add_argument("--out", type=Path, default=None, help="write the fitted model here (default: print it)")
    p.add_argument("--since", type=_date, default=None)
    p.add_argument("--until", type=_date, default=None)
    p.add_argument("--min-samples", type=int, default=30)
    p.set_defaults(func=cmd_fit)

    p = actions.add_parser("erlang", help="lines needed for a service level (Erlang C, Erlang A with patience)")
    p.add_argument("--calls-per-hour", type=float, default=None)
    p.add_argument("--aht", type=float, default=None, help="average handle time, talk + wrap-up (s)")
    p.add_argument("--target-sl", type=float, default=0.8, help="share answered within the threshold")
    p.add_argument("--threshold", type=float, default=20.0, help="seconds")
    p.add_argument("--patience", type=float, default=None, help="mean patience (s): adds Erlang A")
    p.add_argument("--per-partner", action="store_true",
                   help="size each partner from the traffic model and the routing rules")
    p.add_argument("--hotline", type=Path, default=None)
    p.add_argument("--traffic", type=Path, default=None)
    p.add_argument("--date", type=_date, default=None, help="day whose busiest hour is sized (per partner)")
    p.set_defaults(func=cmd_erlang)
