"""From settings to a running hookwire: the storage, its schema, the first admin key, a worker.

``serve`` (through :func:`hookwire.app.create_app`), ``worker`` and ``migrate``
start here, so each is put together the same way and nothing below imports
upward to find its dependencies.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys

from hookwire.config import Settings
from hookwire.crypto import TokenCipher, load_or_create_secret_key
from hookwire.delivery import Worker
from hookwire.ids import new_api_key
from hookwire.storage import Storage, create_engine
from hookwire.storage.migrate import migrate

GENERATED_ADMIN_KEY_NAME = "admin (generated on first start)"


def open_storage(settings: Settings) -> Storage:
    """The storage for these settings (the secret key is loaded or created here)."""
    cipher = TokenCipher(load_or_create_secret_key(settings.secret_key, settings.data_dir))
    timeout = settings.database_timeout_seconds
    engine = create_engine(settings.resolved_database_url, timeout_seconds=timeout)
    return Storage(engine, cipher, timeout_seconds=timeout)


async def migrate_storage(storage: Storage) -> None:
    """Bring the database to the newest schema (concurrent starts wait for each other)."""
    await migrate(storage.engine, storage.cipher)


async def ensure_admin_key(storage: Storage, settings: Settings) -> str | None:
    """Generate the admin key on first start when none is configured; return it once."""
    if settings.admin_key or await storage.has_admin_key():
        return None
    key = new_api_key("admin")
    await storage.create_api_key(key, None, GENERATED_ADMIN_KEY_NAME)
    return key


def announce_admin_key(key: str, settings: Settings) -> None:
    """Print a generated admin key, the only time it is shown, with where to use it."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(
        "\n  hookwire generated an admin API key. It is shown this once; only its hash is kept:\n"
        f"\n      {key}\n"
        f"\n  Open http://{host}:{settings.port}/ and sign in with it, or use it as"
        "\n  `Authorization: Bearer <key>` on the API."
        "\n  Set HOOKWIRE_ADMIN_KEY to choose your own.\n",
        file=sys.stderr,
        flush=True,
    )


async def run_worker_process(settings: Settings) -> None:
    """``hookwire worker``: migrate, then deliver until SIGTERM/SIGINT.

    In-flight requests get the shutdown grace. Any number of these may run
    against one PostgreSQL database.
    """
    storage = open_storage(settings)
    try:
        await migrate_storage(storage)
        # Everything loaded so far lives as long as the process: moving it out
        # of the collector's sight makes each full collection (several per
        # thousand deliveries) scan only what delivery itself allocates.
        gc.freeze()
        worker = Worker(storage, settings)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.request_stop)
        print(f"hookwire worker {worker.worker_id} is delivering", flush=True)
        await worker.run()
        print(f"hookwire worker {worker.worker_id} stopped", flush=True)
    finally:
        await storage.close()
