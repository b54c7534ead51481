"""The worker against real receivers: the request, the outcomes, the event log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import timedelta

import standardwebhooks

from hookwire import __version__
from hookwire.config import Settings
from hookwire.delivery import Worker
from hookwire.signing import generate_token, standard_secret
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from tests.receivers import (
    Receiver,
    big_body,
    hang,
    make_webhook,
    ok,
    quick,
    redirect,
    reset,
    send_event,
)


def own_signature(token: str, body: bytes) -> str:
    """PRODUCT.md's signature, computed independently of hookwire.signing."""
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


async def deliver(storage: Storage, settings: Settings) -> None:
    async with Worker(storage, settings) as worker:
        await worker.run_until_idle()


async def test_the_request_is_exactly_the_documented_one(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        webhook = await make_webhook(storage, receiver.url, headers={"X-Team": "billing"})
        event = await send_event(storage, key="K-1")
        before = int(time.time())
        await deliver(storage, settings)

    [request] = receiver.requests
    delivery = event.deliveries[0]
    assert request.body == event.payload
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["User-Agent"] == f"hookwire/{__version__}"
    assert request.headers["Webhook-Id"] == delivery.id
    assert before <= int(request.headers["Webhook-Timestamp"]) <= int(time.time())
    assert request.headers["Webhook-Signature"] == own_signature(webhook.token, event.payload)
    assert request.headers["X-Team"] == "billing"

    done = await storage.get_delivery("acme", delivery.id)
    assert (done.state, done.attempts, done.last_status_code) == ("succeeded", 1, 200)
    [entry] = await storage.list_delivery_logs("acme", delivery.id)
    assert (entry.attempt, entry.trigger, entry.status_code, entry.success) == (
        1,
        "scheduled",
        200,
        True,
    )
    assert entry.retry_reason is None and entry.error is None
    assert entry.request_headers["Webhook-Id"] == delivery.id
    assert entry.response_body == "ok"
    assert entry.sent_at is not None and entry.received_at is not None
    assert entry.duration_ms is not None and entry.duration_ms >= 0
    hook = await storage.get_webhook("acme", webhook.id)
    assert (hook.status, hook.last_status_code) == ("healthy", 200)
    assert hook.last_delivery_at is not None


async def test_standard_scheme_verifies_with_the_standardwebhooks_library(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        token = generate_token("standard")
        await make_webhook(storage, receiver.url, token=token, signature_scheme="standard")
        await send_event(storage)
        await deliver(storage, settings)
    [request] = receiver.requests
    verifier = standardwebhooks.Webhook(standard_secret(token))
    assert verifier.verify(request.body, request.headers)


async def test_a_rotated_token_signs_beside_the_new_one(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        webhook = await make_webhook(storage, receiver.url)
        rotated = await storage.rotate_webhook_token(
            "acme", webhook.id, "new-token-0123456789", utcnow() + timedelta(hours=1)
        )
        await send_event(storage)
        await deliver(storage, settings)
    [request] = receiver.requests
    signatures = request.headers["Webhook-Signature"].split(" ")
    assert signatures == [
        own_signature(rotated.token, request.body),
        own_signature(webhook.token, request.body),
    ]


async def test_a_failure_is_retried_with_identical_bytes_and_its_reason(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        receiver.answer(ok(500), ok(503))
        webhook = await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        await deliver(storage, quick(settings))

    assert [r.body for r in receiver.requests] == [event.payload] * 3
    assert len(set(receiver.ids())) == 1
    logs = await storage.list_delivery_logs("acme", event.deliveries[0].id)
    assert [(e.attempt, e.status_code, e.retry_reason, e.error) for e in logs] == [
        (1, 500, None, "HTTP 500"),
        (2, 503, "HTTP 500", "HTTP 503"),
        (3, 200, "HTTP 503", None),
    ]
    assert (await storage.get_webhook("acme", webhook.id)).status == "healthy"


async def test_an_exhausted_schedule_fails_the_delivery_and_the_webhook_is_unhealthy(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver(default=ok(500)) as receiver:
        webhook = await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        await deliver(storage, quick(settings))
    assert len(receiver.requests) == 3  # the first attempt and two retries
    delivery = await storage.get_delivery("acme", event.deliveries[0].id)
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    hook = await storage.get_webhook("acme", webhook.id)
    assert (hook.status, hook.active, hook.last_status_code) == ("unhealthy", True, 500)
    assert hook.failing_since is not None


async def test_a_timeout_is_retried_with_its_reason(storage: Storage, settings: Settings) -> None:
    async with Receiver() as receiver:
        receiver.answer(hang())
        await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        await deliver(storage, quick(settings, request_timeout_seconds=0.3))
    logs = await storage.list_delivery_logs("acme", event.deliveries[0].id)
    assert [(e.status_code, e.error, e.retry_reason) for e in logs] == [
        (None, "timeout after 0.3 s", None),
        (200, None, "timeout after 0.3 s"),
    ]


async def test_a_reset_connection_is_retried(storage: Storage, settings: Settings) -> None:
    async with Receiver() as receiver:
        receiver.answer(reset())
        await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        await deliver(storage, quick(settings))
    first, second = await storage.list_delivery_logs("acme", event.deliveries[0].id)
    assert first.status_code is None
    assert first.error in ("connection reset", "connection closed without a response")
    assert (second.success, second.retry_reason) == (True, first.error)


async def test_a_refused_connection_is_retried(storage: Storage, settings: Settings) -> None:
    async with Receiver() as receiver:
        closed_port_url = receiver.url
    await make_webhook(storage, closed_port_url)
    event = await send_event(storage)
    await deliver(storage, quick(settings, retry_schedule=(0.01,)))
    logs = await storage.list_delivery_logs("acme", event.deliveries[0].id)
    assert [(e.error, e.retry_reason) for e in logs] == [
        ("connection refused", None),
        ("connection refused", "connection refused"),
    ]


async def test_a_redirect_is_not_followed(storage: Storage, settings: Settings) -> None:
    async with Receiver() as receiver:
        receiver.answer(redirect(302))
        await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        await deliver(storage, quick(settings))
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]
    first, second = await storage.list_delivery_logs("acme", event.deliveries[0].id)
    assert (first.status_code, first.error) == (302, "redirect (302) not followed")
    assert second.retry_reason == "redirect (302) not followed"


async def test_410_deactivates_the_webhook(storage: Storage, settings: Settings) -> None:
    async with Receiver(default=ok(410)) as receiver:
        webhook = await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        await deliver(storage, quick(settings))
        later = await send_event(storage)
    assert len(receiver.requests) == 1
    delivery = await storage.get_delivery("acme", event.deliveries[0].id)
    assert delivery.state == "failed"
    hook = await storage.get_webhook("acme", webhook.id)
    assert (hook.active, hook.status) == (False, "suspended")
    # What it misses while suspended is logged as skipped, to be recovered later.
    assert [d.state for d in later.deliveries] == ["skipped"]


async def test_retry_after_on_429_is_honoured_within_the_schedule(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver() as receiver:
        receiver.answer(ok(429, headers={"Retry-After": "1"}))
        await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        fast = quick(settings, retry_schedule=(0.05, 30))
        async with Worker(storage, fast) as worker:
            await worker.run_until_idle(horizon_seconds=0)
            pending = await storage.get_delivery("acme", event.deliveries[0].id)
            [first] = await storage.list_delivery_logs("acme", pending.id)
            assert pending.state == "pending" and pending.next_attempt_at is not None
            assert first.received_at is not None
            waited = (pending.next_attempt_at - first.received_at).total_seconds()
            assert 0.9 <= waited <= 1.2
            await worker.run_until_idle()
    assert len(receiver.requests) == 2
    logs = await storage.list_delivery_logs("acme", event.deliveries[0].id)
    assert logs[1].retry_reason == "HTTP 429"


async def test_a_huge_response_is_cut_to_4_kib_in_the_log(
    storage: Storage, settings: Settings
) -> None:
    async with Receiver(default=big_body(10 * 1024 * 1024)) as receiver:
        await make_webhook(storage, receiver.url)
        event = await send_event(storage)
        await deliver(storage, quick(settings))
    [entry] = await storage.list_delivery_logs("acme", event.deliveries[0].id)
    assert entry.success and entry.status_code == 200
    assert entry.response_body == "x" * 4096


async def test_a_private_address_is_refused_and_not_retried(
    storage: Storage, settings: Settings
) -> None:
    guarded = quick(settings, allow_private_networks=False)
    async with Receiver() as receiver:
        by_ip = await make_webhook(storage, receiver.url)
        by_name = await make_webhook(storage, receiver.url.replace("127.0.0.1", "localhost"))
        event = await send_event(storage)
        await deliver(storage, guarded)
    assert receiver.requests == []
    errors = {}
    for delivery in event.deliveries:
        assert (await storage.get_delivery("acme", delivery.id)).state == "failed"
        [entry] = await storage.list_delivery_logs("acme", delivery.id)
        assert entry.error is not None and entry.status_code is None
        errors[delivery.webhook_id] = entry.error
    assert errors[by_ip.id] == "address not allowed: 127.0.0.1 is a loopback address"
    assert errors[by_name.id].startswith("address not allowed: localhost resolves to ")
