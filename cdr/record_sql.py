"""A call record on the SQL side: the ``cdr`` and ``queue_log`` columns and one idempotent write of rows.

Shared by the writer (``cdr.writer``) and the recovery (``cdr.recovery``): both
write through ``write_items`` / ``write_rows``, so a live record and a recovered one
land by the same statements.

- Columns are the dataclass fields of ``CallRecord`` and ``QueueLogEntry``, in order:
  a row is the spool's ``(kind, values)`` (``cdr.spool.Row``), taken from an item once.
- Writes are idempotent: ``cdr`` is upserted on ``(node, linkedid)``, ``queue_log``
  inserted once per its natural key, the node first (a linkedid or callid is unique
  on one Asterisk node only), so writing a batch twice duplicates nothing. A
  recovered record never replaces a live one.
- A batch is one transaction: COPY (binary) straight into the table in a savepoint;
  when a row is already there (a replay, a corrected record) the COPY is rolled back
  and the batch goes through a temporary staging table and ``INSERT ... SELECT ...
  ON CONFLICT`` (faster than ``executemany``: see ``bench.cdr_writer_bench``).
  Rows of one call twice in a batch: the last wins, as PostgreSQL would resolve them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any, Literal, TypeAlias

import asyncpg

from cdr.correlator import CallRecord, CdrItem
from cdr.spool import CDR_KIND, CODECS, QLOG_KIND, Row, to_rows

# The spool's row values are the table columns, in order: a COPY row is a spool row's values as they are.
COLUMNS: tuple[str, ...] = CODECS[CDR_KIND].names
QUEUE_LOG_COLUMNS: tuple[str, ...] = CODECS[QLOG_KIND].names
QUEUE_LOG_KEY = ("node", "callid", "time", "event", "queuename", "agent")
CDR_KEY = ("node", "linkedid")

_QUOTED = [f'"{c}"' for c in COLUMNS]
_CDR_UPDATE = ", ".join(f"{q} = EXCLUDED.{q}" for q in _QUOTED if q.strip('"') not in CDR_KEY)
# A record rebuilt from Asterisk's files (recovered) never replaces one the service correlated.
_CDR_CONFLICT = (f"ON CONFLICT ({', '.join(CDR_KEY)}) DO UPDATE SET {_CDR_UPDATE} "
                 "WHERE cdr.recovered OR NOT EXCLUDED.recovered")
UPSERT_SQL = (
    f"INSERT INTO cdr ({', '.join(_QUOTED)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) {_CDR_CONFLICT}"
)
_QL_QUOTED = [f'"{c}"' for c in QUEUE_LOG_COLUMNS]
QUEUE_LOG_INSERT_SQL = (
    f"INSERT INTO queue_log ({', '.join(_QL_QUOTED)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(QUEUE_LOG_COLUMNS) + 1))}) "
    f"ON CONFLICT ({', '.join(QUEUE_LOG_KEY)}) DO NOTHING"
)
_CDR_STAGE = "_aiguilleur_cdr_stage"
_QL_STAGE = "_aiguilleur_queue_log_stage"
_STAGE_SQL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_CDR_STAGE} ON COMMIT DELETE ROWS AS "
    f"SELECT {', '.join(_QUOTED)} FROM cdr WITH NO DATA;"
    f"CREATE TEMP TABLE IF NOT EXISTS {_QL_STAGE} ON COMMIT DELETE ROWS AS "
    f"SELECT {', '.join(_QL_QUOTED)} FROM queue_log WITH NO DATA"
)
_CDR_FROM_STAGE = (
    f"INSERT INTO cdr ({', '.join(_QUOTED)}) SELECT {', '.join(_QUOTED)} FROM {_CDR_STAGE} {_CDR_CONFLICT}"
)
_QL_FROM_STAGE = (
    f"INSERT INTO queue_log ({', '.join(_QL_QUOTED)}) SELECT {', '.join(_QL_QUOTED)} FROM {_QL_STAGE} "
    f"ON CONFLICT ({', '.join(QUEUE_LOG_KEY)}) DO NOTHING"
)

Method = Literal["copy", "executemany"]
Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool

# The call a cdr row's values are of, (node, linkedid): a row per call in the table.
CDR_ROW_KEY = itemgetter(*(COLUMNS.index(c) for c in CDR_KEY))
_QL_KEY = itemgetter(*(QUEUE_LOG_COLUMNS.index(c) for c in QUEUE_LOG_KEY))


def as_row(record: CallRecord) -> tuple[object, ...]:
    """The ``cdr`` row of ``record``: its values in ``COLUMNS`` order (``UPSERT_SQL``'s arguments)."""
    row: tuple[object, ...] = CODECS[CDR_KIND].getter(record)
    return row


def _split(rows: Iterable[Row]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """COPY rows per table, deduplicated as PostgreSQL would resolve them (last record per call wins)."""
    cdr: list[tuple[Any, ...]] = []
    qlog: list[tuple[Any, ...]] = []
    for kind, values in rows:
        (cdr if kind == CDR_KIND else qlog).append(values)
    if len(set(map(CDR_ROW_KEY, cdr))) != len(cdr):  # the same call twice in one batch: keep the last
        cdr = list({CDR_ROW_KEY(r): r for r in cdr}.values())
    if len(set(map(_QL_KEY, qlog))) != len(qlog):
        qlog = list({_QL_KEY(r): r for r in reversed(qlog)}.values())
    return cdr, qlog


async def _write(conn: asyncpg.Connection, rows: Sequence[Row], method: Method) -> None:
    cdr_rows, ql_rows = _split(rows)
    async with conn.transaction():
        if method == "executemany":
            if cdr_rows:
                await conn.executemany(UPSERT_SQL, cdr_rows)
            if ql_rows:
                await conn.executemany(QUEUE_LOG_INSERT_SQL, ql_rows)
            return
        if cdr_rows:
            await _copy_or_upsert(conn, "cdr", _CDR_STAGE, COLUMNS, cdr_rows, _CDR_FROM_STAGE)
        if ql_rows:
            await _copy_or_upsert(conn, "queue_log", _QL_STAGE, QUEUE_LOG_COLUMNS, ql_rows, _QL_FROM_STAGE)


async def _copy_or_upsert(
    conn: asyncpg.Connection, table: str, stage: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
    from_stage: str,
) -> None:
    """COPY (binary) straight into ``table``; when a row is already there (a replay, a record written
    again), that COPY is rolled back to its savepoint and the batch goes through the staging table
    and ``INSERT ... ON CONFLICT`` instead. Almost every batch is new calls: the upsert's second pass
    over the rows (stage, then insert) is paid only by the few that need it."""
    try:
        async with conn.transaction():  # a savepoint inside the batch's transaction
            await conn.copy_records_to_table(table, records=rows, columns=columns)
        return
    except asyncpg.UniqueViolationError:
        pass
    await conn.execute(_STAGE_SQL)
    await conn.copy_records_to_table(stage, records=rows, columns=columns)
    await conn.execute(from_stage)


async def write_rows(conn: Connection, rows: Sequence[Row], *, method: Method = "copy") -> None:
    """``write_items`` for rows (``cdr.spool.to_rows``): one transaction, idempotent."""
    if not rows:
        return
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c:
            await _write(c, rows, method)
    else:
        await _write(conn, rows, method)


async def write_items(conn: Connection, items: Sequence[CdrItem], *, method: Method = "copy") -> None:
    """Write call records and queue_log rows in one transaction; writing twice leaves one row each."""
    await write_rows(conn, to_rows(items), method=method)


async def write_records(conn: Connection, records: Sequence[CallRecord]) -> None:
    """Upsert ``records``; writing the same record twice leaves one row."""
    await write_items(conn, records)
