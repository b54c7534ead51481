"""Deliveries and the event log through the service (no HTTP), on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hookwire.enums import DeliveryState, Trigger
from hookwire.errors import FieldError, Invalid, NotFound
from hookwire.records import Delivery
from hookwire.service import Services
from hookwire.service.deliveries import LogFilter
from hookwire.service.inputs import EventCreate, EventTypeCreate, TenantCreate, WebhookCreate
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.storage.tables import deliveries

EVENT = EventCreate(event="license.created", data={"key": "K-1"})


@pytest.fixture
async def failed(services: Services, storage: Storage) -> Delivery:
    """A failed delivery of tenant "acme" (its retries exhausted)."""
    await services.catalog.create(EventTypeCreate(name="license.created"))
    await services.tenants.create(TenantCreate(id="acme", name="Acme"))
    await services.tenants.create(TenantCreate(id="other", name="Other"))
    hook = WebhookCreate(name="orders", url="https://receiver.example/hook")
    await services.webhooks.create("acme", hook)
    [delivery] = (await services.events.trigger("acme", EVENT)).event.deliveries
    async with storage.write() as conn:
        await conn.execute(
            deliveries.update()
            .where(deliveries.c.id == delivery.id)
            .values(state="failed", next_attempt_at=None)
        )
    return delivery


async def test_recover_needs_a_time_zone(services: Services, failed: Delivery) -> None:
    since = utcnow() - timedelta(hours=1)
    naive = since.replace(tzinfo=None)
    with pytest.raises(Invalid) as refused:
        await services.deliveries.recover("acme", failed.webhook_id, naive)
    assert refused.value.errors == [
        FieldError("since", "give a time zone, e.g. 2024-05-01T00:00:00Z")
    ]
    assert (await services.deliveries.get("acme", failed.id)).delivery.state == "failed"

    assert await services.deliveries.recover("acme", failed.webhook_id, since) == 1
    recovered = (await services.deliveries.get("acme", failed.id)).delivery
    assert recovered.state == DeliveryState.PENDING and recovered.next_trigger == Trigger.MANUAL
    assert await services.deliveries.pending("acme", failed.webhook_id) == [recovered]


async def test_resend_queues_one_delivery_of_ones_own_tenant_only(
    services: Services, failed: Delivery
) -> None:
    with pytest.raises(NotFound):
        await services.deliveries.resend("other", failed.id)
    with pytest.raises(NotFound):
        await services.deliveries.recover("other", failed.webhook_id, utcnow())
    resent = await services.deliveries.resend("acme", failed.id)
    assert resent.state == DeliveryState.PENDING and resent.retry_reason == "manual resend"


async def test_a_delivery_comes_with_its_log_and_the_log_filters(
    services: Services, failed: Delivery
) -> None:
    found = await services.deliveries.get("acme", failed.id)
    assert found.delivery.id == failed.id and found.logs == []
    log = await services.deliveries.webhook_log(
        "acme", failed.webhook_id, LogFilter(success=True, since=utcnow())
    )
    assert log.items == [] and log.next_cursor is None
    with pytest.raises(NotFound):
        await services.deliveries.webhook_log("other", failed.webhook_id)
