"""The customer portal in Chromium: a link signs in once, expires, shows one tenant only,
ends when the admin says so, is branded, and is framed by the listed origin only."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from playwright.async_api import Browser, Page, expect

from hookwire.config import to_async_url
from hookwire.storage import create_engine
from hookwire.storage.tables import portal_links
from tests.browser import (
    ADMIN_KEY,
    DESKTOP,
    EVENT_TYPES,
    Server,
    make_tenant,
    make_webhook,
    page_errors,
    screenshot,
)
from tests.faults import serve_process
from tests.receivers import Receiver, ok

pytestmark = pytest.mark.asyncio(loop_scope="module")

PRODUCT = "Licensly"
ACCENT = "#0a7f5c"
ACCENT_RGB = "rgb(10, 127, 92)"
REFUSED = "This sign-in link was already used or has expired"


async def _link(api: httpx.AsyncClient, tenant_id: str) -> str:
    response = await api.post(f"/v1/tenants/{tenant_id}/portal-links")
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    return url


async def _expire(database: Path, link: str) -> None:
    """Move the link's expiry into the past, in the server's own database."""
    id_hash = hashlib.sha256(link.rsplit("/", 1)[1].encode()).hexdigest()
    engine = create_engine(to_async_url(f"sqlite:///{database}"))
    try:
        async with engine.begin() as conn:
            changed = await conn.execute(
                sa.update(portal_links)
                .where(portal_links.c.id_hash == id_hash)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            assert changed.rowcount == 1
    finally:
        await engine.dispose()


def _frame_ancestors(headers: dict[str, str]) -> str:
    match = re.search(r"frame-ancestors ([^;]+)", headers["content-security-policy"])
    assert match is not None, headers
    return match.group(1)


async def _signed_out(page: Page) -> None:
    await expect(page.get_by_role("heading", name="Sign in to hookwire")).to_be_visible()


# --- the dashboard's own server: no framing, no branding --------------------------------


async def test_a_link_signs_in_once_to_its_own_tenant(
    page: Page, browser: Browser, server: Server, admin_api: httpx.AsyncClient
) -> None:
    mine = await make_tenant(admin_api, "Portal Customer")
    theirs = await make_tenant(admin_api, "Portal Neighbour")
    await make_webhook(admin_api, mine.id, "http://127.0.0.1:9/mine", name="My orders")
    other_hook = await make_webhook(
        admin_api, theirs.id, "http://127.0.0.1:9/theirs", name="Their orders"
    )
    link = await _link(admin_api, mine.id)

    opened = await page.goto(link)
    assert opened is not None
    await expect(page).to_have_url(re.compile(rf"/t/{mine.id}/webhooks$"))
    await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="My orders")).to_be_visible()
    await expect(page.get_by_text("Their orders")).to_have_count(0)
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link")).to_have_text(["Webhooks", "Events", "Event catalogue"])
    await expect(page.locator(".who")).to_have_text("Portal Customer")
    # Never framed by anyone: no origins are configured on this server.
    assert _frame_ancestors(opened.headers) == "'none'"
    assert opened.headers["x-frame-options"] == "DENY"

    # The catalogue, read-only, with each type's description and an example body.
    await nav.get_by_role("link", name="Event catalogue").click()
    await expect(page.get_by_role("heading", name="Event catalogue")).to_be_visible()
    created = page.get_by_role("region", name="license.created")
    await expect(created).to_contain_text(EVENT_TYPES["license.created"])
    await created.get_by_text("Example request body").click()
    await expect(created.locator("pre")).to_contain_text('"event": "license.created"')
    await expect(page.get_by_role("button", name=re.compile("Add|Save"))).to_have_count(0)
    await screenshot(page, "portal-catalogue")

    # Another tenant's webhook and the admin's pages are absent.
    for path in (
        f"/t/{theirs.id}/webhooks/{other_hook['id']}",
        f"/t/{theirs.id}/webhooks",
        f"/t/{mine.id}/keys",
        "/tenants",
        "/event-types",
    ):
        response = await page.goto(path)
        assert response is not None and response.status == 404, path
        await expect(page.get_by_role("heading", name="Not Found")).to_be_visible()

    # The same link again, here or in another browser: refused, and no session.
    response = await page.goto(link)
    assert response is not None and response.status == 410
    await expect(page.get_by_text(REFUSED)).to_be_visible()
    other = await browser.new_context(viewport=DESKTOP, base_url=server.base_url)
    try:
        stranger = await other.new_page()
        response = await stranger.goto(link)
        assert response is not None and response.status == 410
        await expect(stranger.get_by_role("heading")).to_have_text(
            "This sign-in link no longer works"
        )
        await expect(stranger.get_by_text(f"{REFUSED}; ask the site")).to_be_visible()
        assert await other.cookies() == []
        await stranger.goto(f"/t/{mine.id}/webhooks")
        await _signed_out(stranger)
    finally:
        await other.close()


async def test_an_expired_link_signs_no_one_in(
    page: Page, server: Server, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Late Customer")
    link = await _link(admin_api, tenant.id)
    await _expire(server.log_path.parent / "hookwire.db", link)
    response = await page.goto(link)
    assert response is not None and response.status == 410
    await expect(page.get_by_text(REFUSED)).to_be_visible()
    await page.goto(f"/t/{tenant.id}/webhooks")
    await _signed_out(page)


async def test_the_admin_ends_the_portal_session(page: Page, admin_api: httpx.AsyncClient) -> None:
    tenant = await make_tenant(admin_api, "Ended Customer")
    await page.goto(await _link(admin_api, tenant.id))
    await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    ended = await admin_api.delete(f"/v1/tenants/{tenant.id}/portal-sessions")
    assert ended.status_code == 204, ended.text
    await page.reload()
    await expect(page).to_have_url(re.compile(r"/portal/ended$"))
    await expect(page.get_by_role("heading", name="Your session has ended")).to_be_visible()
    await expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


# --- a server with the operator's branding and one origin allowed to frame it ------------


@dataclass(frozen=True)
class Portal:
    base_url: str
    api: httpx.AsyncClient
    parent: Receiver  # the origin listed in HOOKWIRE_PORTAL_FRAME_ANCESTORS
    stranger: Receiver  # an origin that is not
    log: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def portal(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Portal]:
    data_dir = tmp_path_factory.mktemp("hookwire-portal")
    async with Receiver() as parent, Receiver() as stranger:
        env = {
            "HOOKWIRE_ADMIN_KEY": ADMIN_KEY,
            "HOOKWIRE_RUN_WORKER": "false",
            "HOOKWIRE_PORTAL_FRAME_ANCESTORS": f"http://127.0.0.1:{parent.port}",
            "HOOKWIRE_PORTAL_PRODUCT_NAME": PRODUCT,
            "HOOKWIRE_PORTAL_ACCENT_COLOR": ACCENT,
        }
        async with (
            serve_process(env, data_dir) as served,
            httpx.AsyncClient(
                base_url=served.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
            ) as api,
        ):
            yield Portal(served.url, api, parent, stranger, data_dir / "serve.log")


@asynccontextmanager
async def _tab(browser: Browser, portal: Portal) -> AsyncIterator[tuple[Page, list[str]]]:
    """A fresh browser context's page, and the errors its pages report (scripts, CSP),
    as the ``page`` fixture of tests/browser.py collects them."""
    log_start = portal.log.stat().st_size
    context = await browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(10_000)
    tab = await context.new_page()
    errors = page_errors(tab)
    try:
        yield tab, errors
    finally:
        await context.close()
    with portal.log.open("rb") as log:
        log.seek(log_start)
        assert "Traceback" not in log.read().decode(errors="replace")


def _framing_page(receiver: Receiver, src: str) -> str:
    """Have ``receiver`` answer its next request with a page that frames ``src``."""
    html = (
        "<!doctype html><title>The platform</title><h1>Your account</h1>"
        f'<iframe id="portal" title="Webhooks" src="{src}" width="1200" height="800"></iframe>'
    )
    receiver.answer(ok(body=html, headers={"Content-Type": "text/html; charset=utf-8"}))
    return f"http://127.0.0.1:{receiver.port}/account"


async def test_the_listed_origin_frames_the_branded_portal(
    browser: Browser, portal: Portal
) -> None:
    tenant = await make_tenant(portal.api, "Framed Customer")
    link = await _link(portal.api, tenant.id)
    async with _tab(browser, portal) as (tab, errors):
        answers: list[dict[str, str]] = []
        tab.on("response", lambda r: answers.append(r.headers) if "/portal/" in r.url else None)
        await tab.goto(_framing_page(portal.parent, link))
        frame = tab.frame_locator("#portal")
        await expect(frame.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
        await expect(frame.locator(".brand")).to_have_text(PRODUCT)
        add = frame.get_by_role("link", name="Add webhook").first
        await expect(add).to_have_css("background-color", ACCENT_RGB)
        await expect(frame.locator(".brand-mark")).to_have_css("background-color", ACCENT_RGB)
        assert answers, "the link's answer was seen"
        assert _frame_ancestors(answers[0]) == f"http://127.0.0.1:{portal.parent.port}"
        assert "x-frame-options" not in answers[0]
        inner = next(f for f in tab.frames if f.url.endswith(f"/t/{tenant.id}/webhooks"))
        assert await inner.title() == f"Webhooks · {PRODUCT}"
        await screenshot(tab, "portal-framed")
        assert not errors, errors


async def test_an_origin_not_listed_cannot_frame_the_portal(
    browser: Browser, portal: Portal
) -> None:
    tenant = await make_tenant(portal.api, "Unframed Customer")
    link = await _link(portal.api, tenant.id)
    async with _tab(browser, portal) as (tab, errors):
        async with tab.expect_console_message(lambda m: "frame-ancestors" in m.text):
            await tab.goto(_framing_page(portal.stranger, link))
        await expect(tab.get_by_role("heading", name="Your account")).to_be_visible()
        await expect(
            tab.frame_locator("#portal").get_by_role("heading", name="Webhooks")
        ).to_have_count(0)
        assert all("frame-ancestors" in e for e in errors), errors


async def test_a_refused_link_names_the_product(browser: Browser, portal: Portal) -> None:
    async with _tab(browser, portal) as (tab, errors):
        response = await tab.goto(f"{portal.base_url}/portal/{'x' * 43}")
        assert response is not None and response.status == 404
        await expect(tab.get_by_text(f"{REFUSED}; ask {PRODUCT} for a new one.")).to_be_visible()
        await expect(tab).to_have_title(f"This sign-in link no longer works · {PRODUCT}")
        assert not errors, errors
