"""SQLite runs on the event loop's thread, and waiting for a lock never stalls that loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hookwire.storage import create_engine
from hookwire.storage.dialects import Dialect, dialect_for
from hookwire.storage.sqlite_loop import BUSY_WAIT_MS

# Far longer than any tick of the loop should take while a writer waits.
STALL_SECONDS = 0.25


@pytest.fixture
async def sqlite_dialect(tmp_path: Path) -> AsyncIterator[Dialect]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", timeout_seconds=5)
    dialect = dialect_for(engine, 5)
    async with dialect.transaction(write=True) as conn:
        await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    yield dialect
    await engine.dispose()


async def _longest_tick(until: asyncio.Task[object]) -> float:
    """The longest the loop went without running this coroutine, until ``until`` ends."""
    longest = 0.0
    before = time.monotonic()
    while not until.done():
        await asyncio.sleep(0.002)
        now = time.monotonic()
        longest = max(longest, now - before)
        before = now
    return longest


async def _insert(dialect: Dialect, value: int) -> None:
    async with dialect.transaction(write=True) as conn:
        await conn.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": value})


async def test_connections_run_wal_full_sync_and_a_short_busy_wait(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", timeout_seconds=5)
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == BUSY_WAIT_MS
        assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    await engine.dispose()


async def test_a_writer_waits_for_another_connections_lock_with_the_loop_free(
    sqlite_dialect: Dialect, tmp_path: Path
) -> None:
    holder = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    writer = asyncio.create_task(_insert(sqlite_dialect, 1))
    ticks = asyncio.create_task(_longest_tick(writer))
    # Held for a while: the writer must still be waiting, the loop running meanwhile.
    await asyncio.sleep(0.3)
    assert not writer.done()
    holder.execute("ROLLBACK")
    holder.close()
    await asyncio.wait_for(writer, 5)
    assert await ticks < STALL_SECONDS
    async with sqlite_dialect.transaction(write=False) as conn:
        assert (await conn.exec_driver_sql("SELECT x FROM t")).scalars().all() == [1]


async def test_a_writer_gives_up_after_the_database_timeout(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", timeout_seconds=0.5)
    dialect = dialect_for(engine, 0.5)
    async with dialect.transaction(write=True) as conn:
        await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    holder = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        writer = asyncio.create_task(_insert(dialect, 1))
        ticks = asyncio.create_task(_longest_tick(writer))
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            await writer
        assert 0.4 < time.monotonic() - started < 2
        assert await ticks < STALL_SECONDS
    finally:
        holder.close()
        await engine.dispose()


async def test_reads_see_committed_writes_while_another_connection_writes(
    sqlite_dialect: Dialect, tmp_path: Path
) -> None:
    await _insert(sqlite_dialect, 1)
    holder = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (2)")
    try:  # WAL: the reader neither waits for the writer nor sees its uncommitted row
        async with sqlite_dialect.transaction(write=False) as conn:
            assert (await conn.exec_driver_sql("SELECT x FROM t")).scalars().all() == [1]
    finally:
        holder.close()
