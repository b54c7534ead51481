"""The Keys page in Chromium: the admin creates a tenant key, sees it once, and revokes it."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import DESKTOP, PHONE, Server, make_tenant, screenshot, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _status_with(server: Server, key: str, path: str) -> int:
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as client:
        return (await client.get(path)).status_code


async def test_the_admin_creates_a_key_sees_it_once_and_revokes_it(
    page: Page, browser: Browser, server: Server, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Key Holder")
    webhooks_api = f"/v1/tenants/{tenant.id}/webhooks"
    await sign_in(page, server.admin_key)
    await page.goto(f"/t/{tenant.id}/webhooks")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    await expect(page.get_by_role("heading", name="API keys", exact=True)).to_be_visible()
    await expect(page.get_by_role("row", name="dashboard")).to_contain_text("Never")

    form = page.get_by_role("region", name="Create a key")
    await form.get_by_role("button", name="Create key").click()
    await expect(form.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    await form.get_by_label("Name").fill("Billing service")
    await form.get_by_role("button", name="Create key").click()

    created = page.get_by_role("region", name="Key “Billing service” created")
    await expect(created.get_by_text("shown only this once")).to_be_visible()
    key = await created.get_by_label("New API key").input_value()
    assert key.startswith("hw_tenant_")
    # Located by what it copies: its name changes to "Copied" when clicked.
    copy = created.locator("button[data-copy=new-api-key]")
    await copy.click()
    await expect(copy).to_have_text("Copied")
    await screenshot(page, "dashboard-key-created")
    assert await _status_with(server, key, webhooks_api) == 200

    # Someone signs in to the dashboard with the new key, in a browser of their own.
    holder = await browser.new_context(viewport=DESKTOP, base_url=server.base_url)
    try:
        holder_page = await holder.new_page()
        await sign_in(holder_page, key)
        await expect(
            holder_page.get_by_role("heading", name="Webhooks", exact=True)
        ).to_be_visible()

        # Shown once: the list has its name, prefix and use, never the key again.
        await page.goto(f"/t/{tenant.id}/keys")
        row = page.get_by_role("row", name="Billing service")
        await expect(row).to_contain_text(key[:16])
        await expect(row).not_to_contain_text("Never")
        assert key not in await page.content()

        await page.get_by_role("button", name="Revoke Billing service").click()
        dialog = page.get_by_role("dialog", name="Revoke “Billing service”?")
        await expect(dialog).to_be_visible()
        await screenshot(page, "dashboard-key-revoke-confirm")
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
        assert await _status_with(server, key, webhooks_api) == 200

        await page.get_by_role("button", name="Revoke Billing service").click()
        await dialog.get_by_role("button", name="Revoke key").click()
        await expect(page.get_by_text("API key revoked")).to_be_visible()
        await expect(page.get_by_role("row", name="Billing service")).to_have_count(0)
        await expect(page.get_by_role("row", name="dashboard")).to_be_visible()
        assert await _status_with(server, key, webhooks_api) == 401

        # The key's dashboard session ended with it.
        await holder_page.reload()
        await expect(holder_page.get_by_role("heading", name="Sign in to hookwire")).to_be_visible()
        await expect(holder_page.get_by_text("Your session has ended")).to_be_visible()
    finally:
        await holder.close()

    await page.set_viewport_size(PHONE)
    await page.goto(f"/t/{tenant.id}/keys")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the keys page scrolls sideways at 390 px ({width} px)"
    await screenshot(page, "dashboard-keys-390px")


async def test_a_tenant_key_has_no_keys_page(page: Page, admin_api: httpx.AsyncClient) -> None:
    tenant = await make_tenant(admin_api, "No Keys Here")
    await sign_in(page, tenant.key)
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Webhooks")).to_be_visible()
    await expect(nav.get_by_role("link", name="API keys")).to_have_count(0)
    response = await page.goto(f"/t/{tenant.id}/keys")
    assert response is not None and response.status == 404
    listed = (await admin_api.get(f"/v1/tenants/{tenant.id}/api-keys")).json()["data"]
    assert [k["name"] for k in listed] == ["dashboard"]
