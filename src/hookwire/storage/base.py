"""Engine, transactions and small helpers shared by every storage module."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hookwire.config import DEFAULT_DATABASE_TIMEOUT_SECONDS
from hookwire.crypto import TokenCipher
from hookwire.errors import InvalidCursor, NotFound, StorageFailure, Unavailable
from hookwire.storage import notify

PRIVATE_FILE_MODE = 0o600
# What a database driver (through SQLAlchemy) raises when a statement or the
# connection fails; OSError and TimeoutError come from connecting.
_DRIVER_ERRORS = (sa.exc.SQLAlchemyError, OSError, TimeoutError)
MAX_PAGE_LIMIT = 250
DEFAULT_PAGE_LIMIT = 50


_NOTIFY_CHANGES = sa.text(
    f"SELECT pg_notify('{notify.CHANGES_CHANNEL}', p) FROM unnest(:payloads) AS p"
).bindparams(sa.bindparam("payloads", type_=postgresql.ARRAY(sa.String())))


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached or used right now."""
    if isinstance(exc, sa.exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa.exc.OperationalError | sa.exc.InterfaceError
        )
    return isinstance(exc, sa.exc.TimeoutError | OSError | TimeoutError)


def _terminate(connection: Any, cut: list[bool]) -> None:
    cut.append(True)
    connection.terminate()  # asyncpg: close the socket now, fail every wait on it


def describe_db_error(exc: BaseException) -> str:
    """A database error for a log line or an answer: its kind and SQLSTATE, never its text."""
    original = getattr(exc, "orig", None) or exc
    code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
    kind = type(original).__name__
    return f"{kind} {code}" if code else kind


def as_storage_error(exc: BaseException) -> Unavailable | StorageFailure:
    """The hookwire error that stands for a driver's ``exc`` (raise it ``from None``)."""
    if is_unavailable(exc):
        return Unavailable(f"the database is unavailable ({describe_db_error(exc)})")
    return StorageFailure(f"the database refused the statement ({describe_db_error(exc)})")


def utcnow() -> datetime:
    return datetime.now(UTC)


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


def create_engine(
    url: str, *, timeout_seconds: float = DEFAULT_DATABASE_TIMEOUT_SECONDS
) -> AsyncEngine:
    """An async engine; SQLite gets WAL, full sync, a busy timeout, foreign keys, explicit BEGINs.

    ``timeout_seconds`` bounds the waits the driver can bound itself: SQLite's
    wait for another process's write lock, PostgreSQL's connecting and pool
    checkout. :class:`StorageBase` bounds whole transactions on top.
    """
    if url.startswith("sqlite"):
        _make_private(sa.engine.make_url(url).database)
        # aiosqlite logs every statement with its parameters at DEBUG: tokens,
        # webhook header values and receivers' answers would reach the log.
        logging.getLogger("aiosqlite").setLevel(logging.INFO)
        busy_timeout_ms = round(timeout_seconds * 1000)
        # hide_parameters: an error's text never carries the values of a statement
        # (tokens, webhook header values, a receiver's answer), on either database.
        engine = create_async_engine(
            url, connect_args={"timeout": timeout_seconds}, hide_parameters=True
        )

        @sa_event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from the sqlite3 module so that BEGIN
            # IMMEDIATE can be issued for writes (see _on_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
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
            # write lock up front and so waits under busy_timeout instead.
            write = conn.get_execution_options().get("hookwire_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=False,
        pool_timeout=timeout_seconds,
        connect_args={"timeout": timeout_seconds},
        hide_parameters=True,
    )


