"""The delivery queue's recording of finished attempts, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from hookwire.records import AttemptResult, ClaimedDelivery
from hookwire.storage import Storage
from hookwire.storage.tables import deliveries
from tests.test_storage import WEBHOOK


def _result(delivery: ClaimedDelivery, finished: datetime, **changes: object) -> AttemptResult:
    values: dict[str, object] = {
        "delivery_id": delivery.id,
        "tenant_id": delivery.tenant_id,
        "webhook_id": delivery.webhook_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "attempt": delivery.attempts + 1,
        "trigger": delivery.trigger,
        "retry_reason": delivery.retry_reason,
        "sent_at": finished - timedelta(microseconds=1234),
        "received_at": finished,
        "finished_at": finished,
        "duration_ms": 1,
        "status_code": 200,
        "success": True,
        "error": None,
        "request_headers": {"Webhook-Id": delivery.id, "X-Team": "billing ü"},
        "response_headers": {"Content-Type": "text/plain"},
        "response_body": "ok",
        "state": "succeeded",
    }
    values.update(changes)
    return AttemptResult(**values)  # type: ignore[arg-type]


async def test_recorded_attempts_read_back_exactly_and_respect_the_lease(
    storage: Storage,
) -> None:
    await storage.create_tenant("Acme", "acme")
    hook = await storage.create_webhook("acme", WEBHOOK)
    for _ in range(3):
        now = datetime.now(UTC)
        await storage.accept_event("acme", None, "license.created", b"{}", now)
    sent, lost, gone = (await storage.claim_due_deliveries("worker-1", 10, 60)).deliveries
    async with storage.write() as conn:
        # Another worker took one over after the lease ran out; another was deleted.
        await conn.execute(
            deliveries.update().where(deliveries.c.id == lost.id).values(lease_owner="worker-2")
        )
        await conn.execute(deliveries.delete().where(deliveries.c.id == gone.id))
    finished = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    retry_at = finished + timedelta(seconds=6)
    results = [
        _result(sent, finished),
        _result(
            lost,
            finished + timedelta(seconds=1),
            received_at=None,
            status_code=None,
            success=False,
            error="connection refused",
            response_headers=None,
            response_body=None,
            state="pending",
            next_attempt_at=retry_at,
            next_retry_reason="connection refused",
        ),
        _result(gone, finished),
    ]

    await storage.record_attempts("worker-1", results)

    for result in results[:2]:
        (entry,) = await storage.list_delivery_logs("acme", result.delivery_id)
        assert entry.id.startswith("log_")
        assert (entry.sent_at, entry.received_at, entry.created_at) == (
            result.sent_at,
            result.received_at,
            result.finished_at,
        )
        assert (entry.attempt, entry.trigger, entry.status_code, entry.success) == (
            result.attempt,
            result.trigger,
            result.status_code,
            result.success,
        )
        assert (entry.error, entry.duration_ms, entry.response_body) == (
            result.error,
            result.duration_ms,
            result.response_body,
        )
        assert entry.request_headers == result.request_headers
        assert entry.response_headers == result.response_headers
    done = await storage.get_delivery("acme", sent.id)
    assert (done.state, done.attempts, done.last_status_code) == ("succeeded", 1, 200)
    assert done.next_attempt_at is None
    # The attempt of the delivery whose lease was lost is logged, but not applied.
    kept = await storage.get_delivery("acme", lost.id)
    assert (kept.state, kept.attempts, kept.last_status_code) == ("pending", 0, None)
    async with storage.read() as conn:
        owner = await conn.scalar(
            sa.select(deliveries.c.lease_owner).where(deliveries.c.id == lost.id)
        )
    assert owner == "worker-2"
    webhook = await storage.get_webhook("acme", hook.id)
    assert (webhook.status, webhook.last_status_code) == ("unhealthy", None)
