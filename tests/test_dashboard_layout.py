"""The dashboard's tables in Chromium, measured: they fit at 1280 px and at 390 px.

One tenant gets a realistic event log (successes, 500s retried with "HTTP 500",
a connection reset, a 410 that suspends the webhook, a skipped delivery, a
test event, a long URL and a long event name); then every list page is laid
out at a desktop and a phone width and its boxes are measured in the page:

- at 1280 px each table fits its card: no header cell ends beyond it, and the
  table does not scroll sideways;
- at 390 px nothing sticks out of the viewport, of its row or of its cell,
  and nothing is cut off by ``overflow: hidden``; only a scrollable box (a
  payload's ``<pre>``) may hold more than it shows;
- at both, no line of text spills out of the box that holds it (a status pill
  narrower than its text), and no pill anywhere (a table cell, a delivery's
  Status field, its attempts) sticks out of its field or lies over the next
  field's text.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page, ViewportSize, expect

from tests.browser import (
    DELIVERY_TIMEOUT_MS,
    PHONE,
    Server,
    make_tenant,
    make_webhook,
    screenshot,
    sign_in,
)
from tests.receivers import Receiver, ok, reset

pytestmark = pytest.mark.asyncio(loop_scope="module")

DESKTOP_1280: ViewportSize = {"width": 1280, "height": 800}
LONG_EVENT = "license.subscription.renewal_failed"
LONG_PATH = "/licensing/production/tenants/acme-corporation-international/v2/receive"
LONG_QUERY = "?source=hookwire&format=json&version=2024-05-01"

# Everything wrong with the tables (and the page) at the current width, in words.
# `strict`: the phone rules (no table scrolling sideways, no ellipsis either).
LAYOUT_PROBLEMS = """
(strict) => {
  const EPS = 1;
  const problems = [];
  const viewport = document.documentElement.clientWidth;
  const style = (el) => getComputedStyle(el);
  const box = (el) => el.getBoundingClientRect();
  const px = (n) => `${Math.round(n)} px`;
  const shown = (r) => r.width > 0 && r.height > 0;
  const within = (inner, outer) =>
    inner.left >= outer.left - EPS && inner.right <= outer.right + EPS;
  const meets = (a, b) =>
    a.left < b.right - EPS && b.left < a.right - EPS &&
    a.top < b.bottom - EPS && b.top < a.bottom - EPS;
  const name = (el) => {
    const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
    const classes = el.className ? "." + el.className.split(" ").join(".") : "";
    return `<${el.tagName.toLowerCase()}${classes}> "${text}"`;
  };
  const scrolls = (el) => ["auto", "scroll"].includes(style(el).overflowX);
  // Whether a box above node, below top, scrolls: then node can be scrolled to.
  const reachable = (node, top) => {
    for (let up = node.parentElement; up && up !== top; up = up.parentElement) {
      if (scrolls(up)) return true;
    }
    return false;
  };
  const clips = (el) => ["hidden", "clip"].includes(style(el).overflowX);
  const clipped = (node, top) => {
    for (let up = node.parentElement; up && up !== top; up = up.parentElement) {
      if (clips(up)) return true;
    }
    return false;
  };
  // Meant to be out of sight: the skip link, visually hidden labels, a phone's thead.
  const unseen = (el) =>
    el.closest(".visually-hidden, .offscreen, .skip-link") || (strict && el.closest("thead"));
  // A deliberate summary (desktop only): an ellipsis, with the whole text on hover.
  const summary = (el) =>
    !strict && style(el).textOverflow === "ellipsis" && el.title === el.textContent.trim();
  // The box a line of text is laid out in: its nearest parent that is not inline.
  const holder = (el) => {
    while (el && style(el).display === "inline") el = el.parentElement;
    return el;
  };
  const lines = (root) => {
    const out = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) if (shown(r)) out.push({ node, r });
    }
    return out;
  };

  const width = document.documentElement.scrollWidth;
  if (width > viewport + EPS) {
    problems.push(`the page scrolls sideways: ${px(width)} wide in ${px(viewport)}`);
  }
  for (const el of document.querySelectorAll("body *")) {
    const r = box(el);
    if (shown(r) && r.right > viewport + EPS && !reachable(el, document.body) && !unseen(el)) {
      problems.push(`${name(el)} ends at ${px(r.right)}, beyond the ${px(viewport)} viewport`);
    }
  }

  for (const table of document.querySelectorAll("table.data")) {
    const wrap = table.closest(".table-wrap");
    const card = box(table.closest(".card") || wrap);
    for (const th of table.querySelectorAll("thead th")) {
      const r = box(th);
      if (!unseen(th) && r.right > card.right + EPS) {
        problems.push(`header ${name(th)} ends at ${px(r.right)}, beyond its card`);
      }
    }
    if (!strict && wrap.scrollWidth > wrap.clientWidth + EPS) {
      problems.push(`a table scrolls sideways: ${px(wrap.scrollWidth)} in ${px(wrap.clientWidth)}`);
    }
    for (const row of table.querySelectorAll("tbody tr")) {
      for (const cell of row.children) {
        const cellBox = box(cell);
        const label = cell.dataset.label || cell.textContent.trim().slice(0, 20);
        if (!reachable(cell, wrap.parentElement) && !within(cellBox, card)) {
          problems.push(`cell "${label}" sticks out of its card`);
        }
        if (strict && !within(cellBox, box(row))) {
          problems.push(`cell "${label}" sticks out of its row`);
        }
        for (const el of cell.querySelectorAll("*")) {
          const r = box(el);
          if (!shown(r) || reachable(el, cell)) continue;
          if (!within(r, cellBox)) problems.push(`${name(el)} sticks out of its cell "${label}"`);
          if (clips(el) && el.scrollWidth > el.clientWidth + EPS && !summary(el)) {
            problems.push(`${name(el)} is cut off: ${px(el.scrollWidth)} in ${px(el.clientWidth)}`);
          }
        }
        for (const { node, r } of lines(cell)) {
          // Text in a box that scrolls or clips was looked at with that box, above.
          if (reachable(node, cell) || clipped(node, cell)) continue;
          const outer = holder(node.parentElement);
          const text = node.textContent.trim().slice(0, 40);
          if (!within(r, box(outer))) problems.push(`text "${text}" spills out of ${name(outer)}`);
        }
      }
    }
  }

  // Every pill (a status code, a reason, a badge, a tag), in a table or not: its text
  // stays in it, it stays in its field, and it lies over nothing of the next field.
  for (const pill of document.querySelectorAll(".code, .badge, .tag")) {
    const pillBox = box(pill);
    if (!shown(pillBox)) continue;
    for (const { r } of lines(pill)) {
      if (!within(r, pillBox)) problems.push(`text spills out of the pill ${name(pill)}`);
    }
    const field = pill.closest("td, dd, li") || pill.parentElement;
    if (!within(pillBox, box(field))) {
      problems.push(`the pill ${name(pill)} sticks out of its field`);
    }
    const item = field.closest("td, dl > div, li");
    const next = item && item.nextElementSibling;
    if (next && lines(next).some(({ r }) => meets(pillBox, r))) {
      problems.push(`the pill ${name(pill)} lies over the next field: ${name(next)}`);
    }
  }
  return [...new Set(problems)];
}
"""


async def layout_problems(page: Page, strict: bool) -> list[str]:
    problems: list[str] = await page.evaluate(LAYOUT_PROBLEMS, strict)
    return problems


@dataclass(frozen=True)
class LoggedTenant:
    """A tenant whose webhook has a realistic event log."""

    id: str
    webhook_id: str
    failed_delivery_id: str
    skipped_delivery_id: str


async def _trigger(api: httpx.AsyncClient, tenant_id: str, event: str) -> str:
    response = await api.post(
        f"/v1/tenants/{tenant_id}/events", json={"event": event, "data": {"key": "D08B53-C564F8"}}
    )
    assert response.status_code == 202, response.text
    event_id: str = response.json()["id"]
    return event_id


async def _settled(api: httpx.AsyncClient, tenant_id: str, event_id: str) -> dict[str, Any]:
    """The event's (one) delivery once it is no longer pending."""
    async with asyncio.timeout(DELIVERY_TIMEOUT_MS / 1000):
        while True:
            response = await api.get(f"/v1/tenants/{tenant_id}/events/{event_id}")
            assert response.status_code == 200, response.text
            deliveries: list[dict[str, Any]] = response.json()["deliveries"]
            if deliveries and all(d["state"] != "pending" for d in deliveries):
                return deliveries[0]
            await asyncio.sleep(0.1)


