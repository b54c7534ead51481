"""The dashboard: server-rendered pages (Jinja2 + vendored htmx) served by the app at ``/``.

Its pages call the same operations as the API (:class:`hookwire.service.Services`)
with the same input models (:mod:`hookwire.service.inputs`); each page only
translates between a form or URL and one operation, and renders the answer.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from hookwire.dashboard import (
    admin_pages,
    auth_pages,
    catalogue_pages,
    event_pages,
    log_pages,
    portal_pages,
    webhook_pages,
)

STATIC_DIR = Path(__file__).parent / "static"
# Every module of pages, in the order their routes match: webhook_pages before
# log_pages, so that its /webhooks/new and /webhooks/token match before the
# /webhooks/{webhook_id} page does.
PAGES = (
    auth_pages,
    admin_pages,
    webhook_pages,
    log_pages,
    event_pages,
    catalogue_pages,
    portal_pages,
)


def mount_dashboard(app: FastAPI) -> None:
    """Add the dashboard's pages and its static files (``/static``) to ``app``."""
    for module in PAGES:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
