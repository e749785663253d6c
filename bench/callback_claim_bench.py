"""Callback dialer store: picking and claiming due callbacks among 100,000 pending rows.

    .venv/bin/python -m bench.callback_claim_bench [--rows 100000] [--rounds 2000] [--json out.json]

On the real PostgreSQL (``AIGUILLEUR_BENCH_DATABASE_URL``, default a scratch database
``aiguilleur_bench_claims`` on the local server, dropped at the end), with the project's
migrations: ``--rows`` pending callbacks, all due. Each round does what one dialer round does
for one free advisor: ``CallbackStore.due(limit=20)`` then ``claim([first])``; two dialers
(two pools, as two service instances) run the rounds concurrently on the same rows, and the
run checks that no row was claimed twice. Timed alone per call; baseline: a ``SELECT 1`` round
trip, and one committed single-row update (the floor of any durable claim: the commit's
WAL flush), on the same pools in the same run.

Goal (issue 12): p99 per claim <= 5 ms at 100,000 pending rows.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import asyncpg

from aiguilleur.callbacks import CallbackStore
from cdr.migrate import migrate

SERVER = "postgresql://postgres@127.0.0.1:5432"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def fill(pool: asyncpg.Pool, rows: int, now: dt.datetime) -> None:
    records = [
        (f"bench.{n}", f"03{n:08d}", now - dt.timedelta(hours=2), now - dt.timedelta(seconds=rows - n),
         "pending", "difficulty", "crafts", "micro", "nord", "closed")
        for n in range(rows)
    ]
    await pool.copy_records_to_table(
        "callbacks", records=records,
        columns=["linkedid", "caller_number", "requested_at", "next_try_at", "status", "need", "sector", "size",
                 "departement", "reason"])
    await pool.execute("ANALYZE callbacks")


async def dialer(store: CallbackStore, pool: asyncpg.Pool, rounds: int, now: dt.datetime,
                 due_ms: list[float], claim_ms: list[float], base_ms: list[float], commit_ms: list[float],
                 claimed: list[str]) -> None:
    for n in range(rounds):
        started = time.perf_counter()
        await pool.fetchval("SELECT 1")
        base_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()  # the floor of any durable claim: one committed row update
        await pool.execute("UPDATE bench_floor SET n = $1 WHERE id = $2", n, store.instance)
        commit_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        due = await store.due(now, limit=20)
        due_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        got = await store.claim([due[0].id], now) if due else []
        claim_ms.append((time.perf_counter() - started) * 1000)
        claimed.extend(c.id for c in got)


async def run(rows: int, rounds: int, url: str) -> dict[str, Any]:
    server, _, name = url.rpartition("/")
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    pools: list[asyncpg.Pool] = []
    try:
        pools = [await asyncpg.create_pool(url, min_size=1, max_size=2) for _ in range(2)]
        async with pools[0].acquire() as conn:
            await migrate(conn)
        await pools[0].execute("CREATE TABLE bench_floor (id text PRIMARY KEY, n integer)")
        await pools[0].execute("INSERT INTO bench_floor VALUES ('bench-0', 0), ('bench-1', 0)")
        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        await fill(pools[0], rows, now)
        fill_s = time.perf_counter() - started
        due_ms: list[float] = []
        claim_ms: list[float] = []
        base_ms: list[float] = []
        commit_ms: list[float] = []
        claimed: list[str] = []
        stores = [CallbackStore(pool, f"bench-{n}") for n, pool in enumerate(pools)]
        await asyncio.gather(*(dialer(store, pool, rounds // 2, now, due_ms, claim_ms, base_ms, commit_ms, claimed)
                               for store, pool in zip(stores, pools, strict=True)))
        in_flight = await pools[0].fetchval("SELECT count(*) FROM callbacks WHERE status = 'dialling'")
    finally:
        for pool in pools:
            await pool.close()
        admin = await asyncpg.connect(f"{server}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    return {
        "rows": rows, "rounds": rounds, "fill_s": fill_s,
        "claims": len(claimed), "claimed_twice": len(claimed) - len(set(claimed)), "dialling_rows": in_flight,
        "claim_p50_ms": statistics.median(claim_ms), "claim_p99_ms": pct(claim_ms, 0.99),
        "due_p50_ms": statistics.median(due_ms), "due_p99_ms": pct(due_ms, 0.99),
        "baseline_p50_ms": statistics.median(base_ms), "baseline_p99_ms": pct(base_ms, 0.99),
        "commit_p50_ms": statistics.median(commit_ms), "commit_p99_ms": pct(commit_ms, 0.99),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    url = os.environ.get("AIGUILLEUR_BENCH_DATABASE_URL") or f"{SERVER}/aiguilleur_bench_claims"
    r = asyncio.run(run(args.rows, args.rounds, url))
    print(f"callback claims: {r['rows']:,} pending rows (filled in {r['fill_s']:.1f} s), {r['rounds']:,} rounds "
          f"by two dialers at once")
    print("| step | p50 ms | p99 ms | ratio p99 to one committed row update | goal |")
    print("|---|---:|---:|---:|---|")
    print(f"| claim one due callback | {r['claim_p50_ms']:.2f} | {r['claim_p99_ms']:.2f} | "
          f"{r['claim_p99_ms'] / r['commit_p99_ms']:.1f}x | <= 5 ms: "
          f"{'met' if r['claim_p99_ms'] <= 5 else 'NOT met'} |")
    print(f"| pick 20 due callbacks | {r['due_p50_ms']:.2f} | {r['due_p99_ms']:.2f} | "
          f"{r['due_p99_ms'] / r['commit_p99_ms']:.1f}x | |")
    print(f"| baseline: one committed row update | {r['commit_p50_ms']:.2f} | {r['commit_p99_ms']:.2f} | 1.0x | |")
    print(f"| SELECT 1 round trip | {r['baseline_p50_ms']:.2f} | {r['baseline_p99_ms']:.2f} | "
          f"{r['baseline_p99_ms'] / r['commit_p99_ms']:.1f}x | |")
    print(f"claimed {r['claims']:,} rows, {r['claimed_twice']} claimed twice; "
          f"rows in 'dialling': {r['dialling_rows']:,}")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2), encoding="utf-8")
    return 0 if r["claimed_twice"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
