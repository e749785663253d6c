"""Live queue-state reducer throughput, against panoramisk's own AMI parse rate in the same run.

    .venv/bin/python -m bench.queue_state_bench [--events 1000000] [--repeat 3] [--json out.json]

The stream is real Asterisk 22 traffic: the events of every recorded trace in
``tests/fixtures/ami/*.raw`` (answered, degraded, IVR hang-up, queue abandon and
timeout calls, pauses, resyncs, a restart), laid end to end, then copied with
fresh ``Uniqueid``/``Linkedid`` and shifted ``Timestamp`` into a block of about
``--block`` events. The same block, written back as AMI bytes, is fed in 64 KiB
reads to:

- ``panoramisk``: ``AMIProtocol.data_received`` (panoramisk 1.4's own framing,
  decoding and ``Message`` building; a dummy factory takes the events);
- ``panoramisk Message.from_line``: its message parser alone, on pre-split text;
- ``ours``: ``queues.ami_parse.AmiStreamParser.feed`` (what ``AmiClient`` runs).

The reducer (``queues.state.LiveState.apply``, resynced first from a recorded
QueueStatus: 11 queues x 36 lines) then takes ``--events`` events, the block
over and over; between passes (untimed) every id and time is rewritten so no
call repeats and time moves on, and nothing keyed by a call can hide a leak.
It is timed on the whole mix (most AMI events are not queue events and are
dropped at once) and on the queue events alone (its worst case). RSS and the
state's own counts are taken before and after the ``--events`` events.

Goal (issue 4): >= 20,000 events/s through the reducer, no unbounded growth.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import panoramisk
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from config.loader import load_hotline
from config.settings import REPO_ROOT
from queues.ami_parse import AmiStreamParser, parse_ami_stream
from queues.state import LiveState, StateConfig
from queues.state_seed import seed_from_queue_status

FIXTURES: Final = REPO_ROOT / "tests" / "fixtures" / "ami"
LOGIN_STATUS_TRACE: Final = "queue_state_session.raw"
GOAL_EVENTS_PER_S: Final = 20_000
READ_SIZE: Final = 65536
ID_FIELDS: Final = ("Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid")
LIST_ITEMS: Final = frozenset({"QueueParams", "QueueMember", "QueueEntry", "QueueStatusComplete"})

Event = dict[str, str]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------- the stream


def recorded_events() -> tuple[list[Event], list[str]]:
    """Every recorded event (list replies excluded), traces laid end to end in time."""
    out: list[Event] = []
    names: list[str] = []
    clock = 1.8e9
    for path in sorted(FIXTURES.glob("*.raw")):
        events = [m for m in parse_ami_stream(path.read_bytes())
                  if "Event" in m and not (m["Event"] in LIST_ITEMS and "ActionID" in m)]
        stamps = [float(m["Timestamp"]) for m in events if "Timestamp" in m]
        if not events or not stamps:
            continue
        shift = clock - stamps[0]
        for event in events:
            copy = dict(event)
            if "Timestamp" in copy:
                copy["Timestamp"] = f"{float(copy['Timestamp']) + shift:.6f}"
            out.append(copy)
        clock = stamps[-1] + shift + 1.0
        names.append(path.name)
    return out, names


def time_span(events: Sequence[Event]) -> tuple[float, float]:
    stamps = [float(e["Timestamp"]) for e in events if "Timestamp" in e]
    return min(stamps), max(stamps)


def build_block(cycle: list[Event], size: int) -> list[Event]:
    """Copies of ``cycle`` with their own ids and later times, about ``size`` events."""
    first, last = time_span(cycle)
    span = last - first + 1.0
    block: list[Event] = []
    copy_no = 0
    while len(block) < size:
        for event in cycle:
            copy = dict(event)
            for name in ID_FIELDS:
                if name in copy:
                    copy[name] = f"{copy[name]}-c{copy_no}"
            if "Timestamp" in copy:
                copy["Timestamp"] = f"{float(copy['Timestamp']) + copy_no * span:.6f}"
            block.append(copy)
        copy_no += 1
    return block


def to_bytes(events: Sequence[Event]) -> bytes:
    parts = ["Asterisk Call Manager/11.0.0\r\n"]
    for event in events:
        for key, value in event.items():
            for piece in value.split("\n"):  # a repeated header was joined with \n by our parser
                parts.append(f"{key}: {piece}\r\n")
        parts.append("\r\n")
    return "".join(parts).encode("utf-8")


def chunks(data: bytes, size: int = READ_SIZE) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


class Rewriter:
    """Rewrite a block's ids and times in place for pass ``n`` (untimed work between passes)."""

    def __init__(self, block: list[Event]) -> None:
        self.block = block
        self.ids = [[(name, e[name]) for name in ID_FIELDS if name in e] for e in block]
        self.times = [float(e["Timestamp"]) if "Timestamp" in e else None for e in block]
        first, last = time_span(block)
        self.span = last - first + 1.0

    def set_pass(self, n: int) -> None:
        shift = n * self.span
        for event, ids, stamp in zip(self.block, self.ids, self.times, strict=True):
            for name, value in ids:
                event[name] = f"{value}-p{n}"
            if stamp is not None:
                event["Timestamp"] = f"{stamp + shift:.6f}"


