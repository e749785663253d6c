"""``aiguilleur``: one command line for every operator action.

Errors from bad input exit with status 2 and a message naming the file, the
field and what is allowed; nothing here prints a traceback for those.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import structlog

from aiguilleur import (
    cli_callbacks,
    cli_cluster,
    cli_report,
    cli_route,
    cli_rules,
    cli_sim,
    cli_users,
    confgen,
    kamailio_confgen,
)
from aiguilleur.cli_common import Table, show, terminal
from aiguilleur.cli_common import out as _out
from aiguilleur.database import resolve
from aiguilleur.logs import configure
from cdr.migrate import current_version, migrate
from config.loader import ConfigError, load_hotline
from config.models import Hotline
from config.settings import REPO_ROOT, AmiSettings, FastAgiSettings, PbxSettings, Settings
from ivr.prompt_audio import generate as generate_prompts
from ivr.prompts import SOUNDS_SUBDIR, catalogue

log = structlog.get_logger("aiguilleur")



def _hotline(settings: Settings, path: Path | None = None) -> Hotline:
    return load_hotline(path or settings.hotline_file)


def render_conf(settings: Settings, hotline: Hotline) -> dict[str, str]:
    return confgen.render(hotline, settings.pbx, settings.ami, settings.fastagi)


def render_default_conf(hotline: Hotline) -> dict[str, str]:
    """What is committed in ``asterisk_conf/``: the model defaults, not this machine's env."""
    return confgen.render(hotline, PbxSettings(), AmiSettings(), FastAgiSettings())


KAMAILIO_CONF_DIR = REPO_ROOT / "kamailio_conf"


def render_default_kamailio_conf() -> dict[str, str]:
    """What is committed in ``kamailio_conf/``: the SIP front of the multi-node set-up, model defaults."""
    return kamailio_confgen.render(PbxSettings().front)


