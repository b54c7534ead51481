"""Operational events: hookwire.* events about failing webhooks, to the webhooks that ask."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from hookwire.app import create_app
from hookwire.bootstrap import ensure_operational_event_types
from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.enums import WebhookStatus
from hookwire.fanout import subscribes
from hookwire.operational import (
    DATA_SCHEMA,
    DELIVERY_EXHAUSTED,
    TYPES,
    WEBHOOK_RECOVERED,
    WEBHOOK_SUSPENDED,
    WEBHOOK_UNHEALTHY,
    status_notice,
)
from hookwire.records import AttemptResult
from hookwire.storage import Storage
from hookwire.validation import check_against_schema, check_json_schema
from tests.receivers import Receiver, make_webhook, ok, quick, send_event

OPERATIONAL = sorted(TYPES)
TOKEN = "secret-token-for-the-ops-test-0123456789"
HEADER_SECRET = "header-secret-value-42"


@pytest.fixture(autouse=True)
async def catalogue(storage: Storage) -> None:
    """The catalogue as `serve` leaves it on start (tests truncate it between tests)."""
    await ensure_operational_event_types(storage)


async def deliver(storage: Storage, settings: Settings) -> None:
    """Deliver everything, retries included, on a schedule of 0.05 s (three attempts)."""
    async with Worker(storage, quick(settings)) as worker:
        await worker.run_until_idle()


def received(receiver: Receiver) -> list[dict[str, Any]]:
    """The bodies a receiver got, in the order their events were triggered."""
    bodies = [json.loads(r.body) for r in receiver.requests]
    return sorted(bodies, key=lambda body: str(body["triggeredAt"]))


def kinds(receiver: Receiver) -> list[str]:
    return [str(body["event"]) for body in received(receiver)]


def operational(receiver: Receiver) -> list[dict[str, Any]]:
    return [b for b in received(receiver) if str(b["event"]).startswith("hookwire.")]


async def test_a_failing_webhook_is_reported_once_then_exhausted_then_recovered(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver(ok(500)) as a, Receiver() as b, Receiver() as star:
        failing = await make_webhook(
            storage,
            a.url,
            name="Orders",
            token=TOKEN,
            headers={"X-Api-Key": HEADER_SECRET},
            # Subscribed to the operational types too: it still hears nothing about itself.
            events=["license.created", *OPERATIONAL],
        )
        await make_webhook(storage, b.url, name="Ops", events=OPERATIONAL)
        await make_webhook(storage, star.url, name="Everything", events=["*"])
        event = await send_event(storage)
        await deliver(storage, settings)

        assert kinds(b) == [WEBHOOK_UNHEALTHY, DELIVERY_EXHAUSTED]
        unhealthy, exhausted = received(b)
        assert unhealthy["data"] == {
            "webhook": {
                "id": failing.id,
                "name": "Orders",
                "url": a.url,
                "status": "unhealthy",
            },
            "delivery": {
                "id": next(d.id for d in event.deliveries if d.webhook_id == failing.id),
                "eventId": event.id,
                "event": "license.created",
                "attempts": 1,
                "state": "pending",
            },
            "lastFailure": {
                "statusCode": 500,
                "reason": "HTTP 500",
                "at": unhealthy["data"]["lastFailure"]["at"],
            },
        }
        assert exhausted["data"]["delivery"]["attempts"] == 3
        assert exhausted["data"]["delivery"]["state"] == "failed"
        assert exhausted["data"]["lastFailure"]["statusCode"] == 500
        for body in (unhealthy, exhausted):
            check_against_schema(body["data"], DATA_SCHEMA)
        for request in b.requests:
            assert TOKEN.encode() not in request.body
            assert HEADER_SECRET.encode() not in request.body
        # The failing webhook got its own event only; a "*" subscriber no hookwire.* event.
        assert kinds(a) == ["license.created"] * 3
        assert kinds(star) == ["license.created"]

        a.default = ok(200)
        await send_event(storage)
        await deliver(storage, settings)
        assert kinds(b) == [WEBHOOK_UNHEALTHY, DELIVERY_EXHAUSTED, WEBHOOK_RECOVERED]
        recovered = received(b)[-1]["data"]
        assert recovered["webhook"]["status"] == "healthy"
        assert recovered["delivery"]["state"] == "succeeded"
        assert recovered["lastFailure"] is None
        assert operational(a) == [] and operational(star) == []


async def test_a_410_reports_the_suspension(storage: Storage, settings: Settings) -> None:
    async with Receiver(ok(410)) as a, Receiver() as b:
        gone = await make_webhook(storage, a.url, events=["license.created"])
        await make_webhook(storage, b.url, name="Ops", events=[WEBHOOK_SUSPENDED])
        await send_event(storage)
        await deliver(storage, settings)
        assert len(a.requests) == 1
        [suspended] = received(b)
        assert suspended["event"] == WEBHOOK_SUSPENDED
        assert suspended["data"]["webhook"]["id"] == gone.id
        assert suspended["data"]["webhook"]["status"] == "suspended"
        assert suspended["data"]["lastFailure"]["statusCode"] == 410


async def test_failures_to_deliver_operational_events_emit_nothing_more(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver(ok(500)) as a, Receiver(ok(500)) as b, Receiver() as c:
        failing = await make_webhook(storage, a.url, events=["license.created"])
        # b fails at every operational event it is sent: that must not be reported
        # to c (nor, in turn, c's to b): no cascade.
        failing_ops = await make_webhook(storage, b.url, events=OPERATIONAL)
        await make_webhook(storage, c.url, events=OPERATIONAL)
        await send_event(storage)
        await deliver(storage, settings)

        assert kinds(c) == [WEBHOOK_UNHEALTHY, DELIVERY_EXHAUSTED]
        assert {body["data"]["webhook"]["id"] for body in received(c)} == {failing.id}
        # b did fail (three attempts at each of its two events) and is unhealthy.
        assert len(b.requests) == 6
        assert (await storage.get_webhook("acme", failing_ops.id)).status == "unhealthy"


async def test_a_batch_recorded_twice_emits_its_events_once(
    storage: Storage, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recorder that writes a batch again (its commit's answer was lost) adds no event."""
    record = storage.record_attempts

    async def twice(worker_id: str, results: Sequence[AttemptResult], **options: Any) -> None:
        await record(worker_id, results, **options)
        await record(worker_id, results, **options)

    monkeypatch.setattr(storage, "record_attempts", twice)
    async with Receiver(ok(500)) as a, Receiver() as b:
        await make_webhook(storage, a.url, events=["license.created"])
        await make_webhook(storage, b.url, events=OPERATIONAL)
        await send_event(storage)
        await deliver(storage, settings)
        assert kinds(b) == [WEBHOOK_UNHEALTHY, DELIVERY_EXHAUSTED]


