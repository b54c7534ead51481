"""Everything SQLite and PostgreSQL do differently, in one class each.

The rest of storage is written once, against :class:`Dialect`: it opens
transactions, tells other processes about changes, and asks for the few
statements whose locking differs. SQLite is one process's database (or a few
on one machine) with a single writer at a time; PostgreSQL is shared by any
number of workers, which coordinate through row locks, advisory locks and
LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hookwire.storage import notify, sqlite_loop
from hookwire.storage import tables as t

PRIVATE_FILE_MODE = 0o600
# First key of the advisory locks that serialise claims of one webhook.
PG_CLAIM_LOCK_NAMESPACE = 0x636C6D  # "clm"
# What a database driver (through SQLAlchemy) raises when a statement or the
# connection fails; OSError and TimeoutError come from connecting.
DRIVER_ERRORS = (sa.exc.SQLAlchemyError, OSError, TimeoutError)

S = TypeVar("S", bound=sa.Select[Any])
_TEXT_ARRAY = postgresql.ARRAY(sa.String())

_NOTIFY_DELIVERIES = sa.text(f"NOTIFY {notify.DELIVERIES_CHANNEL}")
_NOTIFY_CHANGES = sa.text(
    f"SELECT pg_notify('{notify.CHANGES_CHANNEL}', p) FROM unnest(:payloads) AS p"
).bindparams(sa.bindparam("payloads", type_=postgresql.ARRAY(sa.String())))
_LOCK_WEBHOOKS = sa.text(
    # MATERIALIZED: the lock function must run only on the wanted rows, never
    # on a scan of every webhook.
    "WITH wanted AS MATERIALIZED ("
    " SELECT id, max_concurrency, rate_limit, active, status, ordering FROM webhooks"
    " WHERE id = ANY(:ids))"
    " SELECT id, max_concurrency, rate_limit, active, status, ordering FROM wanted"
    f" WHERE pg_try_advisory_xact_lock({PG_CLAIM_LOCK_NAMESPACE}, hashtext(id))"
).bindparams(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String())))


class Dialect(ABC):
    """What differs between the databases, behind one interface."""

    name: str
    # One writer at a time, across processes: a write transaction sees what it
    # read unchanged until it commits (no row locks needed to be sure).
    single_writer: bool
    # The event log is partitioned by day, so old days are dropped whole.
    partitioned_log: bool

    def __init__(self, engine: AsyncEngine, timeout_seconds: float) -> None:
        self.engine = engine
        self.timeout_seconds = timeout_seconds

    @abstractmethod
    def transaction(self, *, write: bool) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction (committed on success) on a connection of the engine."""

    @abstractmethod
    async def wake_workers(self, conn: AsyncConnection) -> None:
        """Tell other processes, once ``conn`` commits, that deliveries are due."""

    @abstractmethod
    async def announce(self, conn: AsyncConnection, payloads: Sequence[str]) -> None:
        """Tell other processes, once ``conn`` commits, that things changed (``kind:id``)."""

    @abstractmethod
    async def listen(
        self,
        on_deliveries: Callable[[], None],
        on_change: Callable[[str, str], None],
        on_connect: Callable[[], None],
    ) -> None:
        """Hear other processes' wake-ups and changes until cancelled."""

    def claim_rows(self, query: S) -> S:
        """The claim's select of due deliveries, as it must lock them."""
        return query

    def lock_rows(self, query: S) -> S:
        """A select whose rows the transaction updates next (locked in its order)."""
        return query

    @abstractmethod
    async def lock_webhooks(self, conn: AsyncConnection, ids: Sequence[str]) -> list[sa.Row[Any]]:
        """The caps of the webhooks ``ids`` that this transaction may claim for, locked for it."""

    @abstractmethod
    def upsert(self, table: sa.Table) -> Any:
        """An INSERT … ON CONFLICT construct for ``table``."""

    @staticmethod
    def among_pairs(
        columns: tuple[sa.ColumnElement[str], sa.ColumnElement[str]],
        keys: list[tuple[str, str]],
    ) -> sa.ColumnElement[bool]:
        """``columns`` hold one of the ``keys``."""
        return sa.tuple_(*columns).in_(keys)

    @abstractmethod
    def exclusively(self, lock_id: int) -> AbstractAsyncContextManager[bool]:
        """Whether this process holds ``lock_id`` for the block (False: another one does)."""

    @abstractmethod
    async def delete_pairs(
        self,
        conn: AsyncConnection,
        columns: tuple[sa.Column[str], sa.Column[str]],
        keys: list[tuple[str, str]],
    ) -> int:
        """Delete the rows of ``columns``' table whose two columns hold one of ``keys``."""

    @abstractmethod
    async def existing(
        self, conn: AsyncConnection, column: sa.Column[str], ids: Collection[str]
    ) -> set[str]:
        """Which of ``ids`` are still in ``column``'s table."""


