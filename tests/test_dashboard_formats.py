"""Chat formats in the dashboard, in Chromium: choose Slack, and see the message sent."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser import DELIVERY_TIMEOUT_MS, make_tenant, screenshot, sign_in
from tests.receivers import Receiver

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_slack_webhook_is_added_in_the_form_and_its_delivery_shows_the_message(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Chat Ops & Co")
    async with Receiver() as receiver:
        await sign_in(page, tenant.key)
        await page.get_by_role("link", name="Add webhook", exact=True).click()
        dialog = page.get_by_role("dialog", name="Add webhook")
        body = dialog.get_by_label("Body")
        await expect(body).to_have_value("hookwire")  # the seed's payload by default
        await body.select_option(label="Slack message (an incoming-webhook URL)")
        await dialog.get_by_label("Name").fill("Team channel")
        await dialog.get_by_label("URL").fill(receiver.url)
        await dialog.get_by_label("license.created").check()
        await dialog.get_by_role("button", name="Add webhook").click()

        await expect(page.get_by_role("heading", name="Team channel")).to_be_visible()
        await expect(page.locator(".settings-grid")).to_contain_text("Slack message")
        [listed] = (await admin_api.get(f"/v1/tenants/{tenant.id}/webhooks")).json()["data"]
        assert listed["format"] == "slack"

        response = await admin_api.post(
            f"/v1/tenants/{tenant.id}/events",
            json={"event": "license.created", "data": {"key": "K-42", "plan": "pro"}},
        )
        assert response.status_code == 202, response.text
        await page.goto(f"/t/{tenant.id}/webhooks/{listed['id']}")
        row = page.locator("#log tbody tr").first
        await expect(row.locator("td[data-label=Status]")).to_have_text(
            "200", timeout=DELIVERY_TIMEOUT_MS
        )
        await row.get_by_role("link", name="license.created").click()

    detail = page.get_by_role("dialog", name="Delivery")
    sent_body = detail.locator("pre").first
    await expect(sent_body).to_contain_text('"text":')
    [request] = receiver.requests
    assert json.loads(await sent_body.inner_text()) == json.loads(request.body)
    message = detail.locator("pre.chat-text")
    await expect(message).to_contain_text(
        re.compile(r"^\*license\.created\* for \*Chat Ops & Co\* — key: K-42, plan: pro\n```json")
    )
    await screenshot(page, "dashboard-delivery-slack-message")
