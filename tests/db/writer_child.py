"""A process that feeds a CdrWriter as fast as it can, for the kill -9 test.

    python -m tests.db.writer_child DATABASE_URL SPOOL_DIR COUNT

Submits ``COUNT`` records (linkedid ``k.NNNNNN``, in order) in bursts of 250 and
prints ``accepted N`` each time the writer has fsync'd more: N records are then
durable, whatever happens to this process next.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg

from tests.db.test_cdr_outage import numbered


async def main(url: str, spool: Path, count: int) -> None:
    from cdr.writer import CdrWriter

    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    writer = CdrWriter(pool, spool_dir=spool, flush_interval=0.02)
    writer.start()
    told = 0
    for start in range(0, count, 250):
        for n in range(start, min(start + 250, count)):
            writer.submit(numbered(n))
        await asyncio.sleep(0.01)
        if writer.accepted_seq > told:
            told = writer.accepted_seq
            sys.stdout.write(f"accepted {told}\n")
            sys.stdout.flush()
    await writer.stop()
    await pool.close()
    sys.stdout.write("done\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
