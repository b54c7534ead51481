"""Events: triggering one (or a test event for one webhook), and reading them back."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hookwire import fanout
from hookwire.enums import DeliveryState, WebhookStatus
from hookwire.errors import Conflict, Invalid, NotFound
from hookwire.metrics import Metrics
from hookwire.operational import is_operational
from hookwire.payload import build_payload
from hookwire.records import Event, Page
from hookwire.service.catalog import Catalog
from hookwire.service.inputs import MAX_PAGE_LIMIT, EventCreate
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.validation import check_against_schema

TEST_EVENT_TYPE = "webhook.test"
TEST_EVENT_MESSAGE = "This is a test event sent by hookwire."


@dataclass(frozen=True, slots=True)
class Accepted:
    """An event as its trigger answered it.

    ``created`` is False when the event id or Idempotency-Key repeated an
    earlier event, which is returned instead and delivers nothing new.
    """

    event: Event
    created: bool
    hint: str | None = None

    @property
    def deliveries(self) -> int:
        """How many webhooks the event goes to (a suspended one's skipped delivery does not)."""
        return sum(1 for d in self.event.deliveries if d.state != DeliveryState.SKIPPED)


class Events:
    """Accepting events (counted in the metrics) and reading them back."""

    def __init__(self, storage: Storage, catalog: Catalog, metrics: Metrics) -> None:
        self._storage = storage
        self._catalog = catalog
        self._metrics = metrics

    async def trigger(
        self, tenant_id: str, new: EventCreate, idempotency_key: str | None = None
    ) -> Accepted:
        """Accept an event of a catalogue type whose data fits the type's schema.

        It is stored with one delivery per matching webhook before this returns.
        """
        if is_operational(new.event):
            raise Invalid.one(
                "event",
                f"{new.event} is sent by hookwire itself, about failing webhooks; "
                "trigger your own event types",
            )
        try:
            known = await self._catalog.known(new.event)
        except NotFound:
            raise Invalid.one(
                "event",
                f"unknown event type {new.event!r}; add it with POST /v1/event-types first",
            ) from None
        if known.schema is not None:
            check_against_schema(new.data, known.schema)
        accepted = await self._accept(
            tenant_id, new.event, new.data, event_id=new.id, idempotency_key=idempotency_key
        )
        if accepted.deliveries == 0:
            accepted = replace(accepted, hint=await self._why_no_delivery(tenant_id, new.event))
        return accepted

    async def _why_no_delivery(self, tenant_id: str, event_type: str) -> str:
        """Why an accepted event goes to no webhook, in words the caller can act on.

        Read only when it is so (a second look at the tenant's webhooks, after
        the event is stored); the common path never pays for it.
        """
        hooks = (await self._storage.list_webhooks(tenant_id, MAX_PAGE_LIMIT, None)).items
        subscribed = [h for h in hooks if fanout.subscribes(h.events, event_type)]
        if not hooks:
            return "the tenant has no webhooks yet: add one to receive events"
        if not subscribed:
            return f"no webhook of this tenant subscribes to {event_type}"
        if all(h.status == WebhookStatus.SUSPENDED for h in subscribed):
            return (
                f"the webhooks subscribing to {event_type} are suspended: the event is kept "
                "for them as a skipped delivery, to recover once their receiver works"
            )
        return f"the webhooks subscribing to {event_type} are disabled"

    async def send_test(self, tenant_id: str, webhook_id: str) -> Event:
        """A ``webhook.test`` event for this webhook alone, whatever its subscriptions."""
        webhook = await self._storage.get_webhook(tenant_id, webhook_id)
        data = {"webhookId": webhook.id, "message": TEST_EVENT_MESSAGE}
        accepted = await self._accept(tenant_id, TEST_EVENT_TYPE, data, only_webhook_id=webhook.id)
        if not accepted.event.deliveries:
            raise Conflict("the test event could not be queued for this webhook")
        return accepted.event

    async def list(
        self,
        tenant_id: str,
        limit: int | None = None,
        cursor: str | None = None,
        event_type: str | None = None,
    ) -> Page[Event]:
        """A page of the tenant's events, newest first, each with its deliveries."""
        return await self._storage.list_events(tenant_id, limit, cursor, event_type)

    async def get(self, tenant_id: str, event_id: str) -> Event:
        """One event with its deliveries."""
        return await self._storage.get_event(tenant_id, event_id)

    async def _accept(
        self,
        tenant_id: str,
        event_type: str,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        idempotency_key: str | None = None,
        only_webhook_id: str | None = None,
    ) -> Accepted:
        now = utcnow()
        event, created = await self._storage.accept_event(
            tenant_id,
            event_id,
            event_type,
            build_payload(event_type, data, now),
            now,
            idempotency_key=idempotency_key,
            only_webhook_id=only_webhook_id,
        )
        accepted = Accepted(event, created)
        if created:
            self._metrics.events_accepted.inc()
            self._metrics.deliveries_created.inc(accepted.deliveries)
        return accepted
