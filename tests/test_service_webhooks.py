"""The rules of a webhook's life, called on the service directly (no HTTP), on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hookwire.config import Settings
from hookwire.enums import SignatureScheme, WebhookStatus
from hookwire.errors import FieldError, Invalid
from hookwire.metrics import Metrics
from hookwire.service import Services
from hookwire.service.inputs import EventTypeCreate, TenantCreate, WebhookCreate, WebhookUpdate
from hookwire.signing import STANDARD_SECRET_PREFIX
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.storage.tables import webhooks

PUBLIC_URL = "https://receiver.example/hook"
PRIVATE_URL = "http://127.0.0.1:9/hook"
PRIVATE_NETWORKS_HINT = "HOOKWIRE_ALLOW_PRIVATE_NETWORKS"


@pytest.fixture
async def acme(services: Services) -> str:
    """Tenant "acme", with license.created in the catalogue."""
    await services.catalog.create(EventTypeCreate(name="license.created"))
    return (await services.tenants.create(TenantCreate(id="acme", name="Acme"))).id


def guarded(storage: Storage, settings: Settings) -> Services:
    """Services of an operator who has not allowed private networks."""
    return Services(
        storage, settings.model_copy(update={"allow_private_networks": False}), Metrics()
    )


def new_webhook(**fields: object) -> WebhookCreate:
    return WebhookCreate.model_validate({"name": "orders", "url": PUBLIC_URL, **fields})


async def suspend(storage: Storage, webhook_id: str) -> None:
    """Suspend the webhook as the worker does after failing for the suspension window."""
    async with storage.write() as conn:
        await conn.execute(
            webhooks.update()
            .where(webhooks.c.id == webhook_id)
            .values(status="suspended", failing_since=utcnow() - timedelta(days=6))
        )


async def test_a_missing_token_is_generated_in_the_form_of_the_signature_scheme(
    services: Services, acme: str
) -> None:
    plain = await services.webhooks.create(acme, new_webhook())
    assert len(plain.token) >= 40 and not plain.token.startswith(STANDARD_SECRET_PREFIX)
    standard = await services.webhooks.create(acme, new_webhook(signature_scheme="standard"))
    assert standard.token.startswith(STANDARD_SECRET_PREFIX)
    assert standard.token != plain.token
    chosen = await services.webhooks.create(acme, new_webhook(token="my-own-secret-123"))
    assert chosen.token == "my-own-secret-123"


async def test_rotation_keeps_the_old_token_signing_for_the_grace_period(
    services: Services, settings: Settings, acme: str
) -> None:
    hook = await services.webhooks.create(acme, new_webhook(signature_scheme="standard"))
    before = utcnow()
    rotated = await services.webhooks.rotate_token(acme, hook.id)
    after = utcnow()
    grace = timedelta(seconds=settings.token_grace_seconds)
    assert rotated.token != hook.token and rotated.token.startswith(STANDARD_SECRET_PREFIX)
    assert rotated.previous_token == hook.token
    assert rotated.previous_token_expires_at is not None
    assert before + grace <= rotated.previous_token_expires_at <= after + grace


async def test_a_private_url_is_refused_when_saved_unless_the_operator_allows_it(
    services: Services, storage: Storage, settings: Settings, acme: str
) -> None:
    strict = guarded(storage, settings)
    with pytest.raises(Invalid) as refused:
        await strict.webhooks.create(acme, new_webhook(url=PRIVATE_URL))
    [error] = refused.value.errors
    assert error.field == "url" and "loopback" in error.message
    assert PRIVATE_NETWORKS_HINT in error.message
    assert (await strict.webhooks.list(acme)).items == []

    hook = await strict.webhooks.create(acme, new_webhook())
    with pytest.raises(Invalid) as moved:
        await strict.webhooks.update(acme, hook.id, WebhookUpdate(url=PRIVATE_URL))
    assert [e.field for e in moved.value.errors] == ["url"]
    assert (await strict.webhooks.get(acme, hook.id)).url == PUBLIC_URL

    allowed = await services.webhooks.update(acme, hook.id, WebhookUpdate(url=PRIVATE_URL))
    assert allowed.url == PRIVATE_URL


async def test_event_names_must_be_in_the_catalogue(services: Services, acme: str) -> None:
    with pytest.raises(Invalid) as refused:
        await services.webhooks.create(
            acme, new_webhook(events=["license.created", "license.exploded"])
        )
    [error] = refused.value.errors
    assert error == FieldError("events", "unknown event types: 'license.exploded'")
    assert "POST /v1/event-types" in refused.value.detail

    hook = await services.webhooks.create(acme, new_webhook(events=["*"]))
    with pytest.raises(Invalid):
        await services.webhooks.update(acme, hook.id, WebhookUpdate(events=["nope.never"]))
    changed = await services.webhooks.update(
        acme, hook.id, WebhookUpdate(events=["license.created"])
    )
    assert changed.events == ["license.created"]


async def test_only_the_rate_limit_may_be_set_to_null(services: Services, acme: str) -> None:
    hook = await services.webhooks.create(acme, new_webhook(rate_limit=5))
    with pytest.raises(Invalid) as refused:
        await services.webhooks.update(
            acme, hook.id, WebhookUpdate(name=None, max_concurrency=None)
        )
    assert refused.value.errors == [
        FieldError("name", "cannot be null"),
        FieldError("max_concurrency", "cannot be null"),
    ]
    assert (await services.webhooks.get(acme, hook.id)).name == "orders"
    cleared = await services.webhooks.update(acme, hook.id, WebhookUpdate(rate_limit=None))
    assert cleared.rate_limit is None


async def test_reactivating_lifts_a_suspension_saving_the_edit_form_does_not(
    services: Services, storage: Storage, acme: str
) -> None:
    hook = await services.webhooks.create(acme, new_webhook())
    await suspend(storage, hook.id)

    # The dashboard's edit form always sends Enabled, here unchanged.
    edited = await services.webhooks.update(
        acme, hook.id, WebhookUpdate(name="renamed", active=True), lifts_suspension=False
    )
    assert edited.name == "renamed" and edited.status == WebhookStatus.SUSPENDED

    reactivated = await services.webhooks.reactivate(acme, hook.id)
    assert reactivated.status == WebhookStatus.HEALTHY and reactivated.failing_since is None

    await suspend(storage, hook.id)
    patched = await services.webhooks.update(acme, hook.id, WebhookUpdate(active=True))
    assert patched.status == WebhookStatus.HEALTHY and patched.active


async def test_a_form_gets_every_refusal_at_once(
    storage: Storage, settings: Settings, acme: str
) -> None:
    strict = guarded(storage, settings)
    refusals = await strict.webhooks.refusals(url=PRIVATE_URL, events=["nope.never"])
    assert [e.field for e in refusals] == ["url", "events"]
    assert await strict.webhooks.refusals(url=PUBLIC_URL, events=["license.created"]) == []


async def test_a_new_token_has_the_form_of_its_scheme(services: Services) -> None:
    assert services.webhooks.new_token(SignatureScheme.STANDARD).startswith(STANDARD_SECRET_PREFIX)
    assert services.webhooks.new_token() != services.webhooks.new_token()
