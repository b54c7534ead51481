"""hookwire's own event types in the dashboard (Chromium): shown, not editable, reserved."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser import Server, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_operational_types_are_listed_read_only_and_their_prefix_is_reserved(
    page: Page, server: Server
) -> None:
    await sign_in(page, server.admin_key)
    await (
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Event types").click()
    )
    await page.get_by_role("link", name="hookwire.webhook.unhealthy").click()
    await expect(page.get_by_text("cannot be changed or deleted")).to_be_visible()
    await expect(page.get_by_text('"lastFailure"').first).to_be_visible()
    await expect(page.get_by_role("button", name="Save event type")).to_have_count(0)

    await page.go_back()
    form = page.get_by_role("region", name="Add an event type")
    await form.get_by_label("Name").fill("hookwire.mine")
    await form.get_by_role("button", name="Add event type").click()
    await expect(form.get_by_text("reserved for hookwire's own operational events")).to_be_visible()
    await expect(form.get_by_label("Name")).to_have_value("hookwire.mine")
