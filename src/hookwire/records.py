"""The things of hookwire as every layer sees them: plain frozen records, no database handles.

Storage builds them from rows; the service layer, the API, the dashboard and the
worker read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from hookwire.enums import (
    BodyFormat,
    DeliveryState,
    Ordering,
    SignatureScheme,
    Trigger,
    WebhookStatus,
)
from hookwire.ids import new_id

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    tenant_id: str | None
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DashboardSession:
    """A dashboard sign-in, found by the hash of its id (the cookie holds the id itself).

    ``kind`` is ``key`` for a sign-in with an API key; ``api_key_id`` is None
    for the operator's configured admin key (``admin_key_fingerprint`` binds
    the session to it instead) and for kinds that need no key.
    """

    id_hash: str
    kind: str
    api_key_id: str | None
    tenant_id: str | None
    is_admin: bool
    admin_key_fingerprint: str | None
    csrf_token: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    description: str
    schema: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    tenant_id: str
    name: str
    description: str
    url: str
    token: str
    previous_token: str | None
    previous_token_expires_at: datetime | None
    events: list[str]
    active: bool
    headers: dict[str, str]
    signature_scheme: SignatureScheme
    max_concurrency: int
    rate_limit: int | None
    ordering: Ordering
    format: BodyFormat
    status: WebhookStatus
    failing_since: datetime | None
    last_delivery_at: datetime | None
    last_status_code: int | None
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    tenant_id: str
    event_id: str
    webhook_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    next_trigger: Trigger
    retry_reason: str | None
    last_status_code: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    tenant_id: str
    id: str
    event_type: str
    payload: bytes
    idempotency_key: str | None
    triggered_at: datetime
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: str
    tenant_id: str
    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    attempt: int
    trigger: Trigger
    sent_at: datetime | None
    received_at: datetime | None
    duration_ms: int | None
    status_code: int | None
    success: bool
    retry_reason: str | None
    error: str | None
    request_headers: dict[str, str]
    response_headers: dict[str, str] | None
    response_body: str | None
    created_at: datetime
    # The body as sent when it is not the event's payload (a chat format).
    request_body: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a worker holds under lease, with everything needed to send it."""

    id: str
    tenant_id: str
    event_id: str
    webhook_id: str
    event_type: str
    attempts: int
    trigger: Trigger
    retry_reason: str | None
    payload: bytes
    webhook_version: int
    # When a rate-limited webhook allows it to start (None: at once).
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """What a claim leased, and which webhooks had due work but no room (busy elsewhere)."""

    deliveries: list[ClaimedDelivery]
    saturated: set[str]
    # FIFO webhooks whose head waits for its retry, and when it is due: what is
    # behind it waits too (see storage/claims.py).
    blocked: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Blocker:
    """The delivery holding back a FIFO webhook's queue: its head, failed and still pending."""

    delivery_id: str
    event_id: str
    event_type: str
    attempts: int
    last_status_code: int | None
    reason: str | None  # why the last attempt failed
    retry_at: datetime | None  # None while its next attempt is in flight


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """One finished attempt (or skip) of a claimed delivery and what follows from it.

    ``state`` is the delivery's new state: ``succeeded``, ``pending`` (a retry
    at ``next_attempt_at``, logged with ``next_retry_reason``), ``failed`` or
    ``skipped`` (not sent: the webhook is disabled or suspended).
    """

    delivery_id: str
    tenant_id: str
    webhook_id: str
    event_id: str
    event_type: str
    attempt: int
    trigger: Trigger
    retry_reason: str | None
    sent_at: datetime | None
    received_at: datetime | None
    finished_at: datetime
    duration_ms: int | None
    status_code: int | None
    success: bool
    error: str | None
    request_headers: dict[str, str]
    response_headers: dict[str, str] | None
    response_body: str | None
    state: DeliveryState
    next_attempt_at: datetime | None = None
    next_retry_reason: str | None = None
    webhook_gone: bool = False
    # The body as sent when it is not the event's payload (a chat format).
    request_body: str | None = None
    # The event log entry's id, chosen once: a batch written again after a commit
    # whose answer was lost is recognised by it and not logged twice.
    log_id: str = field(default_factory=lambda: new_id("log"))
