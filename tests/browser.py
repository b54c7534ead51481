"""Shared fixtures for the dashboard's end-to-end tests in real headless Chromium.

Loaded as a plugin by ``conftest.py``. The dashboard tests share one real
``hookwire serve`` (a subprocess on a free port with its own SQLite data
folder); each module gets one Chromium and each test a fresh browser context.
Debian's Chromium is used (Playwright's own download is not available). When
it is missing the tests are skipped, unless ``HOOKWIRE_TEST_REQUIRE_BROWSER=1``
(set by ``.ci/run``), which makes them fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from tests.faults import free_port

CHROMIUM = Path(os.environ.get("HOOKWIRE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_BROWSER = os.environ.get("HOOKWIRE_TEST_REQUIRE_BROWSER", "") not in ("", "0")
ADMIN_KEY = "hw_admin_dashboard-tests-0123456789abcdef"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
READY_TIMEOUT_SECONDS = 30.0
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
# Playwright's auto-waiting deadline for things that need the delivery worker
# (a first attempt, then retries 1 s apart on the test schedule).
DELIVERY_TIMEOUT_MS = 20_000
EVENT_TYPES = {
    "license.created": "A license was created after a purchase.",
    "license.expired": "A license reached its expiry date.",
    "license.renewed": "A subscription license was renewed.",
    "trial.activated": "A user activated a trial.",
}


@dataclass(frozen=True)
class Server:
    """A running ``hookwire serve``."""

    base_url: str
    admin_key: str
    log_path: Path


def _wait_ready(server: Server, process: subprocess.Popen[bytes]) -> None:
    """Poll /readyz until it answers 200, the process dies, or the deadline passes."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"hookwire serve exited early:\n{server.log_path.read_text()}")
        try:
            if httpx.get(server.base_url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"hookwire serve not ready in time:\n{server.log_path.read_text()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``hookwire serve`` with a 1,1,1 s retry schedule.

    One for the whole run: every test works in tenants of its own, so they
    cannot see each other's webhooks, and starting a server takes seconds.
    """
    data_dir = tmp_path_factory.mktemp("hookwire-serve")
    port = free_port()
    env = {
        **os.environ,
        "HOOKWIRE_HOST": "127.0.0.1",
        "HOOKWIRE_PORT": str(port),
        "HOOKWIRE_DATA_DIR": str(data_dir),
        "HOOKWIRE_DATABASE_URL": f"sqlite:///{data_dir / 'hookwire.db'}",
        "HOOKWIRE_ADMIN_KEY": ADMIN_KEY,
        "HOOKWIRE_ALLOW_PRIVATE_NETWORKS": "true",
        "HOOKWIRE_RETRY_SCHEDULE": "1,1,1",
        "HOOKWIRE_RETRY_JITTER": "0",
        "HOOKWIRE_SHUTDOWN_GRACE_SECONDS": "1",
    }
    log_path = data_dir / "serve.log"
    command = [sys.executable, "-c", "from hookwire.cli import main; main()", "serve"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    running = Server(f"http://127.0.0.1:{port}", ADMIN_KEY, log_path)
    try:
        _wait_ready(running, process)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    """Debian's Chromium, or a skip (a failure under HOOKWIRE_TEST_REQUIRE_BROWSER=1)."""
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message + "; set HOOKWIRE_TEST_REQUIRE_BROWSER=1 to fail instead")
    return CHROMIUM


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


def page_errors(page: Page) -> list[str]:
    """The errors ``page`` reports from now on: script errors and CSP violations."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    return errors


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser, server: Server) -> AsyncIterator[Page]:
    """A fresh context (no cookies) at desktop width.

    The test fails on an error in the page (a script error, a CSP violation)
    and on a traceback in the server's log while it ran.
    """
    log_start = server.log_path.stat().st_size
    context = await browser.new_context(viewport=DESKTOP, base_url=server.base_url)
    context.set_default_timeout(10_000)
    fresh = await context.new_page()
    errors = page_errors(fresh)
    try:
        yield fresh
    finally:
        await context.close()
    with server.log_path.open("rb") as log:
        log.seek(log_start)
        server_output = log.read().decode(errors="replace")
    assert "Traceback" not in server_output, server_output
    assert not errors, f"errors in the page: {errors}"


@pytest_asyncio.fixture(loop_scope="module")
async def admin_api(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """The API with the admin key, for setting up what a test needs."""
    async with httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=10,
    ) as client:
        yield client


@dataclass(frozen=True)
class TenantSetup:
    id: str
    key: str


async def ensure_event_types(api: httpx.AsyncClient) -> None:
    """The catalogue the tests subscribe to (created once per server)."""
    for name, description in EVENT_TYPES.items():
        response = await api.post(
            "/v1/event-types", json={"name": name, "description": description}
        )
        assert response.status_code in (201, 409), response.text


async def make_tenant(api: httpx.AsyncClient, name: str) -> TenantSetup:
    """A tenant with a key of its own (and the catalogue in place)."""
    await ensure_event_types(api)
    response = await api.post("/v1/tenants", json={"name": name})
    assert response.status_code == 201, response.text
    tenant_id = response.json()["id"]
    response = await api.post(f"/v1/tenants/{tenant_id}/api-keys", json={"name": "dashboard"})
    assert response.status_code == 201, response.text
    return TenantSetup(tenant_id, response.json()["key"])


async def make_webhook(
    api: httpx.AsyncClient, tenant_id: str, url: str, **fields: Any
) -> dict[str, Any]:
    body = {"name": "Orders endpoint", "url": url, "events": ["license.created"], **fields}
    response = await api.post(f"/v1/tenants/{tenant_id}/webhooks", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def sign_in(page: Page, key: str) -> None:
    """Sign in through the form, as a person does."""
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Sign in to hookwire")).to_be_visible()
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def screenshot(page: Page, name: str) -> Path:
    """Save the page as a test artifact (test-artifacts/<name>.png)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