class SqliteDialect(Dialect):
    """One file; WAL, full sync, one writer at a time."""

    name = "sqlite"
    single_writer = True
    partitioned_log = False

    def __init__(self, engine: AsyncEngine, timeout_seconds: float) -> None:
        super().__init__(engine, timeout_seconds)
        # One writer at a time inside this process: SQLite's lock is
        # per-database anyway, and queueing here is cheaper than busy-waiting.
        self._write_lock = asyncio.Lock()

    @staticmethod
    def create_engine(url: str, timeout_seconds: float) -> AsyncEngine:
        """WAL, full sync, a busy timeout, foreign keys, and BEGIN IMMEDIATE for writes."""
        _make_private(sa.engine.make_url(url).database)
        busy_timeout_ms = min(round(timeout_seconds * 1000), sqlite_loop.BUSY_WAIT_MS)
        # hide_parameters: an error's text never carries the values of a statement.
        # The connections run on the loop's thread (sqlite_loop says why).
        engine = create_async_engine(
            url, hide_parameters=True, async_creator=sqlite_loop.connector(url)
        )

        @sa_event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from the sqlite3 module so that BEGIN
            # IMMEDIATE can be issued for writes (see _on_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # FULL: a commit is on disk before it returns, so an event answered
            # with 202 survives a power cut (NORMAL may lose the last commits of
            # the WAL). Group commit shares the fsync among concurrent events.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        @sa_event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # A deferred transaction that later writes fails at once with
            # SQLITE_BUSY when another writer got in first; IMMEDIATE takes the
            # write lock up front, waiting for it up to the database timeout.
            if conn.get_execution_options().get("hookwire_write", False):
                sqlite_loop.begin_immediate(conn, timeout_seconds)
            else:
                conn.exec_driver_sql("BEGIN")

        return engine

    def transaction(self, *, write: bool) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._write() if write else self._read()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        # WAL readers never wait for writers: nothing to bound.
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        # This process's writers queue here; another process's lock is waited
        # for by sqlite_loop.begin_immediate, up to the same timeout.
        async with asyncio.timeout(self.timeout_seconds):
            await self._write_lock.acquire()
        try:
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(hookwire_write=True)
                async with conn.begin():
                    yield conn
        finally:
            self._write_lock.release()

    # Other processes on one SQLite file are not told of anything: the in-process
    # listeners (coordination.Signals) and each worker's polling do the work.
    async def wake_workers(self, conn: AsyncConnection) -> None:
        return None

    async def announce(self, conn: AsyncConnection, payloads: Sequence[str]) -> None:
        return None

    async def listen(
        self,
        on_deliveries: Callable[[], None],
        on_change: Callable[[str, str], None],
        on_connect: Callable[[], None],
    ) -> None:
        return None

    async def lock_webhooks(self, conn: AsyncConnection, ids: Sequence[str]) -> list[sa.Row[Any]]:
        # The write transaction holds SQLite's one write lock: no other claim runs.
        w = t.webhooks
        query = sa.select(
            w.c.id, w.c.max_concurrency, w.c.rate_limit, w.c.active, w.c.status, w.c.ordering
        )
        return list((await conn.execute(query.where(w.c.id.in_(sorted(ids))))).all())

    def upsert(self, table: sa.Table) -> Any:
        return sqlite.insert(table)

    @asynccontextmanager
    async def exclusively(self, lock_id: int) -> AsyncIterator[bool]:
        yield True  # its writers are serialised anyway

    async def delete_pairs(
        self,
        conn: AsyncConnection,
        columns: tuple[sa.Column[str], sa.Column[str]],
        keys: list[tuple[str, str]],
    ) -> int:
        # SQLite scans the table for a list of row values, but runs one
        # statement for many parameter sets as fast as a single lookup each.
        table = columns[0].table
        assert isinstance(table, sa.Table)
        statement = table.delete().where(
            columns[0] == sa.bindparam("b_first"), columns[1] == sa.bindparam("b_second")
        )
        params = [{"b_first": first, "b_second": second} for first, second in keys]
        return int((await conn.execute(statement, params)).rowcount)

    async def existing(
        self, conn: AsyncConnection, column: sa.Column[str], ids: Collection[str]
    ) -> set[str]:
        return set(await conn.scalars(sa.select(column).where(column.in_(list(ids)))))


