"""Schema migrations with Alembic, run programmatically on hookwire's own engine."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from hookwire.crypto import TokenCipher

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every hookwire process.
PG_MIGRATION_LOCK_ID = 0x686F6F6B  # "hook"


def alembic_config(
    connection: sa.Connection | None = None, cipher: TokenCipher | None = None
) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    # For migrations that encrypt or decrypt existing values (0003: webhook headers).
    cfg.attributes["cipher"] = cipher
    return cfg


def _upgrade(connection: sa.Connection, cipher: TokenCipher | None) -> None:
    if connection.dialect.name == "postgresql":
        # Several workers starting together against one database: one migrates,
        # the others wait and then find nothing to do.
        connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK_ID})"))
    command.upgrade(alembic_config(connection, cipher), "head")


async def migrate(engine: AsyncEngine, cipher: TokenCipher | None = None) -> None:
    """Bring the database to the newest schema.

    ``cipher`` (the operator's secret key) is needed only when existing secrets
    must be re-encrypted; a migration that needs it and lacks it says so.
    """
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, cipher)
