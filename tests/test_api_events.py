"""Triggering events over the API: validation, fan-out, idempotency, reading them back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

SCHEMA = {
    "type": "object",
    "required": ["key", "user"],
    "properties": {
        "key": {"type": "string"},
        "user": {"type": "object", "properties": {"email": {"type": "string"}}},
    },
}


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> str:
    r = await api.post("/v1/event-types", json={"name": "license.created", "schema": SCHEMA})
    assert r.status_code == 201
    assert (await api.post("/v1/event-types", json={"name": "license.expired"})).status_code == 201
    assert (await api.post("/v1/tenants", json={"id": "acme", "name": "Acme"})).status_code == 201
    for events in (["license.created"], ["*"], ["license.expired"]):
        r = await api.post(
            "/v1/tenants/acme/webhooks",
            json={"name": "h", "url": "https://example.com/h", "events": events},
        )
        assert r.status_code == 201
    return "acme"


VALID = {"event": "license.created", "data": {"key": "K-1", "user": {"email": "a@example.com"}}}


async def test_an_event_is_accepted_with_one_delivery_per_matching_webhook(
    api: httpx.AsyncClient, tenant: str
) -> None:
    r = await api.post(f"/v1/tenants/{tenant}/events", json=VALID)
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert set(accepted) == {"id", "event", "triggeredAt", "deliveries", "hint"}
    assert accepted["event"] == "license.created" and accepted["deliveries"] == 2
    assert accepted["triggeredAt"].endswith("Z")

    detail = (await api.get(f"/v1/tenants/{tenant}/events/{accepted['id']}")).json()
    assert detail["data"] == VALID["data"]
    assert [d["state"] for d in detail["deliveries"]] == ["pending", "pending"]
    assert {d["event"] for d in detail["deliveries"]} == {"license.created"}

    listed = (await api.get(f"/v1/tenants/{tenant}/events")).json()
    assert [e["id"] for e in listed["data"]] == [accepted["id"]]


@pytest.mark.parametrize(
    "body,field,hint",
    [
        ({"event": "license.exploded", "data": {}}, "event", "unknown event type"),
        ({"event": "license.created", "data": [1, 2]}, "data", "valid dictionary"),
        ({"event": "license.created", "data": "text"}, "data", "valid dictionary"),
        ({"event": "license.created"}, "data", "Field required"),
        ({"event": "Bad Name", "data": {}}, "event", "lowercase words separated by dots"),
        ({**VALID, "id": "has space"}, "id", "letters, digits"),
    ],
)
async def test_invalid_events_are_refused_and_nothing_is_stored(
    api: httpx.AsyncClient, tenant: str, body: dict[str, Any], field: str, hint: str
) -> None:
    r = await api.post(f"/v1/tenants/{tenant}/events", json=body)
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert field in errors and hint in errors[field], errors
    assert (await api.get(f"/v1/tenants/{tenant}/events")).json()["data"] == []


async def test_data_failing_the_schema_names_the_path(api: httpx.AsyncClient, tenant: str) -> None:
    body = {"event": "license.created", "data": {"key": "K", "user": {"email": 5}}}
    r = await api.post(f"/v1/tenants/{tenant}/events", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "data.user.email"
    assert "data.user.email" in r.json()["detail"]
    empty = {"event": "license.created", "data": {}}
    r = await api.post(f"/v1/tenants/{tenant}/events", json=empty)
    assert r.status_code == 422 and "'key' is a required property" in r.json()["detail"]
    assert (await api.get(f"/v1/tenants/{tenant}/events")).json()["data"] == []


async def test_an_idempotency_key_returns_the_first_event(
    api: httpx.AsyncClient, tenant: str
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await api.post(f"/v1/tenants/{tenant}/events", json=VALID, headers=headers)
    again = await api.post(
        f"/v1/tenants/{tenant}/events",
        json={"event": "license.expired", "data": {}},
        headers=headers,
    )
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    events = (await api.get(f"/v1/tenants/{tenant}/events")).json()["data"]
    assert len(events) == 1 and len(events[0]["deliveries"]) == 2
    metrics = (await api.get("/metrics")).text
    assert "hookwire_events_accepted_total 1.0" in metrics
    assert "hookwire_deliveries_created_total 2.0" in metrics


async def test_a_repeated_id_returns_the_first_event(api: httpx.AsyncClient, tenant: str) -> None:
    first = await api.post(f"/v1/tenants/{tenant}/events", json={**VALID, "id": "evt-1"})
    again = await api.post(f"/v1/tenants/{tenant}/events", json={**VALID, "id": "evt-1"})
    assert first.json()["id"] == "evt-1" and again.json() == first.json()
    assert len((await api.get(f"/v1/tenants/{tenant}/events")).json()["data"]) == 1


async def test_events_list_newest_first_with_a_type_filter(
    api: httpx.AsyncClient, tenant: str
) -> None:
    ids = []
    for body in (VALID, {"event": "license.expired", "data": {}}, VALID):
        ids.append((await api.post(f"/v1/tenants/{tenant}/events", json=body)).json()["id"])
    page = (await api.get(f"/v1/tenants/{tenant}/events", params={"limit": 2})).json()
    assert [e["id"] for e in page["data"]] == [ids[2], ids[1]]
    rest = await api.get(f"/v1/tenants/{tenant}/events", params={"cursor": page["nextCursor"]})
    assert [e["id"] for e in rest.json()["data"]] == [ids[0]]
    only = await api.get(f"/v1/tenants/{tenant}/events", params={"event": "license.expired"})
    assert [e["id"] for e in only.json()["data"]] == [ids[1]]
    missing = await api.get(f"/v1/tenants/{tenant}/events/nope")
    assert missing.status_code == 404
