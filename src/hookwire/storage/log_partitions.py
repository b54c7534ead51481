"""PostgreSQL's day partitions of the event log: made ahead of their rows, dropped when past.

``log_entries`` is ``PARTITION BY RANGE (created_at)``. ``log_entries_pYYYYMMDD``
holds the UTC day ``[day, day + 1)``; ``log_entries_default`` takes whatever no
partition does, so an insert never fails when maintenance lags; and
``log_entries_before_YYYYMMDD`` holds what the migration that introduced
partitioning found from before that day. Other names are left alone.

Creating and dropping a partition take the whole log table's strongest lock.
Both wait at most ``LOG_PARTITION_LOCK_TIMEOUT_MS`` for it (a long reader would
otherwise queue every writer behind them) and are retried on a later run.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hookwire.storage.base import StorageBase

# Today's partition and this many days after it exist ahead of their rows.
LOG_PARTITION_DAYS_AHEAD = 3
LOG_PARTITION_LOCK_TIMEOUT_MS = 2_000
# A day whose partition is missing while more of its rows than this sit in the
# default partition keeps them there: moving them would lock the log too long.
LOG_PARTITION_MOVE_MAX_ROWS = 10_000

LOG_PARTITION_NAME = re.compile(r"^log_entries_(?:p\d{8}|before_\d{8}|default)$")
DEFAULT_LOG_PARTITION = "log_entries_default"
_DAY_PARTITION = re.compile(r"^log_entries_p(\d{8})$")
_BEFORE_PARTITION = re.compile(r"^log_entries_before_(\d{8})$")
_LOCK_NOT_AVAILABLE = "55P03"


def log_partition_name(day: date) -> str:
    """The partition of ``log_entries`` holding the entries of UTC ``day``."""
    return f"log_entries_p{day:%Y%m%d}"


def log_partition_end(name: str) -> datetime | None:
    """Where partition ``name`` ends (exclusive); None for the default partition or a stranger."""
    if match := _DAY_PARTITION.match(name):
        return utc_midnight(_day(match.group(1))) + timedelta(days=1)
    if match := _BEFORE_PARTITION.match(name):
        return utc_midnight(_day(match.group(1)))
    return None


def utc_midnight(day: date) -> datetime:
    """The start of ``day`` in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _day(digits: str) -> date:
    return datetime.strptime(digits, "%Y%m%d").date()


async def unless_busy(conn: AsyncConnection, statement: sa.Executable) -> list[Any] | None:
    """The rows of ``statement`` (which takes locks), or None when what it locks is busy.

    For statements that give up rather than wait (``NOWAIT``, ``lock_timeout``);
    a savepoint keeps the transaction usable after they do.
    """
    try:
        async with conn.begin_nested():
            result = await conn.execute(statement)
            return list(result.all()) if result.returns_rows else []
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            return None
        raise


async def _lock_log_table(conn: AsyncConnection) -> bool:
    """Lock the log table for DDL, waiting a short while at most; False when it stayed busy."""
    await conn.execute(sa.text(f"SET LOCAL lock_timeout = {LOG_PARTITION_LOCK_TIMEOUT_MS}"))
    lock = sa.text("LOCK TABLE log_entries IN ACCESS EXCLUSIVE MODE")
    return await unless_busy(conn, lock) is not None


async def _log_partitions(conn: AsyncConnection) -> list[str]:
    rows = await conn.scalars(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'log_entries'::regclass"
        )
    )
    return list(rows)


class LogPartitionStore(StorageBase):
    """Making and dropping the log's day partitions (PostgreSQL only)."""

    async def _create_log_partitions(self, now: datetime) -> tuple[list[str], int, bool]:
        """Make today's and the next days' partitions: (made, rows moved, all made)."""
        async with self.read() as conn:
            existing = set(await _log_partitions(conn))
        today = now.astimezone(UTC).date()
        made: list[str] = []
        moved = 0
        complete = True
        for offset in range(LOG_PARTITION_DAYS_AHEAD + 1):
            day = today + timedelta(days=offset)
            if log_partition_name(day) in existing:
                continue
            async with self.write() as conn:
                rows = await self._create_log_partition(conn, day)
            if rows is None:
                complete = False
            else:
                made.append(log_partition_name(day))
                moved += rows
        return made, moved, complete

    @staticmethod
    async def _create_log_partition(conn: AsyncConnection, day: date) -> int | None:
        """Make ``day``'s partition, first taking that day's rows out of the default one.

        PostgreSQL refuses a partition for rows the default partition already
        holds (they arrive there when maintenance lags), so they are moved into
        the new partition in the same transaction, under a lock that keeps new
        ones from arriving meanwhile. A day with more of them than
        ``LOG_PARTITION_MOVE_MAX_ROWS`` keeps them in the default partition
        (where they are purged row by row) rather than lock the log that long.
        Returns how many rows moved; None when the partition was not made.
        """
        name = log_partition_name(day)
        bounds = {"start": utc_midnight(day), "end": utc_midnight(day + timedelta(days=1))}
        in_range = "created_at >= :start AND created_at < :end"
        strays = sa.text(
            f"SELECT count(*) FROM (SELECT 1 FROM {DEFAULT_LOG_PARTITION} WHERE {in_range} "
            f"LIMIT {LOG_PARTITION_MOVE_MAX_ROWS + 1}) AS strays"
        )
        has_default = DEFAULT_LOG_PARTITION in await _log_partitions(conn)
        if has_default and await conn.scalar(strays, bounds) > LOG_PARTITION_MOVE_MAX_ROWS:
            return None
        if not await _lock_log_table(conn):
            return None
        if name in await _log_partitions(conn):
            return 0  # made by a process that held the lock before this one
        moved = 0
        if has_default:
            await conn.execute(
                sa.text(
                    "CREATE TEMPORARY TABLE log_entries_moving ON COMMIT DROP AS "
                    f"SELECT * FROM {DEFAULT_LOG_PARTITION} WHERE {in_range}"
                ),
                bounds,
            )
            result = await conn.execute(
                sa.text(f"DELETE FROM {DEFAULT_LOG_PARTITION} WHERE {in_range}"), bounds
            )
            moved = result.rowcount
        # Bounds cannot be bound parameters in DDL; both come from a date object.
        await conn.execute(
            sa.text(
                f"CREATE TABLE {name} PARTITION OF log_entries FOR VALUES "
                f"FROM ('{bounds['start'].isoformat()}') TO ('{bounds['end'].isoformat()}')"
            )
        )
        if moved:
            await conn.execute(sa.text("INSERT INTO log_entries SELECT * FROM log_entries_moving"))
        return int(moved)

    async def _drop_log_partitions(self, cutoff: datetime) -> tuple[list[str], bool]:
        """Drop the partitions that end by ``cutoff``, oldest first: (dropped, all dropped)."""
        async with self.read() as conn:
            names = await _log_partitions(conn)
        ends = {name: log_partition_end(name) for name in names}
        past = sorted((end, name) for name, end in ends.items() if end and end <= cutoff)
        dropped: list[str] = []
        for _end, name in past:
            async with self.write() as conn:
                if not await _lock_log_table(conn):
                    return dropped, False
                await conn.execute(sa.text(f"DROP TABLE {name}"))
            dropped.append(name)
        return dropped, True