async def test_the_catalogue_keeps_the_operational_types(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/v1/event-types")).json()["data"]
    by_name = {t["name"]: t for t in listed}
    for name in OPERATIONAL:
        assert by_name[name]["description"].startswith("hookwire:")
        assert by_name[name]["schema"] == DATA_SCHEMA
    check_json_schema(DATA_SCHEMA)

    created = await api.post("/v1/event-types", json={"name": "hookwire.mine"})
    assert created.status_code == 422
    assert created.headers["content-type"] == "application/problem+json"
    assert created.json()["errors"][0]["field"] == "name"
    assert "reserved for hookwire" in created.json()["errors"][0]["message"]

    changed = await api.patch(f"/v1/event-types/{WEBHOOK_UNHEALTHY}", json={"description": "x"})
    assert changed.status_code == 409
    assert "cannot be changed" in changed.json()["detail"]
    deleted = await api.delete(f"/v1/event-types/{DELIVERY_EXHAUSTED}")
    assert deleted.status_code == 409
    assert "cannot be deleted" in deleted.json()["detail"]
    kept = (await api.get(f"/v1/event-types/{WEBHOOK_UNHEALTHY}")).json()
    assert kept["description"] == TYPES[WEBHOOK_UNHEALTHY]


async def test_webhooks_subscribe_by_name_and_tenants_cannot_trigger_them(
    api: httpx.AsyncClient,
) -> None:
    assert (await api.post("/v1/tenants", json={"id": "acme", "name": "Acme"})).status_code == 201
    hook = await api.post(
        "/v1/tenants/acme/webhooks",
        json={"name": "Ops", "url": "https://ops.example.com/hook", "events": OPERATIONAL},
    )
    assert hook.status_code == 201, hook.text
    assert hook.json()["events"] == OPERATIONAL

    sent = await api.post(
        "/v1/tenants/acme/events", json={"event": WEBHOOK_SUSPENDED, "data": {"x": 1}}
    )
    assert sent.status_code == 422
    assert sent.json()["errors"][0]["field"] == "event"
    assert "sent by hookwire itself" in sent.json()["errors"][0]["message"]
    assert (await api.get("/v1/tenants/acme/events")).json()["data"] == []


async def test_serving_puts_the_types_in_a_catalogue_that_lacks_them(
    settings: Settings, storage: Storage
) -> None:
    for name in OPERATIONAL:
        await storage.delete_event_type(name)
    app = create_app(settings.model_copy(update={"run_worker": False}))
    async with app.router.lifespan_context(app):
        pass
    assert await storage.existing_event_types(OPERATIONAL) == set(OPERATIONAL)


@pytest.mark.parametrize(
    ("before", "after", "emitted"),
    [
        ("healthy", "unhealthy", WEBHOOK_UNHEALTHY),
        ("unhealthy", "unhealthy", None),
        ("unhealthy", "suspended", WEBHOOK_SUSPENDED),
        ("healthy", "suspended", WEBHOOK_SUSPENDED),
        ("unhealthy", "healthy", WEBHOOK_RECOVERED),
        ("suspended", "healthy", None),  # lifted by a person enabling it again
        ("healthy", "healthy", None),
    ],
)
def test_status_changes_and_what_they_emit(before: str, after: str, emitted: str | None) -> None:
    assert status_notice(WebhookStatus(before), WebhookStatus(after)) == emitted


def test_a_star_subscription_does_not_include_operational_types() -> None:
    assert subscribes(["*"], "license.created")
    assert not subscribes(["*"], WEBHOOK_UNHEALTHY)
    assert subscribes([WEBHOOK_UNHEALTHY], WEBHOOK_UNHEALTHY)
    assert not subscribes([WEBHOOK_UNHEALTHY], DELIVERY_EXHAUSTED)