async def _webhook_status(api: httpx.AsyncClient, tenant_id: str, webhook_id: str) -> str:
    response = await api.get(f"/v1/tenants/{tenant_id}/webhooks/{webhook_id}")
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def logged(server: Server) -> AsyncIterator[LoggedTenant]:
    """The realistic log, made once for the module through the API and a real receiver."""
    async with httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=10,
    ) as api:
        response = await api.post(
            "/v1/event-types",
            json={"name": LONG_EVENT, "description": "A subscription could not be renewed."},
        )
        assert response.status_code in (201, 409), response.text
        tenant = await make_tenant(
            api, f"Acme Corporation International Holdings {uuid.uuid4().hex[:4]}"
        )
        for purpose in ("billing service in the eu-west-1 region", "support desk"):
            response = await api.post(f"/v1/tenants/{tenant.id}/api-keys", json={"name": purpose})
            assert response.status_code == 201, response.text
        async with Receiver(default=ok(200, '{"received": true}')) as receiver:
            hook = await make_webhook(
                api,
                tenant.id,
                receiver.url + LONG_PATH + LONG_QUERY,
                name="Licensing backend (production, EU region)",
                events=["*"],
            )
            await make_webhook(
                api,
                tenant.id,
                receiver.url + "/slack/services/T024BE7LD/B08S3J6LM/notifications",
                name="Slack notifier",
                events=["license.created", "license.expired", "license.renewed", LONG_EVENT],
                active=False,
            )
            await _settled(api, tenant.id, await _trigger(api, tenant.id, "license.created"))
            receiver.answer(ok(500, "boom"), ok(500, "boom"))  # then 200: "HTTP 500" twice
            await _settled(api, tenant.id, await _trigger(api, tenant.id, LONG_EVENT))
            receiver.answer(reset())  # then 200: "connection reset"
            await _settled(api, tenant.id, await _trigger(api, tenant.id, "license.expired"))
            response = await api.post(f"/v1/tenants/{tenant.id}/webhooks/{hook['id']}/test")
            assert response.status_code == 202, response.text
            await receiver.wait_for(lambda r: len(r.requests) == 7)
            await _settled(api, tenant.id, response.json()["id"])
            receiver.answer(ok(410, "gone"))  # suspends the webhook
            failed = await _settled(
                api, tenant.id, await _trigger(api, tenant.id, "license.renewed")
            )
            async with asyncio.timeout(DELIVERY_TIMEOUT_MS / 1000):
                while await _webhook_status(api, tenant.id, hook["id"]) != "suspended":
                    await asyncio.sleep(0.1)
            skipped = await _settled(api, tenant.id, await _trigger(api, tenant.id, LONG_EVENT))
            assert skipped["state"] == "skipped", skipped
        yield LoggedTenant(tenant.id, hook["id"], failed["id"], skipped["id"])