class PostgresDialect(Dialect):
    """A shared server: row and advisory locks, LISTEN/NOTIFY, bounded connections."""

    name = "postgresql"
    single_writer = False
    partitioned_log = True

    @staticmethod
    def create_engine(url: str, timeout_seconds: float) -> AsyncEngine:
        """A pool whose connecting and checkout stop at the timeout."""
        return create_async_engine(
            url,
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=False,
            pool_timeout=timeout_seconds,
            connect_args={"timeout": timeout_seconds},
            hide_parameters=True,
        )

    def transaction(self, *, write: bool) -> AbstractAsyncContextManager[AsyncConnection]:
        return self._bounded()

    @asynccontextmanager
    async def _bounded(self) -> AsyncIterator[AsyncConnection]:
        """A transaction whose connection is cut when it outlives the timeout.

        Connecting (or waiting for a pooled connection) is cut short at the same
        deadline; nothing needs cleaning up then. Cancelling a statement instead
        would leave the connection's clean-up (its ROLLBACK) waiting on a server
        that does not answer; terminating the connection makes every wait on it
        fail at once, and the pool drops it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds
        conn = self.engine.connect()
        async with asyncio.timeout_at(deadline):  # nothing to clean up if this is cut short
            await conn.start()
        try:
            cut: list[bool] = []
            raw = (await conn.get_raw_connection()).driver_connection
            timer = loop.call_at(deadline, _terminate, raw, cut)
            try:
                async with conn.begin():
                    yield conn
            except DRIVER_ERRORS:
                if not cut:
                    raise
                raise TimeoutError from None
            finally:
                timer.cancel()
        finally:
            await conn.close()

    async def wake_workers(self, conn: AsyncConnection) -> None:
        await conn.execute(_NOTIFY_DELIVERIES)

    async def announce(self, conn: AsyncConnection, payloads: Sequence[str]) -> None:
        if payloads:
            await conn.execute(_NOTIFY_CHANGES, {"payloads": list(payloads)})

    async def listen(
        self,
        on_deliveries: Callable[[], None],
        on_change: Callable[[str, str], None],
        on_connect: Callable[[], None],
    ) -> None:
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        await notify.listen(dsn, on_deliveries, on_change, on_connect)

    def claim_rows(self, query: S) -> S:
        # Concurrent claims take different rows, without waiting for each other.
        return query.with_for_update(skip_locked=True)

    def lock_rows(self, query: S) -> S:
        # Locked in the select's order, so that concurrent batches cannot deadlock.
        return query.with_for_update()

    async def lock_webhooks(self, conn: AsyncConnection, ids: Sequence[str]) -> list[sa.Row[Any]]:
        # Skipping the webhooks another claim holds; the lock ends with the
        # transaction, and the caller reads the leases only after taking it.
        return list((await conn.execute(_LOCK_WEBHOOKS, {"ids": sorted(ids)})).all())

    def upsert(self, table: sa.Table) -> Any:
        return postgresql.insert(table)

    @asynccontextmanager
    async def exclusively(self, lock_id: int) -> AsyncIterator[bool]:
        # A session advisory lock, held on a connection of its own that stays
        # out of any transaction meanwhile; the work runs in other transactions.
        async with self.engine.connect() as conn:
            locked = bool(await conn.scalar(sa.select(sa.func.pg_try_advisory_lock(lock_id))))
            # The session lock outlives this transaction; ending it at once
            # keeps the idle connection from holding back vacuum.
            await conn.commit()
            try:
                yield locked
            finally:
                if locked:
                    await conn.execute(sa.select(sa.func.pg_advisory_unlock(lock_id)))
                    await conn.commit()

    async def delete_pairs(
        self,
        conn: AsyncConnection,
        columns: tuple[sa.Column[str], sa.Column[str]],
        keys: list[tuple[str, str]],
    ) -> int:
        table = columns[0].table
        assert isinstance(table, sa.Table)
        result = await conn.execute(table.delete().where(self.among_pairs(columns, keys)))
        return int(result.rowcount)

    @staticmethod
    def among_pairs(
        columns: tuple[sa.ColumnElement[str], sa.ColumnElement[str]],
        keys: list[tuple[str, str]],
    ) -> sa.ColumnElement[bool]:
        """``columns`` hold one of the ``keys``.

        A list of a thousand pairs is planned as a thousand OR-ed index scans
        (0.35 s to plan alone); two arrays make one join against an index.
        """
        firsts = sa.literal([key[0] for key in keys], _TEXT_ARRAY)
        seconds = sa.literal([key[1] for key in keys], _TEXT_ARRAY)
        pairs = sa.func.unnest(firsts, seconds).table_valued("first", "second").render_derived()
        return sa.tuple_(*columns).in_(sa.select(pairs.c.first, pairs.c.second))

    async def existing(
        self, conn: AsyncConnection, column: sa.Column[str], ids: Collection[str]
    ) -> set[str]:
        # One array parameter: no statement text to expand per batch.
        query = sa.select(column).where(
            column == sa.any_(sa.bindparam("b_ids", type_=postgresql.ARRAY(sa.String())))
        )
        return set(await conn.scalars(query, {"b_ids": list(ids)}))


def dialect_for(engine: AsyncEngine, timeout_seconds: float) -> Dialect:
    """The dialect of ``engine``'s database."""
    kind = SqliteDialect if engine.dialect.name == "sqlite" else PostgresDialect
    return kind(engine, timeout_seconds)


def create_engine(url: str, *, timeout_seconds: float) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``)."""
    kind = SqliteDialect if url.startswith("sqlite") else PostgresDialect
    return kind.create_engine(url, timeout_seconds)


def _terminate(connection: Any, cut: list[bool]) -> None:
    cut.append(True)
    connection.terminate()  # asyncpg: close the socket now, fail every wait on it


def _make_private(database: str | None) -> None:
    """Create the SQLite file readable by its owner only (0600), or tighten an existing one.

    It holds the event log and the encrypted secrets; SQLite gives its -wal and
    -shm files the permissions of the database file when it creates them.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileNotFoundError:
        return  # no such folder: SQLite will say so when it connects
    except FileExistsError:
        for existing in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if existing.exists() and existing.stat().st_mode & 0o077:
                existing.chmod(PRIVATE_FILE_MODE)
