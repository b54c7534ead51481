"""Engine, transactions and small helpers shared by every storage module."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hookwire.crypto import TokenCipher

SQLITE_BUSY_TIMEOUT_MS = 10_000
MAX_PAGE_LIMIT = 250
DEFAULT_PAGE_LIMIT = 50


class NotFound(Exception):
    """The thing asked for does not exist (or belongs to another tenant)."""


class Conflict(Exception):
    """The change collides with something that exists."""


class InvalidCursor(ValueError):
    """A pagination cursor that this server did not hand out."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout, foreign keys and explicit BEGINs."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @sa_event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from the sqlite3 module so that BEGIN
            # IMMEDIATE can be issued for writes (see _on_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @sa_event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # A deferred transaction that later writes fails at once with
            # SQLITE_BUSY when another writer got in first; IMMEDIATE takes the
            # write lock up front and so waits under busy_timeout instead.
            write = conn.get_execution_options().get("hookwire_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=False)


class StorageBase:
    """Holds the engine and opens read and write transactions."""

    def __init__(self, engine: AsyncEngine, cipher: TokenCipher) -> None:
        self.engine = engine
        self.cipher = cipher
        self.is_sqlite = engine.dialect.name == "sqlite"
        # One writer at a time inside this process on SQLite: its lock is
        # per-database anyway, and queueing here is cheaper than busy-waiting.
        self._sqlite_write_lock = asyncio.Lock()
        # Called after new deliveries are committed, so an in-process worker
        # wakes at once (PostgreSQL workers also get a NOTIFY).
        self._wakeup_listeners: list[Callable[[], None]] = []

    def add_wakeup_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever this process commits new due deliveries."""
        self._wakeup_listeners.append(callback)

    def remove_wakeup_listener(self, callback: Callable[[], None]) -> None:
        self._wakeup_listeners.remove(callback)

    def notify_wakeup(self) -> None:
        for callback in list(self._wakeup_listeners):
            callback()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed on success."""
        if not self.is_sqlite:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._sqlite_write_lock, self.engine.connect() as conn:
            conn = await conn.execution_options(hookwire_write=True)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

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
        """Raise when the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def encode_cursor(*values: Any) -> str:
    """An opaque cursor holding a row's sort key."""
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, timestamp_first: bool = True) -> list[Any]:
    """Decode a cursor from :func:`encode_cursor`; raise :class:`InvalidCursor` if it is not one."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or not values:
            raise ValueError
        if timestamp_first:
            values[0] = datetime.fromisoformat(values[0])
            if values[0].tzinfo is None:
                raise ValueError
        return values
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
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
