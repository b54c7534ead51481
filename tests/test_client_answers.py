"""What the client makes of answers hookwire's own app does not give, from a real local server.

A :class:`~tests.receivers.Receiver` on 127.0.0.1 plays what may sit in
front of hookwire (a proxy's error page, a server under maintenance) or a
newer hookwire; no database is involved.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from hookwire.client import (
    AsyncClient,
    HookwireError,
    Invalid,
    Unavailable,
    UnexpectedAnswer,
)
from tests.receivers import Receiver, ok

PROXY_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway"
    "</h1></center><hr><center>nginx</center></body></html>"
)
PROBLEM = {"Content-Type": "application/problem+json"}
JSON = {"Content-Type": "application/json"}
TIME = "2018-04-20T13:11:34.692694Z"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver(ok()) as server:
        yield server


@pytest.fixture
async def client(receiver: Receiver) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(f"http://127.0.0.1:{receiver.port}", "hw_any-key") as hookwire:
        yield hookwire


async def test_a_proxy_error_page_raises_with_its_words(
    receiver: Receiver, client: AsyncClient
) -> None:
    receiver.answer(ok(502, PROXY_PAGE, {"Content-Type": "text/html"}))
    with pytest.raises(HookwireError) as raised:
        await client.get_tenant("acme")
    error = raised.value
    assert type(error) is HookwireError
    assert (error.status, error.title, error.type, error.errors) == (
        502,
        "Bad Gateway",
        "about:blank",
        (),
    )
    assert "not a hookwire problem document (text/html)" in error.detail
    assert "502 Bad Gateway 502 Bad Gateway nginx" in error.detail  # tags gone, text kept
    assert "<" not in error.detail
    assert error.request == "GET /v1/tenants/acme"


async def test_unavailable_says_when_to_retry(receiver: Receiver, client: AsyncClient) -> None:
    problem = {"title": "Service Unavailable", "status": 503, "detail": "the database is down"}
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    receiver.answer(
        ok(503, json.dumps(problem), {**PROBLEM, "Retry-After": "7"}),
        ok(503, "down for maintenance", {"Retry-After": in_a_minute}),
        ok(503, "", {}),
    )
    with pytest.raises(Unavailable) as seconds:
        await client.list_tenants()
    assert (seconds.value.retry_after, seconds.value.detail) == (7.0, "the database is down")

    with pytest.raises(Unavailable) as date:
        await client.list_tenants()
    assert date.value.retry_after is not None and 50 < date.value.retry_after <= 60
    assert "down for maintenance" in date.value.detail

    with pytest.raises(Unavailable) as unsaid:
        await client.list_tenants()
    assert unsaid.value.retry_after is None and "empty body" in unsaid.value.detail


async def test_field_errors_are_read_from_the_problem(
    receiver: Receiver, client: AsyncClient
) -> None:
    problem = {
        "type": "https://hookwire.dev/problems/unprocessable-content",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "invalid request: url: the URL has no host",
        "errors": [{"field": "url", "message": "the URL has no host"}, "not an error"],
    }
    receiver.answer(ok(422, json.dumps(problem), PROBLEM))
    with pytest.raises(Invalid) as raised:
        await client.create_webhook("acme", name="x", url="http://")
    assert [(e.field, e.message) for e in raised.value.errors] == [("url", "the URL has no host")]
    assert str(raised.value) == (
        "422 Unprocessable Content: invalid request: url: the URL has no host "
        "(POST /v1/tenants/acme/webhooks)"
    )


async def test_a_newer_server_s_extra_fields_are_ignored(
    receiver: Receiver, client: AsyncClient
) -> None:
    tenant = {"id": "acme", "name": "Acme", "createdAt": TIME, "updatedAt": TIME, "plan": "gold"}
    page = {"data": [tenant], "nextCursor": None, "total": 1}
    receiver.answer(ok(200, json.dumps(tenant), JSON), ok(200, json.dumps(page), JSON))

    parsed = await client.get_tenant("acme")
    assert (parsed.id, parsed.name) == ("acme", "Acme")
    assert parsed.created_at == datetime(2018, 4, 20, 13, 11, 34, 692694, tzinfo=UTC)
    assert [t.id async for t in client.iter_tenants()] == ["acme"]


async def test_what_blocks_a_fifo_webhook_is_read(receiver: Receiver, client: AsyncClient) -> None:
    blocker = {
        "deliveryId": "dlv_1",
        "eventId": "evt_1",
        "event": "license.created",
        "attempts": 2,
        "lastStatusCode": 500,
        "reason": "HTTP 500",
        "retryAt": TIME,
    }
    webhook = {
        "id": "wh_1",
        "tenantId": "acme",
        "name": "Orders",
        "description": "",
        "url": "https://receiver.example/hook",
        "token": "whsec_…",
        "events": ["*"],
        "active": True,
        "headers": {},
        "signatureScheme": "hookwire",
        "maxConcurrency": 1,
        "rateLimit": None,
        "ordering": "fifo",
        "format": "hookwire",
        "status": "unhealthy",
        "lastDeliveryAt": TIME,
        "lastStatusCode": 500,
        "blockedBy": blocker,
        "createdAt": TIME,
        "updatedAt": TIME,
    }
    receiver.answer(ok(200, json.dumps(webhook), JSON))

    parsed = await client.get_webhook("acme", "wh_1")
    assert parsed.blocked_by is not None
    assert (parsed.blocked_by.delivery_id, parsed.blocked_by.attempts) == ("dlv_1", 2)
    assert parsed.blocked_by.retry_at == datetime(2018, 4, 20, 13, 11, 34, 692694, tzinfo=UTC)


async def test_an_answer_the_client_cannot_read_raises(
    receiver: Receiver, client: AsyncClient
) -> None:
    webhook = {"id": "wh_1", "token": "whsec_secret-0123456789", "events": "*"}
    receiver.answer(ok(200, "ok"), ok(200, json.dumps(webhook), JSON))
    with pytest.raises(UnexpectedAnswer) as not_json:
        await client.get_tenant("acme")
    with pytest.raises(UnexpectedAnswer) as incomplete:
        await client.get_webhook("acme", "wh_1")
    assert not_json.value.status == 200
    assert "tenantId: Field required" in incomplete.value.detail  # names what is missing
    assert "events: Input should be a valid tuple" in incomplete.value.detail
    # ...but does not quote the answer, nor chain pydantic's error that does.
    assert "whsec_secret" not in str(incomplete.value)
    assert incomplete.value.__cause__ is None and incomplete.value.__suppress_context__


async def test_the_key_and_the_client_are_named_in_every_request(
    receiver: Receiver, client: AsyncClient
) -> None:
    receiver.answer(ok(204, ""))
    await client.delete_tenant("acme")
    [request] = receiver.requests
    assert (request.path, request.headers["Authorization"]) == (
        "/v1/tenants/acme",
        "Bearer hw_any-key",
    )
    assert request.headers["User-Agent"].startswith("hookwire-client/")


async def test_a_naive_time_is_refused_before_sending(
    receiver: Receiver, client: AsyncClient
) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await client.recover_webhook("acme", "wh_1", datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        await client.list_webhook_logs("acme", "wh_1", since=datetime(2024, 1, 1))
    assert receiver.requests == []


def test_a_client_without_a_key_is_refused() -> None:
    with pytest.raises(ValueError, match="API key"):
        AsyncClient("http://127.0.0.1:9", "")
