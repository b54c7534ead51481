"""What the benchmarks share: a fresh, migrated database of either backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from cryptography.fernet import Fernet

from hookwire.crypto import TokenCipher
from hookwire.migrate import migrate
from hookwire.storage import Storage, create_engine

PG_ADMIN_URL = os.environ.get("HOOKWIRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test")


@asynccontextmanager
async def fresh_storage(backend: str, workdir: Path) -> AsyncIterator[Storage]:
    """A migrated, empty database: a new SQLite file, or a new PostgreSQL database."""
    drop = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'{uuid.uuid4().hex}.db'}"
    else:
        drop = f"hookwire_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(PG_ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{drop}"')
        await admin.close()
        server = PG_ADMIN_URL.split("://", 1)[1].rsplit("/", 1)[0]
        url = f"postgresql+asyncpg://{server}/{drop}"
    storage = Storage(create_engine(url), TokenCipher(Fernet.generate_key()))
    try:
        await migrate(storage.engine)
        yield storage
    finally:
        await storage.close()
        if drop:
            admin = await asyncpg.connect(PG_ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')
            await admin.close()
