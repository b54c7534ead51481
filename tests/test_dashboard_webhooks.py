"""The dashboard's Webhooks section in Chromium: sign in, add, validate, isolate, CSRF."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser import PHONE, Server, make_tenant, make_webhook, screenshot, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


async def webhook_count(api: httpx.AsyncClient, tenant_id: str) -> int:
    response = await api.get(f"/v1/tenants/{tenant_id}/webhooks")
    assert response.status_code == 200, response.text
    return len(response.json()["data"])


async def test_sign_in_and_add_a_webhook_through_the_modal(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Acme Licensing")
    await sign_in(page, tenant.key)

    await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    await expect(page.get_by_text("No webhooks yet")).to_be_visible()
    await page.get_by_role("link", name="Add webhook", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add webhook")
    await expect(dialog).to_be_visible()

    token = dialog.get_by_label("Token")
    first_token = await token.input_value()
    assert len(first_token) >= 40
    await dialog.get_by_role("button", name="Generate another").click()
    await expect(dialog.get_by_label("Token")).not_to_have_value(first_token)
    chosen_token = await dialog.get_by_label("Token").input_value()

    await dialog.get_by_label("Name").fill("License mailer")
    await dialog.get_by_label("URL").fill("https://mailer.example.com/hooks/licenses")
    await dialog.get_by_placeholder("Filter event types").fill("licen")
    await expect(dialog.get_by_label("trial.activated")).to_be_hidden()
    await dialog.get_by_label("license.created").check()
    await dialog.get_by_label("license.expired").check()
    await expect(dialog.get_by_label("Enabled", exact=True)).to_be_checked()
    await screenshot(page, "dashboard-add-webhook-modal")
    await dialog.get_by_role("button", name="Add webhook").click()

    await expect(page.get_by_role("heading", name="License mailer")).to_be_visible()
    await expect(page.get_by_text("Webhook created.")).to_be_visible()
    await expect(page.get_by_text("No requests yet")).to_be_visible()
    await screenshot(page, "dashboard-webhook-created")

    listed = (await admin_api.get(f"/v1/tenants/{tenant.id}/webhooks")).json()["data"]
    assert [w["name"] for w in listed] == ["License mailer"]
    created = (await admin_api.get(f"/v1/tenants/{tenant.id}/webhooks/{listed[0]['id']}")).json()
    assert created["url"] == "https://mailer.example.com/hooks/licenses"
    assert created["events"] == ["license.created", "license.expired"]
    assert created["active"] is True
    assert created["token"] == chosen_token

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    row = page.get_by_role("row", name=re.compile("License mailer"))
    await expect(row).to_contain_text("license.created, license.expired")
    await expect(row).to_contain_text("Healthy")
    await expect(row).to_contain_text("Never")
    await screenshot(page, "dashboard-webhooks-list")


async def test_the_form_offers_standard_webhooks_with_a_whsec_token(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Standard Signers")
    await sign_in(page, tenant.key)
    await page.get_by_role("link", name="Add webhook", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add webhook")
    scheme = dialog.get_by_label("Signature")
    await expect(scheme).to_have_value("hookwire")  # the seed's Webhook-Signature by default
    await scheme.select_option("standard")
    await dialog.get_by_label("Name").fill("Svix-style receiver")
    await dialog.get_by_label("URL").fill("https://std.example.com/hooks")
    await dialog.get_by_label("Token").fill("our-own-shared-secret-2024")
    await dialog.get_by_text("All events").click()
    await dialog.get_by_role("button", name="Add webhook").click()
    await expect(page.get_by_role("heading", name="Svix-style receiver")).to_be_visible()
    await expect(page.locator(".settings-grid")).to_contain_text("Standard Webhooks")
    shown = await page.locator("#webhook-token").input_value()
    assert shown.startswith("whsec_"), shown

    # The edit form shows the scheme chosen, and keeps it when saved unchanged.
    await page.get_by_role("button", name="Edit").click()
    edit = page.get_by_role("dialog", name="Edit webhook")
    await expect(edit.get_by_label("Signature")).to_have_value("standard")
    await edit.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Webhook saved.")).to_be_visible()
    [listed] = (await admin_api.get(f"/v1/tenants/{tenant.id}/webhooks")).json()["data"]
    hook = (await admin_api.get(f"/v1/tenants/{tenant.id}/webhooks/{listed['id']}")).json()
    assert (hook["signatureScheme"], hook["token"]) == ("standard", shown)


async def test_a_bad_url_is_shown_beside_the_field_and_nothing_is_saved(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Validation Ltd")
    await sign_in(page, tenant.key)
    await page.get_by_role("link", name="Add webhook", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add webhook")
    await dialog.get_by_label("Name").fill("Broken")
    await dialog.get_by_label("URL").fill("ftp://files.example.com/in")
    await dialog.get_by_role("button", name="Add webhook").click()

    url_field = dialog.get_by_label("URL")
    await expect(url_field).to_have_attribute("aria-invalid", "true")
    await expect(
        dialog.get_by_text("the URL must be absolute and start with http:// or https://")
    ).to_be_visible()
    await expect(dialog.get_by_text("choose at least one event, or All events")).to_be_visible()
    await expect(dialog.get_by_text("Nothing was saved.")).to_be_visible()
    await expect(url_field).to_have_value("ftp://files.example.com/in")
    await expect(url_field).to_be_focused()
    await screenshot(page, "dashboard-add-webhook-invalid-url")
    assert await webhook_count(admin_api, tenant.id) == 0

    # Correcting the form in place saves it.
    await url_field.fill("https://files.example.com/in")
    await dialog.get_by_label("All events").check()
    await expect(dialog.get_by_label("license.created")).to_be_disabled()
    await dialog.get_by_role("button", name="Add webhook").click()
    await expect(page.get_by_role("heading", name="Broken")).to_be_visible()
    assert await webhook_count(admin_api, tenant.id) == 1


async def test_edit_rotate_and_delete_with_confirmation(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Edits Inc")
    hook = await make_webhook(admin_api, tenant.id, "https://edits.example.com/h")
    await sign_in(page, tenant.key)
    await page.goto(f"/t/{tenant.id}/webhooks/{hook['id']}")

    await page.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit webhook")
    await dialog.get_by_label("Name").fill("Renamed endpoint")
    await dialog.get_by_label("Enabled", exact=True).uncheck()
    await dialog.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("heading", name="Renamed endpoint")).to_be_visible()
    await expect(page.get_by_text("Disabled", exact=True)).to_be_visible()

    await page.get_by_role("button", name="Rotate token").click()
    await (
        page.get_by_role("dialog", name="Rotate the token?")
        .get_by_role("button", name="Rotate token")
        .click()
    )
    await expect(page.get_by_text("New token created.")).to_be_visible()
    after = (await admin_api.get(f"/v1/tenants/{tenant.id}/webhooks/{hook['id']}")).json()
    assert after["token"] != hook["token"]
    assert after["name"] == "Renamed endpoint"
    assert after["active"] is False

    await page.get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("dialog", name=re.compile("Delete .Renamed endpoint"))
    await expect(confirm).to_be_visible()
    await screenshot(page, "dashboard-delete-confirmation")
    await confirm.get_by_role("button", name="Cancel").click()
    await expect(confirm).to_be_hidden()
    assert await webhook_count(admin_api, tenant.id) == 1
    await page.get_by_role("button", name="Delete").click()
    await confirm.get_by_role("button", name="Delete webhook").click()
    await expect(page.get_by_text("Webhook deleted")).to_be_visible()
    assert await webhook_count(admin_api, tenant.id) == 0


async def test_a_tenant_key_cannot_open_another_tenants_webhook(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    mine = await make_tenant(admin_api, "Mine")
    theirs = await make_tenant(admin_api, "Theirs")
    foreign = await make_webhook(admin_api, theirs.id, "https://theirs.example.com/h")
    await sign_in(page, mine.key)

    response = await page.goto(f"/t/{theirs.id}/webhooks/{foreign['id']}")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", name="Not Found")).to_be_visible()
    await expect(page.get_by_text("Theirs")).to_have_count(0)
    # Through its own tenant's path the foreign webhook is just as absent.
    response = await page.goto(f"/t/{mine.id}/webhooks/{foreign['id']}")
    assert response is not None and response.status == 404
    response = await page.goto("/event-types")
    assert response is not None and response.status == 404
    await screenshot(page, "dashboard-foreign-webhook-404")


async def test_form_posts_without_the_csrf_token_are_refused(
    page: Page, server: Server, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Csrf Corp")
    form = {
        "name": "Forged",
        "url": "https://evil.example.com/h",
        "events": "license.created",
        "active": "1",
    }
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        # Signing in needs the sign-in form's token too.
        refused = await client.post("/signin", data={"api_key": tenant.key})
        assert refused.status_code == 403
        signin_page = await client.get("/signin")
        match = CSRF_INPUT.search(signin_page.text)
        assert match is not None
        signed_in = await client.post(
            "/signin", data={"api_key": tenant.key, "csrf_token": match.group(1)}
        )
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie

        missing = await client.post(f"/t/{tenant.id}/webhooks", data=form)
        wrong = await client.post(
            f"/t/{tenant.id}/webhooks", data={**form, "csrf_token": "not-the-token"}
        )
        forged_header = await client.post(
            f"/t/{tenant.id}/webhooks", data=form, headers={"X-CSRF-Token": "forged"}
        )
        for refused in (missing, wrong, forged_header):
            assert refused.status_code == 403, refused.text
            assert "security token" in refused.text
        assert (await client.post("/signout")).status_code == 403
        assert await webhook_count(admin_api, tenant.id) == 0

        # The same post with the session's token goes through.
        listing = await client.get(f"/t/{tenant.id}/webhooks")
        match = CSRF_INPUT.search(listing.text)
        assert match is not None
        accepted = await client.post(
            f"/t/{tenant.id}/webhooks", data={**form, "csrf_token": match.group(1)}
        )
        assert accepted.status_code == 303, accepted.text
        assert await webhook_count(admin_api, tenant.id) == 1

    await page.goto("/signin")
    await page.set_content(missing.text)
    await expect(page.get_by_role("heading", name="Forbidden")).to_be_visible()
    await screenshot(page, "dashboard-csrf-refused")


async def test_admin_picks_a_tenant_and_pages_fit_a_phone(
    page: Page, admin_api: httpx.AsyncClient, server: Server
) -> None:
    tenant = await make_tenant(admin_api, "Phone Shop")
    await make_webhook(admin_api, tenant.id, "https://phone.example.com/a/rather/long/path/for/h")
    await sign_in(page, server.admin_key)
    await expect(page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()
    await page.get_by_label("Tenant", exact=True).select_option(label="Phone Shop")
    await page.get_by_role("button", name="Open").click()
    await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="Orders endpoint")).to_be_visible()

    await page.set_viewport_size(PHONE)
    for path in (f"/t/{tenant.id}/webhooks", f"/t/{tenant.id}/events", "/event-types"):
        await page.goto(path)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} scrolls sideways at 390 px ({width} px)"
    await page.goto(f"/t/{tenant.id}/webhooks")
    await screenshot(page, "dashboard-webhooks-390px")
