"""``/docs`` (Swagger UI) and ``/redoc``, with their assets served by hookwire itself.

FastAPI's defaults load the assets from a CDN: the docs would not work without
internet access, and another origin's scripts would run on hookwire's. The
files come from the ``fastapi-offline`` package instead.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
FAVICON_URL = "/static/favicon.svg"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """The API, browsable and callable (Swagger UI)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="hookwire API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=FAVICON_URL,
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    """The API reference (ReDoc)."""
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="hookwire API",
        redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=FAVICON_URL,
        with_google_fonts=False,
    )


def mount_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and their assets to an app built with ``docs_url=None``."""
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
