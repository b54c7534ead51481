"""The event log and the manual actions through the API: logs, deliveries, resend, test, recover."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx

from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from tests.conftest import TenantClients
from tests.receivers import Receiver, make_webhook, ok, quick, send_event

LOG_FIELDS = {
    "id",
    "deliveryId",
    "webhookId",
    "eventId",
    "event",
    "attempt",
    "trigger",
    "sentAt",
    "receivedAt",
    "durationMs",
    "statusCode",
    "success",
    "retryReason",
    "error",
    "requestHeaders",
    "responseHeaders",
    "responseBody",
    "requestBody",
    "createdAt",
}


async def deliver(storage: Storage, settings: Settings) -> None:
    async with Worker(storage, quick(settings)) as worker:
        await worker.run_until_idle()


async def test_the_log_is_newest_first_filterable_and_paginated(
    api: httpx.AsyncClient, storage: Storage, settings: Settings
) -> None:
    start = utcnow()
    async with Receiver() as receiver:
        receiver.answer(ok(500))
        webhook = await make_webhook(storage, receiver.url)
        await send_event(storage, event_type="license.created")
        await deliver(storage, settings)
        await send_event(storage, event_type="license.expired")
        await deliver(storage, settings)
    logs_url = f"/v1/tenants/acme/webhooks/{webhook.id}/logs"

    r = await api.get(logs_url)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["nextCursor"] is None
    entries = body["data"]
    assert set(entries[0]) == LOG_FIELDS
    recorded = [datetime.fromisoformat(e["createdAt"]) for e in entries]
    assert recorded == sorted(recorded, reverse=True), "sorted by the time it shows"
    assert [(e["event"], e["statusCode"], e["attempt"]) for e in entries] == [
        ("license.expired", 200, 1),
        ("license.created", 200, 2),
        ("license.created", 500, 1),
    ]
    assert entries[1]["retryReason"] == "HTTP 500"

    async def statuses(**params: str) -> list[int]:
        r = await api.get(logs_url, params=params)
        assert r.status_code == 200, r.text
        return [e["statusCode"] for e in r.json()["data"]]

    assert await statuses(success="false") == [500]
    assert await statuses(statusCode="200") == [200, 200]
    assert await statuses(event="license.expired") == [200]
    assert await statuses(since=utcnow().isoformat()) == []
    assert await statuses(until=start.isoformat()) == []
    assert len(await statuses(since=start.isoformat())) == 3

    seen, cursor = [], None
    while True:
        params = {"limit": "1"} | ({"cursor": cursor} if cursor else {})
        page = (await api.get(logs_url, params=params)).json()
        seen += [e["id"] for e in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in entries]
    r = await api.get(logs_url, params={"cursor": "not-a-cursor"})
    assert r.status_code == 422


async def test_a_delivery_shows_its_requests_and_can_be_resent(
    api: httpx.AsyncClient, storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        await deliver(storage, settings)
        url = f"/v1/tenants/acme/deliveries/{event.deliveries[0].id}"

        r = await api.get(url)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "succeeded"
        assert [e["attempt"] for e in r.json()["logs"]] == [1]

        r = await api.post(url + "/resend")
        assert r.status_code == 202, r.text
        assert r.json()["state"] == "pending"
        await deliver(storage, settings)

    assert receiver.ids() == [event.deliveries[0].id] * 2
    detail = (await api.get(url)).json()
    assert detail["state"] == "succeeded"
    resent = detail["logs"][1]
    assert (resent["attempt"], resent["trigger"], resent["retryReason"]) == (
        2,
        "manual",
        "manual resend",
    )


async def test_a_test_event_goes_to_one_webhook_whatever_it_subscribes_to(
    api: httpx.AsyncClient, storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver, Receiver() as other:
        webhook = await make_webhook(storage, receiver.url, events=["license.expired"])
        await make_webhook(storage, other.url)
        r = await api.post(f"/v1/tenants/acme/webhooks/{webhook.id}/test")
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert set(accepted) == {"id", "event", "triggeredAt", "deliveries", "hint"}
        assert (accepted["event"], accepted["deliveries"], accepted["hint"]) == (
            "webhook.test",
            1,
            None,
        )
        event = (await api.get(f"/v1/tenants/acme/events/{accepted['id']}")).json()
        assert [d["webhookId"] for d in event["deliveries"]] == [webhook.id]
        await deliver(storage, settings)
    [request] = receiver.requests
    assert json.loads(request.body)["event"] == "webhook.test"
    assert other.requests == []
    [entry] = (await api.get(f"/v1/tenants/acme/webhooks/{webhook.id}/logs")).json()["data"]
    assert (entry["trigger"], entry["event"], entry["success"]) == ("test", "webhook.test", True)


async def test_recover_resends_failed_and_skipped_deliveries_since_a_time(
    api: httpx.AsyncClient, storage: Storage, settings: Settings
) -> None:
    start = utcnow()
    async with Receiver(default=ok(500)) as receiver:
        webhook = await make_webhook(storage, receiver.url)
        failed = await send_event(storage)
        await deliver(storage, settings)
        await storage.update_webhook("acme", webhook.id, {"active": False})
        skipped = await send_event(storage)  # inactive: no delivery at all
        assert skipped.deliveries == []
        await storage.update_webhook("acme", webhook.id, {"active": True})
        receiver.default = ok(200)
        recover_url = f"/v1/tenants/acme/webhooks/{webhook.id}/recover"

        r = await api.post(recover_url, json={"since": (utcnow() + timedelta(hours=1)).isoformat()})
        assert r.status_code == 202 and r.json() == {"deliveries": 0}
        r = await api.post(recover_url, json={"since": start.isoformat()})
        assert r.status_code == 202, r.text
        assert r.json() == {"deliveries": 1}
        await deliver(storage, settings)

    delivery = (await api.get(f"/v1/tenants/acme/deliveries/{failed.deliveries[0].id}")).json()
    assert delivery["state"] == "succeeded"
    last = delivery["logs"][-1]
    assert (last["trigger"], last["retryReason"], last["success"]) == (
        "manual",
        "manual resend",
        True,
    )
    r = await api.post(recover_url, json={"since": "2024-01-01T00:00:00"})
    assert r.status_code == 422


async def test_another_tenants_log_and_deliveries_answer_404(
    api: httpx.AsyncClient, storage: Storage, settings: Settings, tenants: TenantClients
) -> None:
    async with Receiver() as receiver:
        webhook = await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        await deliver(storage, settings)
    other_tenant, other = await tenants.create("Other")
    delivery_id = event.deliveries[0].id
    for tenant in ("acme", other_tenant):
        for method, path, body in (
            ("GET", f"/webhooks/{webhook.id}/logs", None),
            ("GET", f"/deliveries/{delivery_id}", None),
            ("POST", f"/deliveries/{delivery_id}/resend", None),
            ("POST", f"/webhooks/{webhook.id}/test", None),
            ("POST", f"/webhooks/{webhook.id}/recover", {"since": utcnow().isoformat()}),
        ):
            r = await other.request(method, f"/v1/tenants/{tenant}{path}", json=body)
            assert r.status_code == 404, (method, path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
    r = await api.get("/v1/tenants/acme/deliveries/dlv_missing")
    assert r.status_code == 404
    assert len(receiver.requests) == 1
