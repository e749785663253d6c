"""The command line of the sandbox's SIPp peers: ``python -m sandbox.sipp`` (or ``-m sandbox.sipp_cli``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from sandbox.sipp import AgentsUas, run_calls
from sandbox.sipp_scenario import (
    DTMF_MODES,
    SCENARIO_DIR,
    CallScript,
    SippError,
    reference_scenarios,
    stale_reference_scenarios,
)

# --------------------------------------------------------------------------- CLI


def _cmd_call(args: argparse.Namespace) -> int:
    script = CallScript(
        digits=list(args.digits),
        dtmf=args.dtmf,
        caller_number=args.caller_number,
        caller_name=args.caller_name,
        pause_before_ms=args.pause_before_ms,
        pause_between_ms=args.pause_between_ms,
        hold_after_ms=args.hold_after_ms,
        hangup_early_after_ms=args.hangup_early_after_ms,
        digit_gap_ms=args.digit_gap_ms,
        silent_step_ms=args.silent_step_ms,
    )
    result = run_calls(
        [script] * args.count,
        target=args.target,
        port=args.port,
        number=args.number,
        local_ip=args.local_ip,
        concurrent=args.concurrent,
        timeout_s=args.timeout,
        keep_dir=args.keep_dir,
    )
    print(result.describe())
    return 0 if result.ok else 1


def _cmd_agents(args: argparse.Namespace) -> int:
    uas = AgentsUas(
        args.port,
        ring_ms=args.ring_ms,
        talk_ms=args.talk_ms,
        local_ip=args.local_ip,
        no_answer_lines=args.no_answer,
        work_dir=args.keep_dir,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    # SIGINT too: a shell starts background jobs with SIGINT ignored, so Python
    # would never raise KeyboardInterrupt there
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    uas.start()
    print(
        f"advisors UAS listening on {args.local_ip}:{args.port} (sipp pid {uas.pid}, "
        f"files in {uas.work_dir}); Ctrl-C to stop",
        flush=True,
    )
    shown = (-1, -1)
    try:
        while not stop.is_set() and uas.running():
            now = (uas.offered(), uas.answered())
            if now != shown:
                print(f"offered {now[0]}, answered {now[1]}, ended {uas.ended()}", flush=True)
                shown = now
            stop.wait(1.0)
    finally:
        alive = uas.running()
        uas.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        answered = uas.answered()
        if not alive:
            print("sipp UAS exited:\n" + uas.errors_tail(), file=sys.stderr)
        uas.cleanup()
    print(f"stopped; {answered} calls answered")
    return 0 if alive else 1


def _cmd_scenarios(args: argparse.Namespace) -> int:
    if args.write:
        SCENARIO_DIR.mkdir(parents=True, exist_ok=True)
        for name, text in reference_scenarios().items():
            (SCENARIO_DIR / name).write_text(text, encoding="utf-8")
            print(SCENARIO_DIR / name)
        return 0
    stale = stale_reference_scenarios()
    for name in stale:
        print(f"stale: {SCENARIO_DIR / name} (python -m sandbox.sipp scenarios --write)")
    return 1 if stale else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sandbox.sipp``."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.sipp", description="SIPp callers and advisors (loopback)."
    )
    sub = parser.add_subparsers(dest="action", required=True)

    call = sub.add_parser("call", help="place call(s) and wait for the outcome")
    call.add_argument("--port", type=int, required=True, help="Asterisk's SIP port")
    call.add_argument("--number", required=True, help="the dialled number, e.g. 0800596280")
    call.add_argument(
        "--digits", nargs="*", default=[],
        help="one entry per IVR step, e.g. 1 2 2 59 ('' = stay silent)",
    )
    call.add_argument("--dtmf", choices=DTMF_MODES, default="info")
    call.add_argument("--caller-number", default="0320123456")
    call.add_argument("--caller-name", default="Appelant SIPp")
    call.add_argument("--pause-before-ms", type=int, default=2000)
    call.add_argument("--pause-between-ms", type=int, default=2000)
    call.add_argument("--hold-after-ms", type=int, default=5000)
    call.add_argument("--hangup-early-after-ms", type=int, default=None)
    call.add_argument("--digit-gap-ms", type=int, default=250)
    call.add_argument("--silent-step-ms", type=int, default=6000)
    call.add_argument("--count", type=int, default=1, help="how many such calls")
    call.add_argument("--concurrent", type=int, default=10)
    call.add_argument("--target", default="127.0.0.1")
    call.add_argument("--local-ip", default="127.0.0.2")
    call.add_argument("--timeout", type=float, default=120.0)
    call.add_argument("--keep-dir", type=Path, default=None, help="keep scenario and logs here")
    call.set_defaults(func=_cmd_call)

    agents = sub.add_parser("agents", help="run the advisors' UAS until Ctrl-C")
    agents.add_argument("--port", type=int, required=True, help="the lines' contact port")
    agents.add_argument("--ring-ms", type=int, default=500)
    agents.add_argument("--talk-ms", type=int, default=4000)
    agents.add_argument("--local-ip", default="127.0.0.1")
    agents.add_argument("--no-answer", nargs="*", default=[], metavar="LINE")
    agents.add_argument("--keep-dir", type=Path, default=None, help="keep scenario and logs here")
    agents.set_defaults(func=_cmd_agents)

    scenarios = sub.add_parser("scenarios", help="check (or --write) sandbox/sipp/*.xml")
    scenarios.add_argument("--write", action="store_true")
    scenarios.set_defaults(func=_cmd_scenarios)

    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except (SippError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
