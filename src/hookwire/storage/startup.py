"""Is the database ready for a command? Each answer in one sentence a person can act on.

``serve`` creates and migrates what it needs; ``worker`` needs a database that
exists and is migrated, and ``migrate`` one that exists (``--create`` for a new
SQLite file). When that does not hold, or the database cannot be reached, they
stop with one of these sentences instead of a traceback.
"""

from __future__ import annotations

import socket
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from hookwire.errors import NotReady
from hookwire.storage.migrate import alembic_config

DATABASE_URL_SETTING = "HOOKWIRE_DATABASE_URL"


def shown_url(url: sa.engine.URL) -> str:
    """The database URL as it may be printed: no password."""
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)


def require_sqlite_file(url: sa.engine.URL) -> None:
    """Refuse a SQLite URL whose file does not exist, instead of creating an empty one."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    path = Path(database)
    if not path.exists():
        raise NotReady(
            f"there is no database at {path}: `hookwire serve` creates it on first start, "
            "`hookwire migrate --create` creates it without serving; or point "
            f"{DATABASE_URL_SETTING} at the database to use"
        )


async def check_reachable(engine: AsyncEngine, timeout_seconds: float) -> None:
    """Connect once; raise :class:`NotReady` saying what is wrong and what to check."""
    url = engine.url
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except ConnectionRefusedError:
        raise NotReady(
            f"cannot connect to the database at {shown_url(url)}: connection refused on "
            f"{where}. Is PostgreSQL running there, and is {DATABASE_URL_SETTING} right?"
        ) from None
    except socket.gaierror:
        raise NotReady(
            f"the database host {url.host!r} in {DATABASE_URL_SETTING} cannot be resolved: "
            "check its spelling"
        ) from None
    except TimeoutError:
        raise NotReady(
            f"no answer from the database at {where} within {timeout_seconds:g} s: is it "
            "running, and not behind a firewall?"
        ) from None
    except asyncpg.InvalidCatalogNameError:
        raise NotReady(
            f"the database {url.database!r} does not exist on {where}: create it "
            f"(createdb {url.database}) or fix {DATABASE_URL_SETTING}"
        ) from None
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError):
        raise NotReady(
            f"PostgreSQL on {where} refused the user {url.username!r}: check the user and "
            f"password in {DATABASE_URL_SETTING}"
        ) from None
    except sa.exc.OperationalError as exc:
        if url.get_backend_name() == "sqlite":
            raise NotReady(
                f"cannot open the SQLite database {url.database}: check that its folder "
                "exists and is writable"
            ) from None
        raise NotReady(f"cannot use the database at {shown_url(url)}: {exc.orig}") from None


def _current_and_head(connection: sa.Connection) -> tuple[str | None, str]:
    current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return current, head


async def require_migrated(engine: AsyncEngine) -> None:
    """Refuse a database whose schema is not the one this hookwire needs."""
    async with engine.connect() as conn:
        current, head = await conn.run_sync(_current_and_head)
    if current == head:
        return
    if current is None:
        raise NotReady(
            f"the database at {shown_url(engine.url)} has no hookwire schema: run "
            "`hookwire migrate` (or start `hookwire serve`, which migrates)"
        )
    raise NotReady(
        f"the database schema is at revision {current} and this hookwire needs {head}: "
        "run `hookwire migrate` (a newer revision means this hookwire is older than the "
        "database: upgrade it)"
    )