def _pages(tenant: LoggedTenant) -> dict[str, str]:
    base = f"/t/{tenant.id}"
    return {
        "webhook": f"{base}/webhooks/{tenant.webhook_id}",
        "webhooks": f"{base}/webhooks",
        "events": f"{base}/events",
        "keys": f"{base}/keys",
        "tenants": "/tenants",
        "event-types": "/event-types",
        "event-type": f"/event-types/{LONG_EVENT}",
        "delivery-failed": f"{base}/deliveries/{tenant.failed_delivery_id}",
        "delivery-skipped": f"{base}/deliveries/{tenant.skipped_delivery_id}",
    }


async def open_the_log(
    page: Page, server: Server, tenant: LoggedTenant, viewport: ViewportSize
) -> None:
    """The webhook's page at this width, its whole log in, and a screenshot of it."""
    await page.set_viewport_size(viewport)
    await sign_in(page, server.admin_key)
    await page.goto(_pages(tenant)["webhook"])
    await expect(page.locator("#log tbody tr")).to_have_count(9)
    await expect(page.locator("#log")).to_contain_text("skipped: the webhook is suspended")
    await screenshot(page, f"dashboard-log-{viewport['width']}px")


async def test_the_event_log_fits_its_card_at_1280_px(
    page: Page, server: Server, logged: LoggedTenant
) -> None:
    await open_the_log(page, server, logged, DESKTOP_1280)
    card = await page.locator("section.card", has=page.locator("#log")).bounding_box()
    assert card is not None
    for header in await page.locator("#log thead th").all():
        cell = await header.bounding_box()
        assert cell is not None
        assert cell["x"] + cell["width"] <= card["x"] + card["width"], (
            f"the column {await header.inner_text()!r} is scrolled off the card"
        )
    problems = await layout_problems(page, strict=False)
    assert not problems, "\n".join(problems)


async def test_the_event_log_is_whole_at_390_px(
    page: Page, server: Server, logged: LoggedTenant
) -> None:
    await open_the_log(page, server, logged, PHONE)
    problems = await layout_problems(page, strict=True)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("viewport", [DESKTOP_1280, PHONE], ids=["1280px", "390px"])
async def test_every_list_page_fits_without_clipping_or_overlap(
    page: Page, server: Server, logged: LoggedTenant, viewport: ViewportSize
) -> None:
    await page.set_viewport_size(viewport)
    await sign_in(page, server.admin_key)
    problems: dict[str, list[str]] = {}
    for title, path in _pages(logged).items():
        await page.goto(path)
        if title == "events":  # a payload open too: its <pre> scrolls inside its cell
            await page.locator("details.payload summary").first.click()
        found = await layout_problems(page, strict=viewport == PHONE)
        if found:
            problems[title] = found
            await screenshot(page, f"dashboard-layout-{title}-{viewport['width']}px")
    assert not problems, "\n".join(
        f"{title}: {p}" for title, found in problems.items() for p in found
    )
