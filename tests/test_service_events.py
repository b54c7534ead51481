"""Triggering events through the service (no HTTP), on both databases; counted at every door."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from hookwire.config import Settings
from hookwire.enums import DeliveryState
from hookwire.errors import Invalid
from hookwire.metrics import Metrics
from hookwire.service import Services
from hookwire.service.events import TEST_EVENT_TYPE
from hookwire.service.inputs import EventCreate, EventTypeCreate, TenantCreate, WebhookCreate
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.storage.tables import webhooks
from tests.conftest import ADMIN_KEY

SCHEMA = {"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def acme(services: Services) -> str:
    """Tenant "acme" with a webhook for license.created, whose data needs a string ``key``."""
    await services.catalog.create(EventTypeCreate(name="license.created", schema_=SCHEMA))
    await services.catalog.create(EventTypeCreate(name="license.expired"))
    await services.tenants.create(TenantCreate(id="acme", name="Acme"))
    hook = WebhookCreate(name="orders", url="https://a.example/h", events=["license.created"])
    await services.webhooks.create("acme", hook)
    return "acme"


def counted(metrics: Metrics) -> tuple[float | None, float | None]:
    """(events accepted, deliveries created) as /metrics reports them."""
    sample = metrics.registry.get_sample_value
    return sample("hookwire_events_accepted_total"), sample("hookwire_deliveries_created_total")


async def test_only_known_types_with_data_that_fits_their_schema_are_accepted(
    services: Services, acme: str
) -> None:
    with pytest.raises(Invalid) as unknown:
        await services.events.trigger(acme, EventCreate(event="license.exploded", data={}))
    assert [e.field for e in unknown.value.errors] == ["event"]
    with pytest.raises(Invalid) as misfit:
        await services.events.trigger(acme, EventCreate(event="license.created", data={"key": 1}))
    assert [e.field for e in misfit.value.errors] == ["data.key"]
    assert (await services.events.list(acme)).items == []


async def test_a_repeated_id_or_idempotency_key_returns_the_first_event_counted_once(
    storage: Storage, settings: Settings, acme: str
) -> None:
    metrics = Metrics()
    events = Services(storage, settings, metrics).events
    new = EventCreate(event="license.created", data={"key": "K-1"}, id="order-1")
    first = await events.trigger(acme, new, idempotency_key="attempt-1")
    assert first.created and first.deliveries == 1
    again = await events.trigger(acme, new)
    keyed = await events.trigger(
        acme, EventCreate(event="license.created", data={"key": "K-2"}), "attempt-1"
    )
    for repeat in (again, keyed):
        assert not repeat.created and repeat.event.id == first.event.id
    assert counted(metrics) == (1.0, 1.0)
    assert len((await events.list(acme)).items) == 1


async def test_a_suspended_webhooks_skipped_delivery_is_not_counted(
    services: Services, storage: Storage, acme: str
) -> None:
    second = await services.webhooks.create(
        acme, WebhookCreate(name="crm", url="https://b.example/h")
    )
    async with storage.write() as conn:
        await conn.execute(
            webhooks.update()
            .where(webhooks.c.id == second.id)
            .values(status="suspended", failing_since=utcnow() - timedelta(days=6))
        )
    accepted = await services.events.trigger(
        acme, EventCreate(event="license.created", data={"key": "K-1"})
    )
    states = sorted(d.state for d in accepted.event.deliveries)
    assert states == [DeliveryState.PENDING, DeliveryState.SKIPPED]
    assert accepted.deliveries == 1


async def test_a_test_event_goes_to_its_webhook_alone_whatever_it_subscribes_to(
    services: Services, acme: str
) -> None:
    only_expired = await services.webhooks.create(
        acme, WebhookCreate(name="expiry", url="https://c.example/h", events=["license.expired"])
    )
    event = await services.events.send_test(acme, only_expired.id)
    assert event.event_type == TEST_EVENT_TYPE
    assert [d.webhook_id for d in event.deliveries] == [only_expired.id]


async def test_events_triggered_in_the_dashboard_are_counted_as_in_the_api(
    api: httpx.AsyncClient,
) -> None:
    assert (await api.post("/v1/event-types", json={"name": "license.created"})).is_success
    assert (await api.post("/v1/tenants", json={"id": "acme", "name": "Acme"})).is_success
    hook = {"name": "orders", "url": "https://a.example/h"}
    assert (await api.post("/v1/tenants/acme/webhooks", json=hook)).is_success
    event = {"event": "license.created", "data": {"key": "K-1"}}
    assert (await api.post("/v1/tenants/acme/events", json=event)).status_code == 202

    async with httpx.AsyncClient(transport=api._transport, base_url=api.base_url) as browser:
        signin = CSRF_INPUT.search((await browser.get("/signin")).text)
        assert signin is not None
        form = {"api_key": ADMIN_KEY, "csrf_token": signin.group(1)}
        assert (await browser.post("/signin", data=form)).status_code == 303
        page = CSRF_INPUT.search((await browser.get("/t/acme/events")).text)
        assert page is not None
        form = {"event": "license.created", "data": '{"key": "K-2"}', "csrf_token": page.group(1)}
        assert (await browser.post("/t/acme/events", data=form)).status_code == 303

    metrics = (await api.get("/metrics")).text
    assert "hookwire_events_accepted_total 2.0" in metrics
    assert "hookwire_deliveries_created_total 2.0" in metrics
