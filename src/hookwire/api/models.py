"""Response bodies; requests are the service's.

JSON is camelCase; Python attributes are snake_case. Request bodies are the
service's input models (:mod:`hookwire.service.inputs`), so the API and the
dashboard validate with the same rules.

The class names are the schema names of /openapi.json, and so the names of a
client generated from it: short nouns (``Webhook``, ``Delivery``), never
``…Public``. They meet the records' names (:mod:`hookwire.records`), which the
routes import under an alias (``WebhookRecord``). Each list has its own class
(``WebhookList``), because a parametrised generic would be named
``ListResponse_Webhook_``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import Field

from hookwire.enums import (
    BodyFormat,
    DeliveryState,
    Ordering,
    SignatureScheme,
    Trigger,
    WebhookStatus,
)
from hookwire.service.auth import API_KEY_TOUCH_INTERVAL_SECONDS
from hookwire.service.inputs import Model

T = TypeVar("T")
P = TypeVar("P", bound=Model)


def public(model: type[P], record: object, **values: Any) -> P:
    """``model`` from the record's attributes of the same names, and ``values`` for the rest."""
    same = {name: getattr(record, name) for name in model.model_fields if hasattr(record, name)}
    return model(**{**same, **values})


class ListResponse(Model, Generic[T]):
    """A page of a list; the lists below name it for what they hold."""

    data: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last.")


class EventType(Model):
    name: str
    description: str
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    created_at: datetime
    updated_at: datetime


class Tenant(Model):
    id: str
    name: str
    created_at: datetime
    updated_at: datetime


class ApiKey(Model):
    id: str
    tenant_id: str | None
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None = Field(
        None,
        description=(
            "When the key last authenticated a request (or a dashboard sign-in); null if "
            f"never. Accurate to {API_KEY_TOUCH_INTERVAL_SECONDS} seconds: it is written at most "
            f"once per {API_KEY_TOUCH_INTERVAL_SECONDS} seconds per key."
        ),
    )


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The key itself; shown only in this answer, never again.")


class Blocker(Model):
    """The delivery holding back a FIFO webhook: it failed and is still pending."""

    delivery_id: str
    event_id: str
    event: str
    attempts: int = Field(description="Attempts made so far; all of them failed.")
    last_status_code: int | None
    reason: str | None = Field(description="Why the last attempt failed.")
    retry_at: datetime | None = Field(
        description="When it is tried again; null while that attempt is in flight."
    )


class Webhook(Model):
    id: str
    tenant_id: str
    name: str
    description: str
    url: str
    token: str = Field(description="Full on create and single GET; masked in lists.")
    events: list[str]
    active: bool
    headers: dict[str, str] = Field(
        description="Full on create, update and single GET; values masked in lists."
    )
    signature_scheme: SignatureScheme
    max_concurrency: int
    rate_limit: int | None
    ordering: Ordering
    format: BodyFormat
    status: WebhookStatus
    last_delivery_at: datetime | None
    last_status_code: int | None
    blocked_by: Blocker | None = Field(
        None,
        description=(
            "`ordering` `fifo` only: the delivery that failed and holds back the ones after "
            "it until it succeeds or finally fails; null when nothing is held back."
        ),
    )
    created_at: datetime
    updated_at: datetime


class Delivery(Model):
    id: str
    event_id: str
    webhook_id: str
    event: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    created_at: datetime
    updated_at: datetime


class EventAccepted(Model):
    id: str
    event: str
    triggered_at: datetime
    deliveries: int = Field(description="How many webhooks the event goes to.")
    hint: str | None = Field(
        None, description="When it goes to none: why (no webhook subscribes, or all are off)."
    )


class Event(Model):
    id: str
    event: str
    data: dict[str, Any]
    triggered_at: datetime
    deliveries: list[Delivery]


class LogEntry(Model):
    """One HTTP request of a delivery, as the event log shows it."""

    id: str
    delivery_id: str
    webhook_id: str
    event_id: str
    event: str
    attempt: int
    trigger: Trigger
    sent_at: datetime | None
    received_at: datetime | None
    duration_ms: int | None
    status_code: int | None = Field(description="Null when no answer came (timeout, refused…).")
    success: bool
    retry_reason: str | None = Field(description="Why this request is a retry.")
    error: str | None
    request_headers: dict[str, str]
    response_headers: dict[str, str] | None
    response_body: str | None = Field(description="The first 4 KiB of the answer.")
    request_body: str | None = Field(
        None,
        description="The body sent, when it is not the event's payload (a webhook with "
        "`format` `slack` or `discord`); null: the event's payload was sent.",
    )
    created_at: datetime = Field(
        description=(
            "When the entry was recorded (the attempt's end): the log is sorted by it, and "
            "`since`/`until` filter on it."
        )
    )


class DeliveryDetail(Delivery):
    logs: list[LogEntry] = Field(description="Every request of this delivery, oldest first.")


class RecoverResult(Model):
    deliveries: int = Field(description="How many deliveries were queued again.")


class PortalLink(Model):
    url: str = Field(description="Send the customer's browser here; it signs in once.")
    expires_at: datetime = Field(description="Unused by then, the link no longer signs in.")


class EventTypeList(ListResponse[EventType]):
    """A page of the event catalogue."""


class TenantList(ListResponse[Tenant]):
    """A page of tenants."""


class ApiKeyList(ListResponse[ApiKey]):
    """A page of a tenant's API keys."""


class WebhookList(ListResponse[Webhook]):
    """A page of webhooks."""


class EventList(ListResponse[Event]):
    """A page of events."""


class LogEntryList(ListResponse[LogEntry]):
    """A page of a webhook's event log."""
