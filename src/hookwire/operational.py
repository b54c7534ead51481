"""Operational events: what hookwire tells a tenant about its own webhooks. A pure rule.

When recording attempts moves a webhook to ``unhealthy`` or ``suspended``, or
back to ``healthy``, or a scheduled delivery ends ``failed``, hookwire emits an
event of a reserved ``hookwire.*`` type to the same tenant, in the transaction
that records the change (so it is emitted once per transition, never lost).

Who receives them (:func:`hookwire.fanout.subscribes`): only webhooks that list
the type by name; ``["*"]`` does not include them, so that receivers written
for the tenant's own events never get a type they do not know. Two rules keep
them from looping:

- an event about webhook W is never delivered to W (W is the one failing);
- attempts to deliver ``hookwire.*`` events never cause another one: their
  failures change the receiving webhook's health, but emit nothing.

``data`` never carries a token or a custom header value: the webhook by id,
name and URL, the delivery, and the last failure as the event log shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hookwire.enums import DeliveryState, Trigger, WebhookStatus
from hookwire.payload import format_timestamp
from hookwire.records import AttemptResult

PREFIX = "hookwire."
WEBHOOK_UNHEALTHY = "hookwire.webhook.unhealthy"
WEBHOOK_SUSPENDED = "hookwire.webhook.suspended"
WEBHOOK_RECOVERED = "hookwire.webhook.recovered"
DELIVERY_EXHAUSTED = "hookwire.delivery.exhausted"

RESERVED_MESSAGE = (
    "names starting with 'hookwire.' are reserved for hookwire's own operational events; "
    "choose another name"
)

_NULLABLE_STRING = {"type": ["string", "null"]}
DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["webhook", "delivery", "lastFailure"],
    "properties": {
        "webhook": {
            "type": "object",
            "required": ["id", "name", "url", "status"],
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "url": {"type": "string"},
                "status": {"enum": [s.value for s in WebhookStatus]},
            },
        },
        "delivery": {
            "type": "object",
            "required": ["id", "eventId", "event", "attempts", "state"],
            "properties": {
                "id": {"type": "string"},
                "eventId": {"type": "string"},
                "event": {"type": "string"},
                "attempts": {"type": "integer"},
                "state": {"enum": [s.value for s in DeliveryState]},
            },
        },
        "lastFailure": {
            "type": ["object", "null"],
            "required": ["statusCode", "reason", "at"],
            "properties": {
                "statusCode": {"type": ["integer", "null"]},
                "reason": _NULLABLE_STRING,
                "at": {"type": "string", "format": "date-time"},
            },
        },
    },
}

# Each type with its description, as the catalogue shows it.
TYPES: dict[str, str] = {
    WEBHOOK_UNHEALTHY: (
        "hookwire: a webhook's delivery failed after it was healthy; hookwire keeps retrying. "
        "data: webhook, delivery, lastFailure."
    ),
    WEBHOOK_SUSPENDED: (
        "hookwire: a webhook was suspended (failing for the suspension window, or answered "
        "410 Gone); it receives nothing until it is enabled again. data: webhook, delivery, "
        "lastFailure."
    ),
    WEBHOOK_RECOVERED: (
        "hookwire: a webhook that was failing answered a delivery successfully. data: webhook, "
        "delivery, lastFailure (the failure before it in the same batch, or null)."
    ),
    DELIVERY_EXHAUSTED: (
        "hookwire: a delivery failed for good (its retries are exhausted, or the failure is "
        "not retried); it can be resent by hand. data: webhook, delivery, lastFailure."
    ),
}


def is_operational(event_type: str) -> bool:
    """Whether ``event_type`` is one of hookwire's own (reserved ``hookwire.`` prefix)."""
    return event_type.startswith(PREFIX)


def status_notice(before: WebhookStatus, after: WebhookStatus) -> str | None:
    """The event type a webhook's status change emits, if any."""
    if before == after:
        return None
    if after == WebhookStatus.SUSPENDED:
        return WEBHOOK_SUSPENDED
    if after == WebhookStatus.UNHEALTHY:
        return WEBHOOK_UNHEALTHY
    if after == WebhookStatus.HEALTHY and before == WebhookStatus.UNHEALTHY:
        return WEBHOOK_RECOVERED
    return None


@dataclass(frozen=True, slots=True)
class Move:
    """One webhook's status before and after a batch of attempts."""

    webhook_id: str
    before: WebhookStatus
    after: WebhookStatus


@dataclass(frozen=True, slots=True)
class Notice:
    """One operational event to emit: its type, the tenant, the webhook it is about."""

    event_type: str
    tenant_id: str
    webhook_id: str
    delivery: AttemptResult  # the attempt it is about
    last_failure: AttemptResult | None


def plan(results: Sequence[AttemptResult], moves: Iterable[Move]) -> list[Notice]:
    """The operational events a recorded batch emits (before the webhooks' names are known).

    Only attempts of the tenants' own events count: a webhook whose attempts in
    the batch were all ``hookwire.*`` deliveries emits nothing (no cascades).
    """
    sent = (r for r in results if r.state != DeliveryState.SKIPPED)
    own = sorted((r for r in sent if not is_operational(r.event_type)), key=lambda r: r.finished_at)
    if not own:
        return []
    last: dict[str, AttemptResult] = {}
    last_failure: dict[str, AttemptResult] = {}
    for r in own:
        last[r.webhook_id] = r
        if not r.success:
            last_failure[r.webhook_id] = r
    notices = []
    for move in moves:
        event_type = status_notice(move.before, move.after)
        about = last.get(move.webhook_id)
        if event_type is None or about is None:
            continue
        failure = last_failure.get(move.webhook_id)
        if event_type != WEBHOOK_RECOVERED:
            about = failure or about
        notices.append(Notice(event_type, about.tenant_id, move.webhook_id, about, failure))
    for r in own:
        if r.state == DeliveryState.FAILED and r.trigger == Trigger.SCHEDULED:
            notices.append(Notice(DELIVERY_EXHAUSTED, r.tenant_id, r.webhook_id, r, r))
    return notices


def notice_data(notice: Notice, webhook: dict[str, Any]) -> dict[str, Any]:
    """The event's ``data``: ``webhook`` is ``{id, name, url, status}`` as stored now."""
    attempt = notice.delivery
    failure = notice.last_failure
    return {
        "webhook": webhook,
        "delivery": {
            "id": attempt.delivery_id,
            "eventId": attempt.event_id,
            "event": attempt.event_type,
            "attempts": attempt.attempt,
            "state": str(attempt.state),
        },
        "lastFailure": None
        if failure is None
        else {
            "statusCode": failure.status_code,
            "reason": failure.error,
            "at": format_timestamp(failure.finished_at),
        },
    }
