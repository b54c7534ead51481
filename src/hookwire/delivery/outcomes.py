"""What the worker writes down for an attempt: whether to send it, and its record."""

from __future__ import annotations

from hookwire.delivery.sender import SendOutcome, Target
from hookwire.records import AttemptResult, ClaimedDelivery
from hookwire.retry import Decision
from hookwire.storage.events import SKIPPED_ERROR

SKIPPED_DISABLED = "skipped: the webhook is disabled"


def skip_reason(target: Target, delivery: ClaimedDelivery) -> str | None:
    """Why ``delivery`` is not sent to ``target`` now (None: send it).

    A disabled or suspended webhook receives nothing on the schedule; a manual
    resend or a test event is what a person asked for, and still goes out.
    """
    if delivery.trigger != "scheduled":
        return None
    if target.suspended:
        return SKIPPED_ERROR
    if not target.active:
        return SKIPPED_DISABLED
    return None


def attempt_result(
    delivery: ClaimedDelivery, outcome: SendOutcome, decision: Decision, *, attempt: int
) -> AttemptResult:
    """The record of one attempt (or skip) of ``delivery``: what was sent, what followed."""
    return AttemptResult(
        delivery_id=delivery.id,
        tenant_id=delivery.tenant_id,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        attempt=attempt,
        trigger=delivery.trigger,
        retry_reason=delivery.retry_reason,
        sent_at=outcome.sent_at,
        received_at=outcome.received_at,
        finished_at=outcome.finished_at,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status_code,
        success=outcome.failure is None,
        error=outcome.failure,
        request_headers=outcome.request_headers,
        response_headers=outcome.response_headers,
        response_body=outcome.response_body,
        request_body=outcome.request_body,
        state=decision.state,
        next_attempt_at=decision.next_attempt_at,
        next_retry_reason=decision.next_retry_reason,
        webhook_gone=outcome.gone,
    )
