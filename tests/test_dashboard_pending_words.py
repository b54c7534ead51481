"""The event log's pending line says what will happen: a retry and when, or a skip."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from hookwire.app import create_app
from hookwire.config import Settings
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.storage.tables import deliveries, log_entries, webhooks
from tests.conftest import ADMIN_KEY
from tests.receivers import make_webhook, send_event

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
PENDING_LINE = re.compile(r'<p class="pending-line">(.*?)</p>', re.S)


@pytest.fixture
async def browser(settings: Settings, storage: Storage) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-in admin session on the app (no worker runs: what is pending stays so)."""
    app = create_app(settings.model_copy(update={"run_worker": False}), storage)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hookwire.test") as client:
        form = await client.get("/signin")
        match = CSRF_INPUT.search(form.text)
        assert match is not None
        signed = await client.post(
            "/signin", data={"api_key": ADMIN_KEY, "csrf_token": match.group(1)}
        )
        assert signed.status_code == 303, signed.text
        yield client


async def pending_line(browser: httpx.AsyncClient, tenant: str, webhook: str) -> str:
    page = await browser.get(f"/t/{tenant}/webhooks/{webhook}")
    assert page.status_code == 200, page.text
    match = PENDING_LINE.search(page.text)
    assert match is not None, "no pending line"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


async def test_new_and_retrying_deliveries_are_told_apart(
    browser: httpx.AsyncClient, storage: Storage
) -> None:
    hook = await make_webhook(storage, "https://example.com/hook")
    first = await send_event(storage, "acme")
    await send_event(storage, "acme")
    assert await pending_line(browser, "acme", hook.id) == (
        "2 waiting to be sent: this log refreshes itself."
    )
    retry_at = utcnow() + timedelta(minutes=5)
    async with storage.write() as conn:
        await conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.event_id == first.id)
            .values(attempts=1, next_attempt_at=retry_at, retry_reason="HTTP 500")
        )
    line = await pending_line(browser, "acme", hook.id)
    assert re.fullmatch(
        r"1 retrying \(next at .+\), 1 waiting to be sent: this log refreshes itself\.", line
    ), line
    assert retry_at.strftime("%H:%M:%S") in line


async def test_a_disabled_webhook_says_its_queue_will_be_skipped(
    browser: httpx.AsyncClient, storage: Storage
) -> None:
    hook = await make_webhook(storage, "https://example.com/hook")
    await send_event(storage, "acme")
    await storage.update_webhook("acme", hook.id, {"active": False})
    line = await pending_line(browser, "acme", hook.id)
    assert line.startswith("1 delivery queued, but the webhook is disabled")
    assert "logged as skipped" in line and "recover" in line
    assert "waiting to be sent" not in line and "refreshes" not in line


ATTEMPT_CELL = re.compile(r'<td data-label="Attempt">(.*?)</td>', re.S)


async def test_a_skip_is_not_numbered_like_an_attempt(
    browser: httpx.AsyncClient, storage: Storage
) -> None:
    hook = await make_webhook(storage, "https://example.com/hook")
    async with storage.write() as conn:
        await conn.execute(
            sa.update(webhooks).where(webhooks.c.id == hook.id).values(status="suspended")
        )
    await send_event(storage, "acme")  # a suspended webhook's delivery is skipped at once

    async def attempt_cells() -> list[str]:
        page = await browser.get(f"/t/acme/webhooks/{hook.id}")
        assert page.status_code == 200, page.text
        return [re.sub(r"<[^>]+>", "", c).strip() for c in ATTEMPT_CELL.findall(page.text)]

    assert await attempt_cells() == ["skipped"]
    # A skip after a first attempt (the webhook turned off meanwhile) says so.
    async with storage.write() as conn:
        await conn.execute(sa.update(log_entries).values(attempt=1))
    assert await attempt_cells() == ["skipped after #1"]
