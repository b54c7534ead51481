"""The webhook page's event log in Chromium, with the real worker and real receivers.

The server's retry schedule is 1,1,1 s, so a failing delivery makes four
attempts within a few seconds; the page's own polling brings them in, and the
test waits for them with Playwright's auto-waiting ``expect``.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser import DELIVERY_TIMEOUT_MS, make_tenant, make_webhook, screenshot, sign_in
from tests.receivers import Receiver, ok

pytestmark = pytest.mark.asyncio(loop_scope="module")


def log_rows(page: Page) -> Locator:
    return page.locator("#log tbody tr")


async def test_a_triggered_event_shows_in_the_log_with_its_status_and_times(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Happy Path Co")
    async with Receiver(default=ok(200, '{"received": true}')) as receiver:
        hook = await make_webhook(admin_api, tenant.id, receiver.url, name="License mailer")
        await sign_in(page, tenant.key)

        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Events").click()
        await page.get_by_label("Event type").select_option("license.created")
        await page.get_by_label("Data").fill('{"key": "D08B53-C564F8-463EA5"}')
        await page.get_by_role("button", name="Trigger event").click()
        await expect(page.get_by_text("Event accepted; it goes to 1 webhook.")).to_be_visible()
        await expect(page.locator("#events-table")).to_contain_text(
            "Succeeded", timeout=DELIVERY_TIMEOUT_MS
        )
        # Each event shows its payload on demand, beside links to its deliveries.
        first_event = page.locator("#events-table tbody tr").first
        await first_event.get_by_text("Payload").click()
        await expect(first_event.locator("details.payload pre")).to_contain_text(
            '"key": "D08B53-C564F8-463EA5"'
        )
        await expect(first_event.get_by_role("link", name="License mailer")).to_be_visible()

        await page.goto(f"/t/{tenant.id}/webhooks/{hook['id']}")
        row = log_rows(page).first
        await expect(row).to_contain_text("license.created", timeout=DELIVERY_TIMEOUT_MS)
        await expect(row.locator("td[data-label=Status]")).to_have_text("200")
        await expect(row.locator("td[data-label=Attempt]")).to_have_text("#1")
        for column in ("Sent at", "Received at"):
            moment = row.locator(f"td[data-label='{column}'] time")
            await expect(moment).to_have_attribute("datetime", re.compile(r"Z$"))
            await expect(moment).to_have_attribute("title", re.compile(r"UTC$"))
            # The browser shows it in its own zone, not the server's UTC text.
            await expect(moment).not_to_have_text(re.compile("UTC"))
        await expect(row.locator("td[data-label=Duration]")).to_have_text(re.compile(r"^\d+ ms$"))
        await screenshot(page, "dashboard-webhook-log")

        await row.get_by_role("link", name="license.created").click()
        detail = page.get_by_role("dialog", name="Delivery")
        await expect(detail).to_contain_text("Succeeded")
        body = detail.locator("pre").first
        await expect(body).to_contain_text('"key": "D08B53-C564F8-463EA5"')
        sent = json.loads(receiver.requests[0].body)
        assert json.loads(await body.inner_text()) == sent
        await expect(detail.get_by_role("row", name=re.compile("Webhook-Signature"))).to_have_count(
            1
        )
        await expect(detail).to_contain_text('"received": true')
        await screenshot(page, "dashboard-delivery-detail")
        await page.keyboard.press("Escape")
        await expect(detail).to_be_hidden()

        await page.get_by_role("button", name="Send test event").click()
        await expect(page.get_by_text("Test event queued.")).to_be_visible()
        await expect(log_rows(page).first).to_contain_text(
            "webhook.test", timeout=DELIVERY_TIMEOUT_MS
        )
        await expect(log_rows(page).first.locator("td[data-label=Status]")).to_have_text("200")


async def test_a_failing_receiver_shows_retries_with_their_reason_and_can_be_resent(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Flaky Endpoint Ltd")
    async with Receiver(default=ok(503, "down for maintenance")) as receiver:
        hook = await make_webhook(admin_api, tenant.id, receiver.url, name="Flaky endpoint")
        await sign_in(page, tenant.key)
        response = await admin_api.post(
            f"/v1/tenants/{tenant.id}/events",
            json={"event": "license.created", "data": {"key": "K-503"}},
        )
        assert response.status_code == 202, response.text
        await page.goto(f"/t/{tenant.id}/webhooks/{hook['id']}")

        # The page polls by itself: the first attempt, then three retries.
        await expect(log_rows(page)).to_have_count(4, timeout=DELIVERY_TIMEOUT_MS)
        for index, attempt in enumerate((4, 3, 2, 1)):
            row = log_rows(page).nth(index)
            await expect(row.locator("td[data-label=Attempt]")).to_have_text(f"#{attempt}")
            await expect(row.locator("td[data-label=Status]")).to_have_text("503")
            reason = "HTTP 503" if attempt > 1 else "—"
            await expect(row.locator("td[data-label='Retried because']")).to_have_text(reason)
        await expect(page.locator(".pending-line")).to_have_count(0, timeout=DELIVERY_TIMEOUT_MS)
        await page.reload()
        await expect(page.locator("h1 .badge")).to_have_text("Unhealthy")
        await screenshot(page, "dashboard-webhook-retries")

        await page.get_by_label("Result").select_option("succeeded")
        await expect(page.get_by_text("No log entries match these filters.")).to_be_visible()
        await expect(page).to_have_url(re.compile(r"result=succeeded"))
        await page.get_by_label("Result").select_option("failed")
        await expect(log_rows(page)).to_have_count(4)

        await log_rows(page).first.get_by_role("link", name="license.created").click()
        detail = page.get_by_role("dialog", name="Delivery")
        await expect(detail).to_contain_text("Failed")
        await expect(detail.locator(".timeline li")).to_have_count(4)
        await expect(detail.locator(".timeline")).to_contain_text("Retry: HTTP 503")
        await expect(detail).to_contain_text("down for maintenance")
        await screenshot(page, "dashboard-delivery-timeline")

        receiver.default = ok(200)
        await detail.get_by_role("button", name="Resend delivery").click()
        await expect(page.get_by_text("Delivery queued again.")).to_be_visible()
        newest = log_rows(page).first
        await expect(newest.locator("td[data-label=Attempt]")).to_have_text(
            "#5", timeout=DELIVERY_TIMEOUT_MS
        )
        await expect(newest.locator("td[data-label=Status]")).to_have_text("200")
        await expect(newest.locator("td[data-label='Retried because']")).to_have_text(
            "manual resend"
        )
        await expect(newest).to_contain_text("manual")
        assert len(receiver.requests) == 5
        await screenshot(page, "dashboard-delivery-resent")


async def test_recover_failed_since_resends_every_failed_delivery(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Recovery Works")
    async with Receiver(default=ok(500)) as receiver:
        hook = await make_webhook(
            admin_api, tenant.id, receiver.url, name="Recovering", events=["*"]
        )
        for key in ("K-1", "K-2"):
            response = await admin_api.post(
                f"/v1/tenants/{tenant.id}/events",
                json={"event": "license.expired", "data": {"key": key}},
            )
            assert response.status_code == 202, response.text
        await receiver.wait_for(lambda r: len(r.requests) == 8, timeout=DELIVERY_TIMEOUT_MS / 1000)
        await sign_in(page, tenant.key)
        await page.goto(f"/t/{tenant.id}/webhooks/{hook['id']}")
        await expect(log_rows(page)).to_have_count(8, timeout=DELIVERY_TIMEOUT_MS)
        await expect(page.locator(".pending-line")).to_have_count(0, timeout=DELIVERY_TIMEOUT_MS)

        receiver.default = ok(200)
        await page.get_by_text("Recover failed deliveries").click()
        await expect(page.locator(".recover-form .hint")).to_contain_text(
            "Deliveries still retrying are not counted"
        )
        await expect(page.get_by_label("Recover failed since")).not_to_have_value("")
        await page.get_by_role("button", name="Recover failed since").click()
        notice = page.get_by_text("2 failed or skipped deliveries queued again.")
        await expect(notice).to_be_visible()
        await expect(notice).to_contain_text("still retrying are not counted")
        await expect(log_rows(page).locator("td[data-label=Status]", has_text="200")).to_have_count(
            2, timeout=DELIVERY_TIMEOUT_MS
        )
        await screenshot(page, "dashboard-recovered")


async def test_the_header_stays_true_while_the_log_refreshes(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(admin_api, "Header Truth Inc")
    async with Receiver(default=ok(500, "broken")) as receiver:
        hook = await make_webhook(admin_api, tenant.id, receiver.url, name="Broken endpoint")
        await sign_in(page, tenant.key)
        await page.goto(f"/t/{tenant.id}/webhooks/{hook['id']}")
        await expect(page.locator("#webhook-badges")).to_have_text("Healthy")
        await expect(page.locator("#webhook-last-delivery")).to_have_text("Never")

        await page.get_by_role("button", name="Send test event").click()
        await expect(page.get_by_text("Test event queued.")).to_be_visible()
        # No reload from here: the log's own refresh brings the header along.
        await expect(page.locator("#webhook-badges")).to_have_text(
            "Unhealthy", timeout=DELIVERY_TIMEOUT_MS
        )
        await expect(page.locator("#webhook-last-delivery")).to_contain_text("500")
        await expect(page.locator(".pending-line")).to_have_count(0, timeout=DELIVERY_TIMEOUT_MS)
        await expect(page.locator("#webhook-badges")).to_have_text("Unhealthy")
        assert len(receiver.requests) == 4
        await screenshot(page, "dashboard-webhook-header-live")
