"""``aiguilleur route explain|matrix``: what the router does with a profile, and with all of them.

Reads the hotline file (``--file``, default the configured one): an admin runs it on an
edited copy before ``rules apply`` to see the effect of a skill or weight change.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from aiguilleur.cli_common import out
from config.loader import load_hotline
from config.models import Hotline
from config.settings import Settings
from routing.explain import Footprint, explain, footprint, matrix


def _load(settings: Settings, file: str | None) -> Hotline:
    return load_hotline(Path(file) if file else settings.hotline_file)


def _answers(hotline: Hotline, args: argparse.Namespace) -> dict[str, str] | str:
    """The answers given on the command line, checked against the menu; an error text if not."""
    answers: dict[str, str] = {}
    for step in hotline.menu.steps:
        value = getattr(args, step.id, None)
        if value is None:
            continue
        allowed = {o.value: o for o in step.options} | {o.digits: o for o in step.options}
        option = allowed.get(value)
        if option is None:
            values = ", ".join(o.value for o in step.options)
            return f"--{step.id}: {value!r} is not an answer of the menu; allowed: {values} (or their digits)"
        answers[step.id] = option.value
    return answers


def _print_footprint(size: Footprint) -> None:
    out(f"queues: {size.queues} ({size.ranking_queues} rankings + general + partner queues); "
        f"lines: {size.lines}; memberships: {size.memberships}; "
        f"member-status events per line state change: {size.member_events_per_line_change}; "
        f"profiles ranked: {size.profiles}")


def cmd_route_explain(settings: Settings, args: argparse.Namespace) -> int:
    hotline = _load(settings, args.file)
    answers = _answers(hotline, args)
    if isinstance(answers, str):
        out(answers)
        return 2
    result = explain(hotline, answers)
    decision = result.decision
    shown = ", ".join(f"{k}={v}" for k, v in answers.items()) or "(no answer: pressed 0 at once)"
    out(f"profile: {shown}")
    weights = hotline.routing.weights
    out(f"weights: {', '.join(f'{k} {v}' for k, v in weights.items())}; tiers: {hotline.routing.tiers}")
    out(f"{'partner':<10} {'score':>5}  tier  skills counted")
    for partner_id, score, tier in result.partners:
        partner = next(p for p in hotline.partners if p.id == partner_id)
        counted = [f"{dim}:{value}={partner.skills[f'{dim}:{value}']}"
                   for dim, value in answers.items() if f"{dim}:{value}" in partner.skills]
        out(f"{partner_id:<10} {score:>5}  {tier:>4}  {' '.join(counted) or '-'}")
    out(f"queue: {decision.queue} (priority {decision.priority}); reason: {decision.reason}")
    steps = ", ".join(f"{after} s: tier <= {width}" for after, width in decision.escalation)
    out(f"rings: {steps}")
    return 0


def cmd_route_matrix(settings: Settings, args: argparse.Namespace) -> int:
    hotline = _load(settings, args.file)
    rows = matrix(hotline)
    before = {tuple(r.answers.values()): r for r in matrix(_load(settings, args.compare))} if args.compare else None
    ids = [s.id for s in hotline.menu.steps]
    widths = [max(len(s.id), *(len(o.value) for o in s.options)) for s in hotline.menu.steps]
    # Kept by hand: one line per profile with its "(was ...)" note, the same on a terminal and in a diffed file.
    header = "  ".join(f"{name:<{w}}" for name, w in zip(ids, widths, strict=True))
    out(f"{header}  best partner(s)" + ("  (was)" if before is not None else "") + "  queue")
    changed = 0
    for row in rows:
        was = before.get(tuple(row.answers.values())) if before is not None else None
        if before is not None and was is not None and was.best == row.best and not args.all:
            continue
        cells = "  ".join(f"{v:<{w}}" for v, w in zip(row.answers.values(), widths, strict=True))
        best = "+".join(row.best)
        if was is not None and was.best != row.best:
            changed += 1
            best += f"  (was {'+'.join(was.best)})"
        out(f"{cells}  {best}  {row.queue}")
    share = Counter(p for row in rows for p in row.best)
    out(f"{len(rows)} profiles; best partner (ties count for each): "
        + ", ".join(f"{p.id} {share[p.id]}" for p in hotline.partners))
    if before is not None:
        out(f"{changed} profiles change best partner against {args.compare}")
    _print_footprint(footprint(hotline))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``route`` to ``aiguilleur``'s parser."""
    p = subparsers.add_parser("route", help="explain the routing of a profile, or print it for every profile")
    sub = p.add_subparsers(dest="route_action", required=True)
    e = sub.add_parser("explain", help="every partner's score and tier for one profile, and the queue chosen")
    for dimension in ("need", "sector", "size", "departement"):
        e.add_argument(f"--{dimension}", help="the answer (its value, e.g. difficulty, or its digits)")
    e.add_argument("--file", help="hotline YAML (default: the configured one)")
    e.set_defaults(func=cmd_route_explain)
    m = sub.add_parser("matrix", help="the best partner(s) for every profile the menu can produce")
    m.add_argument("--file", help="hotline YAML (default: the configured one)")
    m.add_argument("--compare", metavar="OTHER_YAML", help="show only the profiles whose best partner differs")
    m.add_argument("--all", action="store_true", help="with --compare: every profile, changed or not")
    m.set_defaults(func=cmd_route_matrix)
