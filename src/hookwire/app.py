"""The ASGI application factory: API, dashboard and (optionally) the worker in one process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hookwire import __version__
from hookwire.api import admin, deliveries, events, portal, system, webhooks
from hookwire.api.docs import mount_docs
from hookwire.api.limits import BodySizeLimit, PrintableAddress
from hookwire.api.middleware import Answers
from hookwire.api.openapi import operation_id, problem_openapi
from hookwire.api.problems import install_problem_handlers
from hookwire.bootstrap import (
    announce_admin_key,
    ensure_admin_key,
    migrate_storage,
    open_storage,
)
from hookwire.config import Settings
from hookwire.dashboard import mount_dashboard
from hookwire.delivery import Worker
from hookwire.metrics import Metrics
from hookwire.service import Services
from hookwire.storage import Storage


def create_app(settings: Settings, storage: Storage | None = None) -> FastAPI:
    """Build the app. Pass ``storage`` to share one (tests); otherwise it is opened on start."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = app.state.storage is None
        if own:
            app.state.storage = open_storage(settings)
            await migrate_storage(app.state.storage)
            app.state.services = Services(app.state.storage, settings, app.state.metrics)
        key = await ensure_admin_key(app.state.storage, settings)
        if key is not None:
            announce_admin_key(key, settings)
        # Change notices from other processes keep the services' caches true.
        listening = asyncio.create_task(app.state.services.listen())
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
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
            if own:
                await app.state.storage.close()
                # Started again (a server reload, a test client per test), the
                # app opens a fresh storage instead of reusing a closed one.
                app.state.storage = app.state.services = None

    app = FastAPI(
        title="hookwire",
        version=__version__,
        summary="Self-hosted webhook delivery: signed POSTs, retries, event logs.",
        lifespan=lifespan,
        docs_url=None,  # served by mount_docs, with assets from the package
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.storage = storage
    app.state.metrics = Metrics()
    # The one entry point of routes and pages; built on start when the storage is opened there.
    app.state.services = Services(storage, settings, app.state.metrics) if storage else None
    install_problem_handlers(app)
    app.openapi = lambda: problem_openapi(app)  # type: ignore[method-assign]
    for module in (system, admin, portal, webhooks, events, deliveries):
        app.include_router(module.router)
    mount_docs(app)
    mount_dashboard(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(PrintableAddress)
    # Outermost: nosniff, problem+json and the duration of everything inside.
    app.add_middleware(Answers, durations=app.state.metrics.http_request_seconds)
    return app