def write_conf(files: dict[str, str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")


def conf_drift(files: dict[str, str], directory: Path) -> list[str]:
    """Names of generated files missing or different in ``directory``."""
    drift = []
    for name, text in sorted(files.items()):
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            drift.append(name)
    return drift


# --- commands ---------------------------------------------------------------
def cmd_config_check(settings: Settings, args: argparse.Namespace) -> int:
    hotline = _hotline(settings, args.file)
    lines = hotline.lines()
    _out(f"{args.file or settings.hotline_file}: valid (version {hotline.version})")
    for partner in hotline.partners:
        _out(f"  {partner.id:10} {partner.lines:2} lines  {partner.name}")
    _out(f"  {len(lines)} lines in all, menu of {len(hotline.menu.steps)} steps")
    return 0


def cmd_conf_generate(settings: Settings, args: argparse.Namespace) -> int:
    hotline = _hotline(settings)
    out: Path = args.out or settings.asterisk_conf_dir
    files = render_default_conf(hotline) if args.out is None else render_conf(settings, hotline)
    write_conf(files, out)
    _out(f"wrote {len(files)} files to {out}")
    if args.out is None:
        kamailio = render_default_kamailio_conf()
        write_conf(kamailio, KAMAILIO_CONF_DIR)
        _out(f"wrote {len(kamailio)} files to {KAMAILIO_CONF_DIR}")
    return 0


def cmd_conf_check(settings: Settings, args: argparse.Namespace) -> int:
    drift = conf_drift(render_default_conf(_hotline(settings)), settings.asterisk_conf_dir)
    kamailio_drift = conf_drift(render_default_kamailio_conf(), KAMAILIO_CONF_DIR)
    if drift:
        _out(f"asterisk_conf/ differs from config for: {', '.join(drift)}")
    if kamailio_drift:
        _out(f"kamailio_conf/ differs from config for: {', '.join(kamailio_drift)}")
    if drift or kamailio_drift:
        _out("run `aiguilleur conf generate` and commit the result")
        return 1
    _out("asterisk_conf/ and kamailio_conf/ match config")
    return 0


def cmd_prompts(settings: Settings, args: argparse.Namespace) -> int:
    hotline = _hotline(settings)
    out = settings.state_dir / "prompts"
    changed = generate_prompts(catalogue(hotline), out, settings.state_dir / "recordings")
    _out(f"{len(changed)} prompt(s) generated in {out}" + (f": {', '.join(changed)}" if changed else ""))
    if args.install:
        from sandbox.pbx import SandboxPbx, default_cache_dir, ensure_root

        root = ensure_root(default_cache_dir())
        SandboxPbx(root, "run", settings.asterisk_conf_dir).install_sounds(out, SOUNDS_SUBDIR)
        _out("installed into the sandbox PBX")
    return 0


async def _migrate(settings: Settings) -> int:
    database = await resolve(settings.database_url, settings.state_dir)
    try:
        conn = await asyncpg.connect(database.url)
        try:
            applied = await migrate(conn)
            version = await current_version(conn)
        finally:
            await conn.close()
    finally:
        database.close()
    _out(f"schema at version {version}" + (f" (applied {applied})" if applied else " (nothing to do)"))
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_migrate(settings))


async def _cdr(settings: Settings, last: int) -> int:
    database = await resolve(settings.database_url, settings.state_dir)
    try:
        conn = await asyncpg.connect(database.url)
        try:
            rows = await conn.fetch(
                """SELECT start, src, need, sector, size, departement, ivr_exit, queue, line,
                          partner, wait_seconds, talk_seconds, outcome, linkedid
                   FROM cdr ORDER BY start DESC LIMIT $1""",
                last,
            )
        finally:
            await conn.close()
    finally:
        database.close()
    header = ("start", "src", "need", "sector", "size", "dept", "ivr_exit", "queue", "line",
              "partner", "wait", "talk", "outcome", "linkedid")
    cells = []
    for row in reversed(rows):
        values = [row["start"].astimezone().strftime("%Y-%m-%d %H:%M:%S"), *(
            "" if row[k] is None else str(row[k]) for k in list(row.keys())[1:])]
        # Caller numbers are untrusted: show them as data, never as terminal control.
        cells.append([v.encode("unicode_escape").decode("ascii") for v in values])
    if (console := terminal()) is not None:
        show(console, [Table(header, cells, align="l" * 10 + "rr" + "ll")])  # wait and talk are figures
    else:
        _out("  ".join(header))
        for values in cells:
            _out("  ".join(values))
    _out(f"({len(rows)} row(s))")
    return 0


def cmd_cdr(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_cdr(settings, args.last))


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from aiguilleur.service import serve_until_stopped

    hotline = _hotline(settings)
    record: Path | None = args.record_ami
    return asyncio.run(_until_signal(lambda stop: serve_until_stopped(settings, hotline, stop, record_ami=record)))


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from aiguilleur.stack import run_stack

    hotline = _hotline(settings)
    return asyncio.run(_until_signal(lambda stop: run_stack(settings, hotline, stop)))


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from aiguilleur.demo import run_demo

    hotline = _hotline(settings)
    return asyncio.run(run_demo(settings, hotline, minutes=args.minutes, speedup=args.speedup, seed=args.seed))


def cmd_pbx(settings: Settings, args: argparse.Namespace) -> int:
    from sandbox import pbx as sandbox_pbx

    root = sandbox_pbx.ensure_root(sandbox_pbx.default_cache_dir(), progress=_out)
    if args.action == "build":
        _out(f"sandbox root ready: {root}")
        return 0
    conf_dir = settings.state_dir / "asterisk_conf"
    write_conf(render_conf(settings, _hotline(settings)), conf_dir)
    pbx = sandbox_pbx.SandboxPbx(root, args.instance, conf_dir)
    if args.action == "start":
        pbx.start()
        _out(f"asterisk running, pid {pbx.pid}")
    elif args.action == "stop":
        pbx.stop()
        _out("asterisk stopped")
    else:
        _out("running" if pbx.running() else "stopped")
    return 0


def cmd_call(settings: Settings, args: argparse.Namespace) -> int:
    from sandbox.sipp import CallScript, run_calls

    hotline = _hotline(settings)
    script = CallScript(
        digits=list(args.digits),
        dtmf=args.dtmf,
        caller_number=args.caller_number,
        caller_name=args.caller_name,
        hold_after_ms=args.hold * 1000,
    )
    result = run_calls([script], port=settings.pbx.sip_port, number=hotline.number)
    _out(result.describe())
    if not result.ok:
        return 1
    _out("see the call record: make cdr   (or: aiguilleur cdr)")
    return 0


async def _until_signal(main: object) -> int:
    """Run ``main(stop_event)`` until SIGINT/SIGTERM sets the event."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await main(stop)  # type: ignore[operator]
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiguilleur", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("config", help="validate the hotline configuration")
    p.add_argument("action", choices=["check"])
    p.add_argument("file", nargs="?", type=Path, default=None)
    p.set_defaults(func=cmd_config_check)

    p = sub.add_parser("conf", help="generate or check asterisk_conf/ and kamailio_conf/ from the config")
    p.add_argument("action", choices=["generate", "check"])
    p.add_argument("--out", type=Path, default=None, help="write here with this machine's settings")
    p.set_defaults(func=lambda s, a: cmd_conf_generate(s, a) if a.action == "generate" else cmd_conf_check(s, a))

    p = sub.add_parser("prompts", help="generate French prompts (espeak-ng + sox)")
    p.add_argument("--install", action="store_true", help="install into the sandbox PBX")
    p.set_defaults(func=cmd_prompts)

    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="run the service (FastAGI + AMI + CDR writer)")
    p.add_argument("--record-ami", type=Path, default=None, help="append the raw AMI stream to this file")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("up", help="everything for a demo: database, sandbox PBX, lines, service")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("demo", help="a compressed 'tsunami morning' through the sandbox PBX")
    p.add_argument("--minutes", type=int, default=60, help="model minutes from 08:00 on 26 March 2020")
    p.add_argument("--speedup", type=float, default=30.0, help="time compression")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("pbx", help="the sandbox Asterisk 22")
    p.add_argument("action", choices=["build", "start", "stop", "status"])
    p.add_argument("--instance", default="run")
    p.set_defaults(func=cmd_pbx)

    p = sub.add_parser("call", help="place a SIPp call to the hotline")
    p.add_argument("--digits", nargs="*", default=["1", "2", "2", "59"],
                   help="one entry per menu step (default: creation, crafts, 1-9, Nord)")
    p.add_argument("--dtmf", choices=["info", "rfc2833"], default="info")
    p.add_argument("--caller-number", default="0320123456")
    p.add_argument("--caller-name", default="Client Test")
    p.add_argument("--hold", type=int, default=8, help="seconds to stay on the line after the menu")
    p.set_defaults(func=cmd_call)

    p = sub.add_parser("cdr", help="show the latest call records")
    p.add_argument("--last", type=int, default=20)
    p.set_defaults(func=cmd_cdr)

    cli_report.register(sub)
    cli_sim.register(sub)
    cli_users.register(sub)
    cli_rules.register(sub)
    cli_route.register(sub)
    cli_callbacks.register(sub)
    cli_cluster.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValueError as exc:
        sys.stderr.write(f"invalid environment settings:\n{exc}\n")
        return 2
    configure(settings.log_level)
    try:
        result: int = args.func(settings, args)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
