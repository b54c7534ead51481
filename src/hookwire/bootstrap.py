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
from hookwire.crypto import MissingSecretKey, TokenCipher, load_or_create_secret_key
from hookwire.delivery import Worker
from hookwire.errors import Conflict, NotReady
from hookwire.ids import new_api_key
from hookwire.logformat import say
from hookwire.operational import DATA_SCHEMA, TYPES
from hookwire.storage import Storage, create_engine, make_url, startup
from hookwire.storage.migrate import migrate

GENERATED_ADMIN_KEY_NAME = "admin (generated on first start)"
SECRET_KEY_SETTING = "HOOKWIRE_SECRET_KEY"


def open_storage(settings: Settings, *, create: bool = True) -> Storage:
    """The storage for these settings (the secret key is loaded, or created if ``create``)."""
    try:
        key = load_or_create_secret_key(settings.secret_key, settings.data_dir, create=create)
    except MissingSecretKey as exc:
        raise NotReady(
            f"no secret key: set {SECRET_KEY_SETTING} to the key of the service this process "
            f"works for, or give it the same data folder (it looked for {exc.path})"
        ) from None
    try:
        cipher = TokenCipher(key)
    except ValueError as exc:
        raise NotReady(str(exc)) from None
    timeout = settings.database_timeout_seconds
    engine = create_engine(settings.resolved_database_url, timeout_seconds=timeout)
    return Storage(engine, cipher, timeout_seconds=timeout)


async def open_ready(settings: Settings, *, create: bool, migrate: bool) -> Storage:
    """The storage a command needs, checked: reachable, and with the schema it needs.

    ``create``: a missing SQLite file (and secret key) may be created; otherwise
    :class:`NotReady` says what is missing. ``migrate``: bring the schema up to
    date; otherwise it must already be. Every problem is :class:`NotReady`.
    """
    url = make_url(settings.resolved_database_url)
    if not create:
        startup.require_sqlite_file(url)
    storage = open_storage(settings, create=create)
    try:
        await startup.check_reachable(storage.engine, settings.database_timeout_seconds)
        if migrate:
            await migrate_storage(storage)
        else:
            await startup.require_migrated(storage.engine)
    except BaseException:
        await storage.close()
        raise
    return storage


async def migrate_storage(storage: Storage) -> None:
    """Bring the database to the newest schema (concurrent starts wait for each other)."""
    await migrate(storage.engine, storage.cipher)


async def ensure_operational_event_types(storage: Storage) -> None:
    """Put hookwire's own ``hookwire.*`` event types in the catalogue when they are missing."""
    missing = set(TYPES) - await storage.existing_event_types(list(TYPES))
    for name in sorted(missing):
        try:
            await storage.create_event_type(name, TYPES[name], DATA_SCHEMA)
        except Conflict:
            pass  # another process starting at the same time added it


async def ensure_admin_key(storage: Storage, settings: Settings) -> str | None:
    """Generate the admin key on first start when none is configured; return it once.

    The catalogue's operational event types are ensured on the way.
    """
    await ensure_operational_event_types(storage)
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


async def prepare_to_serve(settings: Settings) -> None:
    """Before ``serve`` starts: the database reachable and migrated, the admin key announced."""
    storage = await open_ready(settings, create=True, migrate=True)
    try:
        key = await ensure_admin_key(storage, settings)
        if key is not None:
            announce_admin_key(key, settings)
    finally:
        await storage.close()


async def run_worker_process(settings: Settings) -> None:
    """``hookwire worker``: deliver until SIGTERM/SIGINT.

    The database must exist and be migrated (``hookwire migrate``): a worker
    pointed at the wrong place says so instead of setting up an empty one. In-
    flight requests get the shutdown grace. Any number of these may run against
    one PostgreSQL database.
    """
    storage = await open_ready(settings, create=False, migrate=False)
    try:
        # Everything loaded so far lives as long as the process: moving it out
        # of the collector's sight makes each full collection (several per
        # thousand deliveries) scan only what delivery itself allocates.
        gc.freeze()
        worker = Worker(storage, settings)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.request_stop)
        say(f"hookwire worker {worker.worker_id} is delivering")
        await worker.run()
        say(f"hookwire worker {worker.worker_id} stopped")
    finally:
        await storage.close()
