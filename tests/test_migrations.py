"""The Alembic migrations and the table definitions describe the same schema."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hookwire.storage import Storage
from hookwire.storage.log_partitions import LOG_PARTITION_NAME
from hookwire.storage.migrate import migrate
from hookwire.storage.tables import metadata


def _not_a_log_partition(name: str | None, type_: str, _parents: Any) -> bool:
    # PostgreSQL's day partitions of log_entries come and go with the calendar;
    # tables.py describes their parent, which is compared like any table.
    return not (type_ == "table" and name is not None and LOG_PARTITION_NAME.match(name))


def _diff(connection: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": _not_a_log_partition}
    )
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_table_definitions(storage: Storage) -> None:
    # The fixture's database was built by running every migration from empty.
    async with storage.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []


async def test_migrating_twice_changes_nothing(storage: Storage) -> None:
    await migrate(storage.engine)
    async with storage.engine.connect() as conn:
        version = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        diff = await conn.run_sync(_diff)
    assert version is not None
    assert diff == []
