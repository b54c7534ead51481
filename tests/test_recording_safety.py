"""What a receiver sends can always be recorded, and recording never prints secrets.

A hostile receiver answering a NUL byte in its body or a non-UTF-8 byte in a
header used to make the batched insert into the event log fail on PostgreSQL
(retried forever, blocking every tenant's outcomes and re-sending deliveries
when their leases ran out) and made the webhook's pages answer 500 on SQLite.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import httpx
import pytest

from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.delivery.recorder import Recorder
from hookwire.enums import DeliveryState, Trigger
from hookwire.errors import Unavailable
from hookwire.records import AttemptResult
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from tests.receivers import RawReceiver, Receiver, make_webhook, send_event

HOSTILE_ANSWER = (
    b"HTTP/1.1 200 OK\r\n"
    b"X-Odd: caf\xe9\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 8\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"ab\x00c\xffde!"
)
SECRET = "Bearer s3cret-of-another-tenant-42"


async def test_a_hostile_answer_is_recorded_escaped_and_blocks_no_one(
    storage: Storage, settings: Settings, api: httpx.AsyncClient
) -> None:
    async with RawReceiver(HOSTILE_ANSWER) as hostile, Receiver() as healthy:
        odd = await make_webhook(storage, hostile.url, tenant_id="acme")
        fine = await make_webhook(
            storage, healthy.url, tenant_id="globex", headers={"Authorization": SECRET}
        )
        odd_event = await send_event(storage, tenant_id="acme")
        fine_event = await send_event(storage, tenant_id="globex")
        async with Worker(storage, settings) as worker:
            await worker.run_until_idle()

    # Each receiver heard exactly once: nothing was re-sent after a lost record.
    assert hostile.requests == 1
    assert len(healthy.requests) == 1
    [entry] = await storage.list_delivery_logs("acme", odd_event.deliveries[0].id)
    assert entry.success and entry.status_code == 200
    assert entry.response_body == "ab\\x00c\\xffde!"
    assert entry.response_headers is not None
    assert entry.response_headers["X-Odd"] == "caf\\xe9"
    [other] = await storage.list_delivery_logs("globex", fine_event.deliveries[0].id)
    assert other.success
    # The webhook's log and delivery pages keep answering.
    response = await api.get(f"/v1/tenants/acme/webhooks/{odd.id}/logs")
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["responseBody"] == "ab\\x00c\\xffde!"
    response = await api.get(f"/v1/tenants/acme/deliveries/{odd_event.deliveries[0].id}")
    assert response.status_code == 200, response.text
    assert fine.id != odd.id


def _result(delivery_id: str, tenant_id: str, webhook_id: str, event_id: str) -> AttemptResult:
    now = utcnow()
    return AttemptResult(
        delivery_id=delivery_id,
        tenant_id=tenant_id,
        webhook_id=webhook_id,
        event_id=event_id,
        event_type="license.created",
        attempt=1,
        trigger=Trigger.SCHEDULED,
        retry_reason=None,
        sent_at=now,
        received_at=now,
        finished_at=now,
        duration_ms=3,
        status_code=200,
        success=True,
        error=None,
        request_headers={"Authorization": SECRET},
        response_headers={"X-Fine": "yes"},
        response_body="fine",
        state=DeliveryState.SUCCEEDED,
    )


async def test_a_row_that_cannot_be_stored_is_stored_without_the_response(
    storage: Storage, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    hooks = [await make_webhook(storage, "http://127.0.0.1:9/", tenant_id=t) for t in ("a", "b")]
    events = [await send_event(storage, tenant_id=t) for t in ("a", "b")]
    worker_id = "recording-test"
    claimed = (await storage.claim_due_deliveries(worker_id, 10, 60)).deliveries
    assert len(claimed) == 2
    by_tenant = {c.tenant_id: c for c in claimed}
    good = _result(by_tenant["b"].id, "b", hooks[1].id, events[1].id)
    # Neither database can store these: a lone surrogate in text, NUL in JSON
    # (the sender escapes both; this is the defence behind it), next to a secret.
    bad = dataclasses.replace(
        _result(by_tenant["a"].id, "a", hooks[0].id, events[0].id),
        response_headers={"X-Nul": "a\x00b", "X-Echo": SECRET},
        response_body="broken \udcff body",
    )

    await storage.record_attempts(worker_id, [bad, good])

    [stored_bad] = await storage.list_delivery_logs("a", bad.delivery_id)
    assert stored_bad.response_body is None and stored_bad.response_headers is None
    assert stored_bad.error == "(the response could not be stored)"
    assert stored_bad.success and stored_bad.status_code == 200
    [stored_good] = await storage.list_delivery_logs("b", good.delivery_id)
    assert stored_good.response_body == "fine"
    for tenant, delivery_id in (("a", bad.delivery_id), ("b", good.delivery_id)):
        assert (await storage.get_delivery(tenant, delivery_id)).state == "succeeded"
    # The failed statement was logged, but no value of it was.
    assert "could not be recorded" in caplog.text
    printed = caplog.text + "".join(capsys.readouterr())
    assert "s3cret" not in printed
    assert "broken" not in printed


async def test_a_batch_written_again_after_its_commit_is_logged_once(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """The database committed a batch but its answer was lost (the connection
    dropped during COMMIT): the recorder writes the batch again, and neither the
    event log nor the operational events get a second copy."""
    hook = await make_webhook(storage, "http://127.0.0.1:9/", tenant_id="acme")
    event = await send_event(storage, tenant_id="acme")
    worker_id = "lost-commit-answer"
    [claimed] = (await storage.claim_due_deliveries(worker_id, 10, 60)).deliveries
    failed = dataclasses.replace(
        _result(claimed.id, "acme", hook.id, event.id),
        status_code=500,
        success=False,
        error="HTTP 500",
        state=DeliveryState.FAILED,
    )
    real_record = storage.record_attempts
    calls: list[int] = []

    async def answer_lost_once(*args: object, **kwargs: object) -> None:
        await real_record(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(1)
        if len(calls) == 1:
            raise Unavailable("the connection to the database was lost")

    storage.record_attempts = answer_lost_once  # type: ignore[method-assign]
    recorded = asyncio.Event()
    recorder = Recorder(storage, worker_id, 3600, lambda batch: recorded.set())
    recorder.start()
    recorder.add(failed)
    await asyncio.wait_for(recorded.wait(), timeout=10)
    await recorder.close()

    assert len(calls) == 2  # written, then written again
    [entry] = await storage.list_delivery_logs("acme", claimed.id)
    assert entry.id == failed.log_id and not entry.success
    assert (await storage.get_delivery("acme", claimed.id)).state == "failed"
    events = (await storage.list_events("acme", None, None)).items
    notices = [e.event_type for e in events if e.event_type.startswith("hookwire.")]
    assert notices.count("hookwire.delivery.exhausted") == 1, notices
    # Recognised as written, not refused by the table's key as a duplicate.
    assert not [r for r in caplog.records if "be recorded" in r.getMessage()]
