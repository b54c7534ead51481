"""The admin's dashboard pages in Chromium: tenants and the event-type catalogue.

The catalogue belongs to no tenant; the tenant the admin chose stays chosen through it.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser import Server, make_tenant, make_webhook, screenshot, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_admin_adds_and_edits_event_types(
    page: Page, server: Server, admin_api: httpx.AsyncClient
) -> None:
    name = f"invoice.paid-{uuid.uuid4().hex[:6]}"
    await sign_in(page, server.admin_key)
    await (
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Event types").click()
    )
    form = page.get_by_role("region", name="Add an event type")

    await form.get_by_label("Name").fill("Invoice Paid")
    await form.get_by_label("JSON Schema of data").fill('{"type": "object", "required": 3}')
    await form.get_by_role("button", name="Add event type").click()
    await expect(form.get_by_text("lowercase words separated by dots")).to_be_visible()
    await expect(form.get_by_label("Name")).to_have_value("Invoice Paid")
    await form.get_by_label("Name").fill(name)
    await form.get_by_role("button", name="Add event type").click()
    await expect(form.get_by_text("not a valid JSON Schema")).to_be_visible()
    await screenshot(page, "dashboard-event-type-invalid")

    schema = '{"type": "object", "required": ["invoice"]}'
    await form.get_by_label("JSON Schema of data").fill(schema)
    await form.get_by_label("Description").fill("An invoice was paid.")
    await form.get_by_role("button", name="Add event type").click()
    await expect(page.get_by_text("Event type added to the catalogue.")).to_be_visible()
    await page.get_by_role("link", name=f"Edit {name}").click()
    await page.get_by_label("Description").fill("An invoice was paid in full.")
    await page.get_by_role("button", name="Save event type").click()
    await expect(page.get_by_text("Event type saved.")).to_be_visible()
    await expect(page.get_by_role("row", name=name)).to_contain_text("paid in full")
    await screenshot(page, "dashboard-event-types")

    stored = (await admin_api.get(f"/v1/event-types/{name}")).json()
    assert stored["description"] == "An invoice was paid in full."
    assert stored["schema"] == {"type": "object", "required": ["invoice"]}

    # The schema holds for events triggered from the dashboard too.
    tenant = await make_tenant(admin_api, "Schema Checks")
    await page.goto(f"/t/{tenant.id}/events")
    await page.get_by_label("Event type").select_option(name)
    await page.get_by_label("Data").fill('{"amount": 10}')
    await page.get_by_role("button", name="Trigger event").click()
    await expect(page.get_by_text("'invoice' is a required property")).to_be_visible()
    events = (await admin_api.get(f"/v1/tenants/{tenant.id}/events")).json()["data"]
    assert events == []


async def test_the_admin_adds_a_tenant(
    page: Page, server: Server, admin_api: httpx.AsyncClient
) -> None:
    tenant_id = f"shop-{uuid.uuid4().hex[:6]}"
    await sign_in(page, server.admin_key)
    form = page.get_by_role("region", name="Add a tenant")
    await form.get_by_role("button", name="Add tenant").click()
    await expect(form.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    await form.get_by_label("Name").fill("Corner Shop")
    await form.get_by_label("Id (optional)").fill(tenant_id)
    await form.get_by_role("button", name="Add tenant").click()
    await expect(page.get_by_text("Tenant created.")).to_be_visible()
    await page.get_by_role("link", name="Corner Shop").first.click()
    await expect(page.get_by_text("No webhooks yet")).to_be_visible()
    await screenshot(page, "dashboard-tenant-empty")
    assert (await admin_api.get(f"/v1/tenants/{tenant_id}")).status_code == 200


async def test_the_event_types_page_keeps_the_chosen_tenant(
    page: Page, server: Server, admin_api: httpx.AsyncClient
) -> None:
    suffix = uuid.uuid4().hex[:6]
    first = await make_tenant(admin_api, f"Alpha Traders {suffix}")
    chosen = await make_tenant(admin_api, f"Beta Widgets {suffix}")
    await make_webhook(admin_api, first.id, "https://alpha.example.com/hook", name="Alpha hook")
    await make_webhook(admin_api, chosen.id, "https://beta.example.com/hook", name="Beta hook")
    await sign_in(page, server.admin_key)
    picker = page.get_by_label("Tenant", exact=True)
    options = await picker.locator("option").evaluate_all("all => all.map(o => o.value)")
    assert options.index(chosen.id) > options.index(first.id) >= 0
    await picker.select_option(label=f"Beta Widgets {suffix}")
    await page.get_by_role("button", name="Open").click()
    await expect(page.get_by_role("link", name="Beta hook")).to_be_visible()

    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Event types").click()
    await expect(page.get_by_role("heading", name="Event types", exact=True)).to_be_visible()
    await expect(picker).to_have_value(chosen.id)

    # Refused, added, opened, saved: the tenant stays chosen through each page.
    name = f"shipment.delayed-{suffix}"
    form = page.get_by_role("region", name="Add an event type")
    await form.get_by_label("Name").fill("Shipment Delayed")
    await form.get_by_role("button", name="Add event type").click()
    await expect(form.get_by_text("lowercase words separated by dots")).to_be_visible()
    await expect(picker).to_have_value(chosen.id)
    await form.get_by_label("Name").fill(name)
    await form.get_by_role("button", name="Add event type").click()
    await expect(page.get_by_text("Event type added to the catalogue.")).to_be_visible()
    await expect(picker).to_have_value(chosen.id)
    await page.get_by_role("link", name=f"Edit {name}").click()
    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    await expect(picker).to_have_value(chosen.id)
    await page.get_by_label("Description").fill("A shipment will arrive late.")
    await page.get_by_role("button", name="Save event type").click()
    await expect(page.get_by_text("Event type saved.")).to_be_visible()
    await expect(picker).to_have_value(chosen.id)
    await screenshot(page, "dashboard-event-types-chosen-tenant")

    await nav.get_by_role("link", name="Webhooks").click()
    await expect(page).to_have_url(re.compile(rf"/t/{chosen.id}/webhooks$"))
    await expect(page.get_by_role("link", name="Beta hook")).to_be_visible()
    await expect(page.get_by_role("link", name="Alpha hook")).to_have_count(0)
    await expect(picker).to_have_value(chosen.id)
