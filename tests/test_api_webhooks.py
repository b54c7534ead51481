"""Webhook routes: the seed's fields, validation, masking, pagination."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TenantClients

VALID = {"name": "Orders", "url": "https://receiver.example/hook", "events": ["license.created"]}


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> str:
    for name in ("license.created", "license.expired"):
        assert (await api.post("/v1/event-types", json={"name": name})).status_code == 201
    r = await api.post("/v1/tenants", json={"id": "acme", "name": "Acme"})
    assert r.status_code == 201
    return "acme"


async def test_create_get_update_delete(api: httpx.AsyncClient, tenant: str) -> None:
    r = await api.post(f"/v1/tenants/{tenant}/webhooks", json=VALID)
    assert r.status_code == 201, r.text
    hook = r.json()
    assert hook["name"] == "Orders" and hook["url"] == VALID["url"]
    assert hook["events"] == ["license.created"] and hook["active"] is True
    assert hook["status"] == "healthy" and hook["maxConcurrency"] == 10
    assert hook["signatureScheme"] == "hookwire" and hook["rateLimit"] is None
    assert len(hook["token"]) >= 43  # 32 random bytes, URL-safe base64
    assert hook["createdAt"].endswith("Z") and hook["tenantId"] == tenant

    path = f"/v1/tenants/{tenant}/webhooks/{hook['id']}"
    r = await api.get(path)
    assert r.status_code == 200 and r.json()["token"] == hook["token"]

    r = await api.patch(path, json={"active": False, "events": ["*"], "rateLimit": 5})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False and r.json()["events"] == ["*"]
    assert r.json()["rateLimit"] == 5 and r.json()["name"] == "Orders"
    r = await api.patch(path, json={"rateLimit": None})
    assert r.status_code == 200 and r.json()["rateLimit"] is None

    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404


async def test_given_token_is_kept_and_masked_in_lists(api: httpx.AsyncClient, tenant: str) -> None:
    token = "my-own-signing-secret"
    r = await api.post(f"/v1/tenants/{tenant}/webhooks", json={**VALID, "token": token})
    assert r.status_code == 201 and r.json()["token"] == token
    listed = (await api.get(f"/v1/tenants/{tenant}/webhooks")).json()["data"]
    assert listed[0]["token"] != token and token not in listed[0]["token"]
    assert listed[0]["token"].endswith("…")


async def test_generated_tokens_differ(api: httpx.AsyncClient, tenant: str) -> None:
    tokens = {
        (await api.post(f"/v1/tenants/{tenant}/webhooks", json=VALID)).json()["token"]
        for _ in range(3)
    }
    assert len(tokens) == 3


async def test_rotate_token(api: httpx.AsyncClient, tenant: str) -> None:
    hook = (await api.post(f"/v1/tenants/{tenant}/webhooks", json=VALID)).json()
    r = await api.post(f"/v1/tenants/{tenant}/webhooks/{hook['id']}/rotate-token")
    assert r.status_code == 200
    assert r.json()["token"] != hook["token"] and len(r.json()["token"]) >= 43


@pytest.mark.parametrize(
    "change,field,hint",
    [
        ({"url": "ftp://x.example/h"}, "url", "http"),
        ({"url": "/relative/path"}, "url", "absolute"),
        ({"url": "https://exa mple.com/h"}, "url", "whitespace"),
        ({"url": " https://example.com/h"}, "url", "whitespace"),
        ({"url": "https:///nohost"}, "url", "host"),
        ({"url": "https://example.com:99999/"}, "url", "port"),
        ({"name": ""}, "name", "at least 1"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"events": []}, "events", "at least one"),
        ({"events": ["*", "license.created"]}, "events", "alone"),
        ({"events": ["Not A Name"]}, "events", "not valid"),
        ({"headers": {"X-Ok": "a\r\nInjected: 1"}}, "headers", "CR"),
        ({"headers": {"Transfer-Encoding": "chunked"}}, "headers", "cannot be overridden"),
        ({"headers": {"Connection": "close"}}, "headers", "cannot be overridden"),
        ({"headers": {"Webhook-Signature": "forged"}}, "headers", "cannot be overridden"),
        ({"headers": {"Bad Name": "x"}}, "headers", "not a valid header name"),
        ({"token": "short"}, "token", "at least 8"),
        ({"token": "has space in it"}, "token", "whitespace"),
        ({"maxConcurrency": 0}, "maxConcurrency", "greater than or equal to 1"),
        ({"rateLimit": -1}, "rateLimit", "greater than or equal to 1"),
        ({"signatureScheme": "md5"}, "signatureScheme", "hookwire"),
        ({"format": "teams"}, "format", "slack"),
        ({"ordering": "lifo"}, "ordering", "fifo"),
        ({"enabled": True}, "enabled", "Extra inputs"),
    ],
)
async def test_invalid_webhooks_are_refused_and_nothing_is_stored(
    api: httpx.AsyncClient, tenant: str, change: dict[str, Any], field: str, hint: str
) -> None:
    r = await api.post(f"/v1/tenants/{tenant}/webhooks", json={**VALID, **change})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422 and problem["title"] == "Unprocessable Content"
    errors = {e["field"]: e["message"] for e in problem["errors"]}
    assert field in errors, errors
    assert hint in errors[field]
    assert (await api.get(f"/v1/tenants/{tenant}/webhooks")).json()["data"] == []


async def test_format_and_ordering_default_and_change(api: httpx.AsyncClient, tenant: str) -> None:
    hook = (await api.post(f"/v1/tenants/{tenant}/webhooks", json=VALID)).json()
    assert (hook["format"], hook["ordering"]) == ("hookwire", "none")
    path = f"/v1/tenants/{tenant}/webhooks/{hook['id']}"
    changed = (await api.patch(path, json={"format": "slack", "ordering": "fifo"})).json()
    assert (changed["format"], changed["ordering"]) == ("slack", "fifo")
    kept = (await api.patch(path, json={"name": "Renamed"})).json()
    assert (kept["format"], kept["ordering"]) == ("slack", "fifo")


async def test_unknown_event_names_are_named(api: httpx.AsyncClient, tenant: str) -> None:
    r = await api.post(
        f"/v1/tenants/{tenant}/webhooks",
        json={**VALID, "events": ["license.created", "license.exploded", "user.gone"]},
    )
    assert r.status_code == 422
    assert "'license.exploded'" in r.json()["detail"] and "'user.gone'" in r.json()["detail"]
    assert "license.created'" not in r.json()["detail"]


async def test_patch_validates_like_create(api: httpx.AsyncClient, tenant: str) -> None:
    hook = (await api.post(f"/v1/tenants/{tenant}/webhooks", json=VALID)).json()
    path = f"/v1/tenants/{tenant}/webhooks/{hook['id']}"
    assert (await api.patch(path, json={"url": "nope"})).status_code == 422
    assert (await api.patch(path, json={"events": ["no.such"]})).status_code == 422
    r = await api.patch(path, json={"name": None})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    assert (await api.get(path)).json()["url"] == VALID["url"]


async def test_pagination_across_inserts(api: httpx.AsyncClient, tenant: str) -> None:
    base = f"/v1/tenants/{tenant}/webhooks"
    for i in range(5):
        assert (await api.post(base, json={**VALID, "name": f"h{i}"})).status_code == 201
    page = (await api.get(base, params={"limit": 2})).json()
    names = [w["name"] for w in page["data"]]
    assert names == ["h0", "h1"]
    await api.post(base, json={**VALID, "name": "late"})
    cursor = page["nextCursor"]
    while cursor:
        page = (await api.get(base, params={"limit": 2, "cursor": cursor})).json()
        names += [w["name"] for w in page["data"]]
        cursor = page["nextCursor"]
    assert names == ["h0", "h1", "h2", "h3", "h4", "late"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 251}, {"cursor": "garbage"}])
async def test_bad_pagination_parameters(
    api: httpx.AsyncClient, tenant: str, params: dict[str, Any]
) -> None:
    r = await api.get(f"/v1/tenants/{tenant}/webhooks", params=params)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] in ("query.limit", "query.cursor")


async def test_another_tenants_webhook_is_not_found(
    api: httpx.AsyncClient, tenant: str, tenants: TenantClients
) -> None:
    hook = (await api.post(f"/v1/tenants/{tenant}/webhooks", json=VALID)).json()
    other_id, other = await tenants.create("Other")
    for path in (
        f"/v1/tenants/{tenant}/webhooks/{hook['id']}",
        f"/v1/tenants/{other_id}/webhooks/{hook['id']}",
    ):
        r = await other.get(path)
        assert r.status_code == 404, path
        assert hook["token"] not in r.text
