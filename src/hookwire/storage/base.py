"""Engine, transactions and small helpers shared by every storage module."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hookwire.config import DEFAULT_DATABASE_TIMEOUT_SECONDS
from hookwire.crypto import TokenCipher
from hookwire.errors import InvalidCursor, NotFound, StorageFailure, Unavailable
from hookwire.records import Page
from hookwire.storage import dialects
from hookwire.storage.coordination import Signals
from hookwire.storage.dialects import DRIVER_ERRORS

T = TypeVar("T")
R = TypeVar("R")

MAX_PAGE_LIMIT = 250
DEFAULT_PAGE_LIMIT = 50


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached or used right now."""
    if isinstance(exc, sa.exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa.exc.OperationalError | sa.exc.InterfaceError
        )
    return isinstance(exc, sa.exc.TimeoutError | OSError | TimeoutError)


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


def create_engine(
    url: str, *, timeout_seconds: float = DEFAULT_DATABASE_TIMEOUT_SECONDS
) -> AsyncEngine:
    """An async engine for ``url``, set up as its database needs (see :mod:`.dialects`).

    ``timeout_seconds`` bounds the waits the driver can bound itself: SQLite's
    wait for another process's write lock, PostgreSQL's connecting and pool
    checkout. :class:`StorageBase` bounds whole transactions on top.
    """
    return dialects.create_engine(url, timeout_seconds=timeout_seconds)


class StorageBase:
    """Holds the engine, its dialect and this process's signals; opens transactions."""

    def __init__(
        self,
        engine: AsyncEngine,
        cipher: TokenCipher,
        *,
        timeout_seconds: float = DEFAULT_DATABASE_TIMEOUT_SECONDS,
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        # The longest a transaction may wait for the database: past it, the
        # caller gets Unavailable (a 503) instead of hanging with it.
        self.timeout_seconds = timeout_seconds
        self.dialect = dialects.dialect_for(engine, timeout_seconds)
        self.signals = Signals()

    async def _announce(self, conn: AsyncConnection, kind: str, ids: Collection[str]) -> None:
        """Tell other processes, when ``conn``'s transaction commits, that ``ids`` changed."""
        await self.dialect.announce(conn, [f"{kind}:{i}" for i in ids])

    async def listen(
        self,
        on_deliveries: Callable[[], None],
        on_change: Callable[[str, str], None],
        on_connect: Callable[[], None],
    ) -> None:
        """Hear other processes' wake-ups and changes until cancelled (PostgreSQL).

        On SQLite there are no other processes to hear: it returns at once.
        """
        await self.dialect.listen(on_deliveries, on_change, on_connect)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed on success, bounded by ``timeout_seconds``.

        Driver errors leave as :class:`Unavailable` or :class:`StorageFailure`
        (never with the statement's values); ``IntegrityError`` passes through,
        as callers turn it into a conflict.
        """
        try:
            async with self.dialect.transaction(write=True) as conn:
                yield conn
        except sa.exc.IntegrityError:
            raise
        except DRIVER_ERRORS as exc:
            raise self._unavailable_or_failure(exc) from None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (bounded, and errors translated, as for :meth:`write`)."""
        try:
            async with self.dialect.transaction(write=False) as conn:
                yield conn
        except DRIVER_ERRORS as exc:
            raise self._unavailable_or_failure(exc) from None

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


class Keyset:
    """One page of a listing in a fixed order (a keyset, not an offset).

    ``order`` names the columns the listing is sorted by, unique together; the
    cursor holds their values on the last row shown, read back from the record
    by the same names. One more row than the page holds is fetched to tell
    whether another page follows.
    """

    def __init__(
        self,
        order: tuple[sa.ColumnElement[Any], ...],
        limit: int | None,
        cursor: str | None,
        *,
        descending: bool = False,
    ) -> None:
        self.order = order
        self.limit = clamp_limit(limit)
        self.descending = descending
        self._after = page_after(order, cursor, descending=descending)

    def select(self, query: sa.Select[Any]) -> sa.Select[Any]:
        """``query`` sorted, limited to the page (plus one) and started after the cursor."""
        query = query.order_by(*(c.desc() if self.descending else c for c in self.order))
        query = query.limit(self.limit + 1)
        return query if self._after is None else query.where(self._after)

    def shown(self, rows: Sequence[T]) -> Sequence[T]:
        """The rows that belong on this page."""
        return rows[: self.limit]

    def page(self, rows: Sequence[sa.Row[Any]], record: Callable[[sa.Row[Any]], R]) -> Page[R]:
        """The page of records, with the cursor to the next one when there is one."""
        items = [record(r) for r in self.shown(rows)]
        if len(rows) <= self.limit:
            return Page(items, None)
        last = items[-1]
        return Page(items, encode_cursor(*(getattr(last, str(c.key)) for c in self.order)))
