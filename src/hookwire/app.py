"""The ASGI application factory: API, dashboard and (optionally) the worker in one process."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hookwire import __version__
from hookwire.api import admin, deliveries, events, system, webhooks
from hookwire.api.docs import mount_docs
from hookwire.api.limits import BodySizeLimit, PrintableAddress
from hookwire.api.middleware import ErrorAnswers, NoSniff
from hookwire.api.openapi import problem_openapi
from hookwire.api.problems import install_problem_handlers
from hookwire.config import Settings
from hookwire.crypto import TokenCipher, load_or_create_secret_key
from hookwire.dashboard import mount_dashboard
from hookwire.delivery import Worker
from hookwire.ids import new_api_key
from hookwire.metrics import Metrics
from hookwire.storage import Storage, create_engine
from hookwire.storage.migrate import migrate

log = logging.getLogger("hookwire")


def open_storage(settings: Settings) -> Storage:
    """The storage for these settings (the secret key is loaded or created here)."""
    cipher = TokenCipher(load_or_create_secret_key(settings.secret_key, settings.data_dir))
    timeout = settings.database_timeout_seconds
    engine = create_engine(settings.resolved_database_url, timeout_seconds=timeout)
    return Storage(engine, cipher, timeout_seconds=timeout)


async def ensure_admin_key(storage: Storage, settings: Settings) -> str | None:
    """Generate the admin key on first start when none is configured; return it once."""
    if settings.admin_key or await storage.has_admin_key():
        return None
    key = new_api_key("admin")
    await storage.create_api_key(key, None, "admin (generated on first start)")
    return key


def announce_admin_key(key: str, settings: Settings) -> None:
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


def create_app(settings: Settings, storage: Storage | None = None) -> FastAPI:
    """Build the app. Pass ``storage`` to share one (tests); otherwise it is opened on start."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = app.state.storage is None
        if own:
            app.state.storage = open_storage(settings)
            await migrate(app.state.storage.engine, app.state.storage.cipher)
        key = await ensure_admin_key(app.state.storage, settings)
        if key is not None:
            announce_admin_key(key, settings)
        worker = None
        if settings.run_worker:
            worker = Worker(app.state.storage, settings, metrics=app.state.metrics)
            # Held on the app so the task is not garbage-collected while it runs.
            app.state.worker_task = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()  # finishes in-flight requests up to the shutdown grace
            if own:
                await app.state.storage.close()
                # Started again (a server reload, a test client per test), the
                # app opens a fresh storage instead of reusing a closed one.
                app.state.storage = None

    app = FastAPI(
        title="hookwire",
        version=__version__,
        summary="Self-hosted webhook delivery: signed POSTs, retries, event logs.",
        lifespan=lifespan,
        docs_url=None,  # served by mount_docs, with assets from the package
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.storage = storage
    app.state.metrics = Metrics()
    install_problem_handlers(app)
    app.openapi = lambda: problem_openapi(app)  # type: ignore[method-assign]
    for module in (system, admin, webhooks, events, deliveries):
        app.include_router(module.router)
    mount_docs(app)
    mount_dashboard(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(PrintableAddress)
    app.add_middleware(NoSniff)
    app.add_middleware(ErrorAnswers)  # outermost: it answers for everything inside
    return app
