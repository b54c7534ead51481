"""SQLite called from the event loop's own thread, with aiosqlite's interface.

aiosqlite runs every call on a thread of its own and hands each result back
through the event loop. SQLAlchemy makes three or four such calls per
statement (cursor, execute, fetch, close), and under load each hand-over waits
its turn behind whatever the loop is doing: at 200 events/s a write
transaction held SQLite's one write lock for 2.5-3 ms, mostly waiting, and the
three write transactions of an event (accept, claim, record) kept that lock
busy all the time: 18 ms from trigger to receipt (median). SQLite itself needs
tens of microseconds per statement and 0.15 ms per fsync on that machine, so
hookwire calls it directly: 3.6 ms, and 15-20 % more events accepted per second
(``python -m bench --only latency,ingest --backend sqlite``).

The price is that the loop waits while SQLite works, so that work stays short:
statements touch few rows (retention deletes in batches of 1,000), WAL readers
never wait for the writer, and a statement waits at most ``BUSY_WAIT_MS`` for
another process's lock. The write lock of another process (a second
``hookwire`` on the same file, a ``migrate``) is awaited between attempts by
:func:`begin_immediate`, with the loop free meanwhile, up to the database
timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.util import await_only

# The longest one statement may hold the loop waiting for another process's lock.
BUSY_WAIT_MS = 10
# Pauses between attempts to take the write lock from another process.
FIRST_PAUSE_SECONDS = 0.001
LONGEST_PAUSE_SECONDS = 0.05


class _AtOnce:
    """Stands in for aiosqlite's queue to its thread: runs each call when it is queued."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is None:
                raise
            future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class LoopConnection(aiosqlite.Connection):
    """An aiosqlite connection without a thread: every call runs when it is awaited."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _AtOnce()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, LoopConnection]:
        return self._open().__await__()  # aiosqlite would start its thread here

    async def _open(self) -> LoopConnection:
        await self._connect()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def connector(url: str) -> Callable[[], LoopConnection]:
    """What SQLAlchemy calls (``async_creator``) to open a connection to ``url``."""
    parsed = sa.engine.make_url(url)
    args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
    kwargs["timeout"] = BUSY_WAIT_MS / 1000  # SQLite's busy timeout until PRAGMA sets it

    open_file: Callable[..., sqlite3.Connection] = sqlite3.connect

    def connect() -> LoopConnection:
        return LoopConnection(lambda: open_file(*args, **kwargs))

    return connect


def begin_immediate(conn: sa.Connection, timeout_seconds: float) -> None:
    """``BEGIN IMMEDIATE``, waiting for another process's write lock with the loop free.

    Runs inside SQLAlchemy's greenlet (a ``begin`` event), hence ``await_only``.
    Each attempt waits at most ``BUSY_WAIT_MS`` in SQLite; after the timeout
    the last "database is locked" error is raised, which callers answer with
    503.
    """
    deadline = time.monotonic() + timeout_seconds
    pause = FIRST_PAUSE_SECONDS
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except sa.exc.OperationalError as exc:
            busy = getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() + pause > deadline:
                raise
        await_only(asyncio.sleep(pause))
        pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
