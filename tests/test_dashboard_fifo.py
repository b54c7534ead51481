"""A FIFO webhook's page says when its queue is held, and by which delivery (Chromium)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from hookwire.storage.base import utcnow
from tests.browser import Server, make_tenant, make_webhook, screenshot, sign_in
from tests.receivers import WAIT_SECONDS, Receiver, ok

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_webhook_page_shows_what_blocks_a_fifo_webhook(
    page: Page, admin_api: httpx.AsyncClient, server: Server
) -> None:
    tenant = await make_tenant(admin_api, "In Order Inc")
    async with Receiver(default=ok(503)) as receiver:
        hook = await make_webhook(
            admin_api, tenant.id, receiver.url, name="Ledger", ordering="fifo"
        )
        events = []
        for number in range(3):
            response = await admin_api.post(
                f"/v1/tenants/{tenant.id}/events",
                json={"event": "license.created", "data": {"n": number}},
            )
            assert response.status_code == 202, response.text
            events.append(response.json()["id"])
        first = await admin_api.get(f"/v1/tenants/{tenant.id}/events/{events[0]}")
        head = first.json()["deliveries"][0]["id"]
        # The server retries after 1 s: the test holds the head's retry ten minutes
        # away, as a longer schedule would, to look at the page while it waits.
        await _postpone_retry(server.log_path.parent / "hookwire.db", head)

        await sign_in(page, tenant.key)
        await page.goto(f"/t/{tenant.id}/webhooks/{hook['id']}")
        line = page.locator(".blocked-line")
        await expect(line).to_contain_text(
            re.compile(r"Blocked by license\.created\s+\(retrying at ")
        )
        await expect(line).to_contain_text("it failed 1 time (HTTP 503)")
        await expect(page.locator(".pending-line")).to_contain_text("1 retrying")
        await expect(page.locator(".pending-line")).to_contain_text("2 waiting to be sent")
        await screenshot(page, "dashboard-fifo-blocked")

        await line.get_by_role("link", name="license.created").click()
        detail = page.get_by_role("dialog", name="Delivery")
        await expect(detail).to_contain_text(head)
        # Only the head was sent: the two behind it wait.
        assert len(receiver.requests) == 1
        deleted = await admin_api.delete(f"/v1/tenants/{tenant.id}/webhooks/{hook['id']}")
        assert deleted.status_code == 204


async def _postpone_retry(database: Path, delivery_id: str) -> None:
    """In the server's database, move the head's retry ten minutes on, once its first
    attempt failed and it waits (polled until then)."""
    later = (utcnow() + timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M:%S.%f")
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            with closing(sqlite3.connect(database, timeout=10)) as conn, conn:
                moved = conn.execute(
                    "UPDATE deliveries SET next_attempt_at = ? WHERE id = ?"
                    " AND state = 'pending' AND lease_owner IS NULL AND attempts = 1",
                    (later, delivery_id),
                ).rowcount
            if moved:
                return
            await asyncio.sleep(0.02)