# --------------------------------------------------------------------------- parsers


class _Factory:
    """What panoramisk's protocol needs from its Manager: somewhere to dispatch events."""

    def __init__(self) -> None:
        self.count = 0
        self.save_stream = None

    def dispatch(self, message: Message) -> None:
        self.count += 1

    def connection_lost(self, exc: object) -> None:
        """panoramisk calls it on ``Event: Shutdown`` (the recorded restart); parsing goes on."""


class _Transport:
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def close(self) -> None:
        pass


def panoramisk_protocol(reads: list[bytes]) -> int:
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    protocol.encoding = "utf-8"  # as our link sets it (panoramisk's default is ascii)
    factory = _Factory()
    protocol.factory = factory
    for data in reads:
        protocol.data_received(data)
    return factory.count


def panoramisk_from_line(texts: list[str]) -> int:
    count = 0
    for text in texts:
        if Message.from_line(text) is not None:
            count += 1
    return count


def ours_parser(reads: list[bytes]) -> int:
    parser = AmiStreamParser()
    count = 0
    for data in reads:
        count += len(parser.feed(data))
    return count


def best_rate(run: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Events/s of the fastest of ``repeat`` runs (and the count, checked equal)."""
    rates: list[float] = []
    count = 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = run()
        rates.append(count / (time.perf_counter() - started))
    return max(rates), count


# --------------------------------------------------------------------------- the reducer


def fresh_state() -> LiveState:
    hotline = load_hotline(REPO_ROOT / "config" / "hotline.yaml")
    session = parse_ami_stream((FIXTURES / LOGIN_STATUS_TRACE).read_bytes())
    start = next(m for m in session if m.get("EventList") == "start")
    reply = [m for m in session if m.get("ActionID") == start["ActionID"]]
    state = LiveState(StateConfig.from_hotline(hotline))
    state.load(seed_from_queue_status(reply, taken_at=1.8e9))
    return state


def reducer_rate(
    state: LiveState, block: list[Event], total: int, *, watch: list[dict[str, float]] | None = None
) -> tuple[float, int, int]:
    """Apply ``total`` events (the block over and over, rewritten between passes); (events/s, passes, applied).

    With ``watch``, the state's counts and the RSS after each full pass are appended to it (untimed).
    """
    rewriter = Rewriter(block)
    apply = state.apply
    applied = 0
    elapsed = 0.0
    passes = 0
    rewriter.set_pass(0)
    if watch is not None:
        watch.append({"events": 0, "rss_mib": rss_mib(), **state.size()})
    while applied < total:
        if passes:
            rewriter.set_pass(passes)
        todo = block if total - applied >= len(block) else block[: total - applied]
        started = time.perf_counter()
        for event in todo:
            apply(event)
        elapsed += time.perf_counter() - started
        applied += len(todo)
        passes += 1
        if watch is not None:
            watch.append({"events": applied, "rss_mib": rss_mib(), **state.size()})
    return applied / elapsed, passes, applied


# --------------------------------------------------------------------------- main


def run(events_total: int, block_size: int, repeat: int) -> dict[str, Any]:
    cycle, traces = recorded_events()
    block = build_block(cycle, block_size)
    data = to_bytes(block)
    reads = chunks(data)
    texts = [t for t in data.decode("utf-8").split("\r\n\r\n") if t.strip()]

    panoramisk_rate, panoramisk_count = best_rate(lambda: panoramisk_protocol(reads), repeat)
    from_line_rate, _ = best_rate(lambda: panoramisk_from_line(texts), repeat)
    ours_rate, ours_count = best_rate(lambda: ours_parser(reads), repeat)
    if panoramisk_count != len(block) or ours_count != len(block):
        raise RuntimeError(f"parsers disagree: block {len(block)}, panoramisk {panoramisk_count}, ours {ours_count}")

    probe = LiveState()
    queue_events = [e for e in block if e["Event"] in probe.handled_events]
    parsed = AmiStreamParser().feed(data)

    # End to end as the service does it: bytes -> our parser -> reducer (one pass, fresh state).
    state = fresh_state()
    started = time.perf_counter()
    parser = AmiStreamParser()
    for chunk in reads:
        for event in parser.feed(chunk):
            state.apply(event)
    pipeline_rate = len(block) / (time.perf_counter() - started)

    state = fresh_state()
    watch: list[dict[str, float]] = []
    mix_rate, passes, applied = reducer_rate(state, parsed, events_total, watch=watch)
    full_passes = watch[1:] if len(watch) < 3 or watch[-1]["events"] % len(parsed) == 0 else watch[1:-1]
    queue_only_rate, _, queue_applied = reducer_rate(fresh_state(), queue_events, min(events_total, 300_000))

    return {
        "python": platform.python_version(),
        "panoramisk": getattr(panoramisk, "__version__", "1.4"),
        "machine": platform.machine(),
        "traces": traces,
        "block_events": len(block),
        "block_bytes": len(data),
        "queue_event_share": len(queue_events) / len(block),
        "rates": {
            "panoramisk_data_received": panoramisk_rate,
            "panoramisk_from_line": from_line_rate,
            "ours_parser": ours_rate,
            "reducer_mix": mix_rate,
            "reducer_queue_events_only": queue_only_rate,
            "parser_plus_reducer": pipeline_rate,
        },
        "reducer_events": applied,
        "reducer_passes": passes,
        "reducer_queue_only_events": queue_applied,
        "rss_mib_before": watch[0]["rss_mib"],
        "rss_mib_after": watch[-1]["rss_mib"],
        "rss_mib_after_first_pass": watch[1]["rss_mib"],
        "state_before": watch[0],
        "state_after": watch[-1],
        "max_over_pass_ends": {key: max(w[key] for w in full_passes) for key in watch[0] if key != "events"},
        "watch": watch,
        "goal_events_per_s": GOAL_EVENTS_PER_S,
    }


def table(result: dict[str, Any]) -> str:
    rates = result["rates"]
    base = rates["panoramisk_data_received"]
    rows = [
        ("panoramisk 1.4 `AMIProtocol.data_received` (framing + decode + Message)", "panoramisk_data_received"),
        ("panoramisk 1.4 `Message.from_line` alone (pre-split text)", "panoramisk_from_line"),
        ("ours `AmiStreamParser.feed`", "ours_parser"),
        (f"reducer `LiveState.apply`, real mix ({result['reducer_events']:,} events)", "reducer_mix"),
        (f"reducer, queue events only ({result['reducer_queue_only_events']:,})", "reducer_queue_events_only"),
        ("our parser + reducer, bytes in (one block)", "parser_plus_reducer"),
    ]
    lines = [
        f"stream: {result['block_events']:,} events / {result['block_bytes'] / 1e6:.1f} MB per block, "
        f"{result['queue_event_share']:.0%} of them queue events; traces: {', '.join(result['traces'])}",
        "",
        "| what | events/s | vs panoramisk data_received |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {rates[key]:,.0f} | {rates[key] / base:.2f}x |" for label, key in rows]
    before, after, peak = result["state_before"], result["state_after"], result["max_over_pass_ends"]
    keys = ("callers", "caller_index", "ringing_index", "lines", "members", "handle_times")

    def counts(size: dict[str, float]) -> str:
        return ", ".join(f"{size[key]:.0f}" for key in keys)

    lines += [
        f"| RSS before / after pass 1 / after {result['reducer_events']:,} events | "
        f"{result['rss_mib_before']:.1f} / {result['rss_mib_after_first_pass']:.1f} / "
        f"{result['rss_mib_after']:.1f} MiB | |",
        f"| state ({', '.join(keys)}): before / after / max at the end of any full pass | "
        f"{counts(before)} / {counts(after)} / {counts(peak)} | |",
    ]
    verdict = "met" if rates["reducer_mix"] >= GOAL_EVENTS_PER_S and rates[
        "reducer_queue_events_only"] >= GOAL_EVENTS_PER_S else "NOT met"
    lines.append(f"\ngoal >= {GOAL_EVENTS_PER_S:,} events/s through the reducer: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events through the reducer")
    parser.add_argument("--block", type=int, default=50_000, help="distinct events in the replayed block")
    parser.add_argument("--repeat", type=int, default=3, help="parser runs (the fastest is kept)")
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(args.events, args.block, args.repeat)
    result["wall_seconds"] = time.perf_counter() - started
    print(table(result))
    print(f"run time {result['wall_seconds']:.1f} s")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    ok = result["rates"]["reducer_mix"] >= GOAL_EVENTS_PER_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