class StorageBase:
    """Holds the engine and opens read and write transactions."""

    def __init__(
        self,
        engine: AsyncEngine,
        cipher: TokenCipher,
        *,
        timeout_seconds: float = DEFAULT_DATABASE_TIMEOUT_SECONDS,
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.is_sqlite = engine.dialect.name == "sqlite"
        # The longest a transaction may wait for the database: past it, the
        # caller gets Unavailable (a 503) instead of hanging with it.
        self.timeout_seconds = timeout_seconds
        # One writer at a time inside this process on SQLite: its lock is
        # per-database anyway, and queueing here is cheaper than busy-waiting.
        self._sqlite_write_lock = asyncio.Lock()
        # Called after new deliveries are committed, so an in-process worker
        # wakes at once (PostgreSQL workers also get a NOTIFY).
        self._wakeup_listeners: list[Callable[[], None]] = []
        # Called after this process commits a change to a webhook (or other
        # cached thing), so in-process caches drop it at once.
        self._change_listeners: list[Callable[[str, str], None]] = []

    def add_wakeup_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever this process commits new due deliveries."""
        self._wakeup_listeners.append(callback)

    def remove_wakeup_listener(self, callback: Callable[[], None]) -> None:
        self._wakeup_listeners.remove(callback)

    def notify_wakeup(self) -> None:
        for callback in list(self._wakeup_listeners):
            callback()

    def add_change_listener(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(kind, id)`` when this process commits a change (``"webhook"``, id)."""
        self._change_listeners.append(callback)

    def remove_change_listener(self, callback: Callable[[str, str], None]) -> None:
        self._change_listeners.remove(callback)

    async def _announce(self, conn: AsyncConnection, kind: str, ids: Collection[str]) -> None:
        """Tell other processes, when ``conn``'s transaction commits, that ``ids`` changed."""
        if ids and not self.is_sqlite:
            await conn.execute(_NOTIFY_CHANGES, {"payloads": [f"{kind}:{i}" for i in ids]})

    def _changed(self, kind: str, ids: Collection[str]) -> None:
        """Tell this process's listeners; call it once the change is committed."""
        for ident in ids:
            for callback in list(self._change_listeners):
                callback(kind, ident)

    async def listen(
        self,
        on_deliveries: Callable[[], None],
        on_change: Callable[[str, str], None],
        on_connect: Callable[[], None],
    ) -> None:
        """Hear other processes' wake-ups and changes until cancelled (PostgreSQL).

        On SQLite there are no other processes to hear: it returns at once.
        """
        if self.is_sqlite:
            return
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        await notify.listen(dsn, on_deliveries, on_change, on_connect)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed on success, bounded by ``timeout_seconds``.

        Driver errors leave as :class:`Unavailable` or
        :class:`StorageFailure` (never with the statement's values);
        ``IntegrityError`` passes through, as callers turn it into a conflict.
        """
        try:
            if not self.is_sqlite:
                async with self._bounded() as conn, conn.begin():
                    yield conn
                return
            # SQLite bounds its own wait for another process's lock (busy_timeout);
            # only the wait for this process's other writers is bounded here, as
            # cancelling a statement would leave it running in aiosqlite's thread.
            async with asyncio.timeout(self.timeout_seconds):
                await self._sqlite_write_lock.acquire()
            try:
                async with self.engine.connect() as conn:
                    conn = await conn.execution_options(hookwire_write=True)
                    async with conn.begin():
                        yield conn
            finally:
                self._sqlite_write_lock.release()
        except sa.exc.IntegrityError:
            raise
        except _DRIVER_ERRORS as exc:
            raise self._unavailable_or_failure(exc) from None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (bounded, and errors translated, as for :meth:`write`)."""
        try:
            if self.is_sqlite:
                async with self.engine.connect() as conn, conn.begin():
                    yield conn
                return
            async with self._bounded() as conn, conn.begin():
                yield conn
        except _DRIVER_ERRORS as exc:
            raise self._unavailable_or_failure(exc) from None

    @asynccontextmanager
    async def _bounded(self) -> AsyncIterator[AsyncConnection]:
        """A PostgreSQL connection that is cut when its transaction outlives the timeout.

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
                yield conn
            except _DRIVER_ERRORS:
                if not cut:
                    raise
                raise TimeoutError from None
            finally:
                timer.cancel()
        finally:
            await conn.close()

    def _unavailable_or_failure(self, exc: BaseException) -> Unavailable | StorageFailure:
        if isinstance(exc, TimeoutError) and not isinstance(exc, sa.exc.SQLAlchemyError):
            return Unavailable(f"the database did not answer within {self.timeout_seconds:g} s")
        return as_storage_error(exc)

    @staticmethod
    async def require_owned(
        conn: AsyncConnection, table: sa.Table, row_id: str, tenant_id: str, what: str
    ) -> None:
        """Raise NotFound unless ``table`` has row ``row_id`` belonging to ``tenant_id``."""
        owned = await conn.scalar(
            sa.select(table.c.id).where(table.c.id == row_id, table.c.tenant_id == tenant_id)
        )
        if owned is None:
            raise NotFound(f"{what} {row_id!r} not found")

    async def ping(self) -> None:
        """Raise :class:`Unavailable` when the database cannot be reached."""
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def encode_cursor(*values: Any) -> str:
    """An opaque cursor holding a row's sort key."""
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, timestamp_first: bool = True) -> list[Any]:
    """Decode a cursor from :func:`encode_cursor`; raise :class:`InvalidCursor` if it is not one.

    A cursor comes back from the client, so it is checked as input: a list of
    printable strings (ids and names), the first one a time with an offset when
    ``timestamp_first`` (returned in UTC, as stored). Anything else, including a
    time that leaves the calendar when moved to UTC, is refused here rather than
    failing in the driver.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or not values:
            raise ValueError
        if not all(isinstance(v, str) and v.isprintable() for v in values):
            raise ValueError
        if timestamp_first:
            moment = datetime.fromisoformat(values[0])
            if moment.tzinfo is None:
                raise ValueError
            values[0] = moment.astimezone(UTC)
        return values
    except (ValueError, OverflowError, RecursionError) as exc:
        raise InvalidCursor("the cursor is not one this server handed out") from exc


def page_after(
    columns: tuple[sa.ColumnElement[Any], ...], cursor: str | None, *, descending: bool
) -> sa.ColumnElement[bool] | None:
    """The keyset condition for rows after ``cursor`` in the given order."""
    if not cursor:  # absent, or empty as in ?cursor= (the first page)
        return None
    values = decode_cursor(cursor, timestamp_first=len(columns) > 1)
    if len(values) != len(columns):
        raise InvalidCursor("the cursor is not one this server handed out")
    left = sa.tuple_(*columns)
    right = sa.tuple_(*[sa.literal(v, type_=c.type) for v, c in zip(values, columns, strict=True)])
    return left < right if descending else left > right


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_LIMIT
    return max(1, min(limit, MAX_PAGE_LIMIT))
