"""Tenant API keys: created and shown once, listed without secrets, revoked at once."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from hookwire.crypto import hash_api_key
from hookwire.service.auth import API_KEY_TOUCH_INTERVAL_SECONDS
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from tests.conftest import TenantClients

PUBLIC_FIELDS = {"id", "tenantId", "name", "prefix", "createdAt", "lastUsedAt"}


async def _tenant(api: httpx.AsyncClient, name: str = "Acme") -> str:
    response = await api.post("/v1/tenants", json={"name": name})
    assert response.status_code == 201, response.text
    tenant_id: str = response.json()["id"]
    return tenant_id


async def _key(api: httpx.AsyncClient, tenant_id: str, name: str) -> dict[str, str]:
    response = await api.post(f"/v1/tenants/{tenant_id}/api-keys", json={"name": name})
    assert response.status_code == 201, response.text
    created: dict[str, str] = response.json()
    return created


def _as(api: httpx.AsyncClient, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=api._transport, base_url=api.base_url, headers={"Authorization": f"Bearer {key}"}
    )


async def _last_used(api: httpx.AsyncClient, tenant_id: str, key_id: str) -> str | None:
    listed = (await api.get(f"/v1/tenants/{tenant_id}/api-keys")).json()["data"]
    [entry] = [k for k in listed if k["id"] == key_id]
    last_used: str | None = entry["lastUsedAt"]
    return last_used


async def test_keys_are_listed_page_by_page_without_the_keys(api: httpx.AsyncClient) -> None:
    tenant_id = await _tenant(api)
    other_id = await _tenant(api, "Other")
    created = [await _key(api, tenant_id, f"key {i}") for i in range(3)]
    await _key(api, other_id, "not listed under acme")

    first = await api.get(f"/v1/tenants/{tenant_id}/api-keys", params={"limit": 2})
    assert first.status_code == 200, first.text
    cursor = first.json()["nextCursor"]
    assert cursor is not None
    second = await api.get(
        f"/v1/tenants/{tenant_id}/api-keys", params={"limit": 2, "cursor": cursor}
    )
    assert second.json()["nextCursor"] is None
    listed = first.json()["data"] + second.json()["data"]

    assert [k["id"] for k in listed] == [c["id"] for c in created]
    assert [k["name"] for k in listed] == ["key 0", "key 1", "key 2"]
    for entry, made in zip(listed, created, strict=True):
        assert set(entry) == PUBLIC_FIELDS
        assert entry["tenantId"] == tenant_id and entry["lastUsedAt"] is None
        assert made["key"].startswith(entry["prefix"])
    for page in (first, second):
        for made in created:
            assert made["key"] not in page.text
            assert hash_api_key(made["key"]) not in page.text
    assert (await api.get("/v1/tenants/nope/api-keys")).status_code == 404


async def test_a_revoked_key_is_refused_on_its_next_request(api: httpx.AsyncClient) -> None:
    tenant_id = await _tenant(api)
    kept = await _key(api, tenant_id, "kept")
    revoked = await _key(api, tenant_id, "leaked")
    async with _as(api, revoked["key"]) as leaked, _as(api, kept["key"]) as other:
        assert (await leaked.get(f"/v1/tenants/{tenant_id}/webhooks")).status_code == 200

        response = await api.delete(f"/v1/tenants/{tenant_id}/api-keys/{revoked['id']}")
        assert response.status_code == 204 and response.content == b""

        refused = await leaked.get(f"/v1/tenants/{tenant_id}/webhooks")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await other.get(f"/v1/tenants/{tenant_id}/webhooks")).status_code == 200
    listed = (await api.get(f"/v1/tenants/{tenant_id}/api-keys")).json()["data"]
    assert [k["id"] for k in listed] == [kept["id"]]
    again = await api.delete(f"/v1/tenants/{tenant_id}/api-keys/{revoked['id']}")
    assert again.status_code == 404


async def test_another_tenants_key_or_an_unknown_one_is_not_found(
    api: httpx.AsyncClient,
) -> None:
    owner_id = await _tenant(api, "Owner")
    other_id = await _tenant(api, "Other")
    owned = await _key(api, owner_id, "owner's")

    foreign = await api.delete(f"/v1/tenants/{other_id}/api-keys/{owned['id']}")
    assert foreign.status_code == 404
    assert "not found" in foreign.json()["detail"]
    assert (await api.delete(f"/v1/tenants/{owner_id}/api-keys/key_unknown")).status_code == 404
    missing_tenant = await api.delete(f"/v1/tenants/missing/api-keys/{owned['id']}")
    assert missing_tenant.status_code == 404
    async with _as(api, owned["key"]) as owner:
        assert (await owner.get(f"/v1/tenants/{owner_id}/webhooks")).status_code == 200


async def test_tenant_keys_cannot_list_or_revoke_keys(tenants: TenantClients) -> None:
    tenant_id, client = await tenants.create()
    listed = (await tenants.api.get(f"/v1/tenants/{tenant_id}/api-keys")).json()["data"]
    [own] = listed
    for method, path in [
        ("GET", f"/v1/tenants/{tenant_id}/api-keys"),
        ("DELETE", f"/v1/tenants/{tenant_id}/api-keys/{own['id']}"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 403, (method, path, response.text)
        assert "admin key" in response.json()["detail"]
    # Its own key survived the attempt to revoke it.
    assert (await client.get(f"/v1/tenants/{tenant_id}/webhooks")).status_code == 200


async def test_last_used_is_written_on_use_at_most_once_per_interval(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant_id = await _tenant(api)
    created = await _key(api, tenant_id, "ci")
    assert await _last_used(api, tenant_id, created["id"]) is None

    async with _as(api, created["key"]) as client:
        before = utcnow()
        assert (await client.get(f"/v1/tenants/{tenant_id}/webhooks")).status_code == 200
        first = await _last_used(api, tenant_id, created["id"])
        assert first is not None and datetime.fromisoformat(first) >= before - timedelta(seconds=1)

        # Within the interval: used again, not written again.
        assert (await client.get(f"/v1/tenants/{tenant_id}/webhooks")).status_code == 200
        assert await _last_used(api, tenant_id, created["id"]) == first

        # Once the interval has passed, the next use writes. The process keeps
        # the key (and when it last wrote its use) between requests, so time
        # moves on here rather than the stored time moving back.
        later = utcnow() + timedelta(seconds=API_KEY_TOUCH_INTERVAL_SECONDS + 1)
        monkeypatch.setattr("hookwire.service.auth.utcnow", lambda: later)
        assert (await client.get(f"/v1/tenants/{tenant_id}/webhooks")).status_code == 200
    third = await _last_used(api, tenant_id, created["id"])
    assert third is not None and datetime.fromisoformat(third) == later


async def test_touching_a_key_is_conditional_so_racing_processes_write_once(
    storage: Storage,
) -> None:
    await storage.create_tenant("Acme", "acme")
    record = await storage.create_api_key("hw_tenant_touch-test-0123456789abcdef", "acme", "k")
    now = utcnow()
    interval = timedelta(seconds=API_KEY_TOUCH_INTERVAL_SECONDS)
    assert await storage.touch_api_key(record.id, now, unless_since=now - interval)
    # A second process that read the key before the first wrote it: no second write.
    later = now + timedelta(seconds=1)
    assert not await storage.touch_api_key(record.id, later, unless_since=later - interval)
    found = await storage.find_api_key("hw_tenant_touch-test-0123456789abcdef")
    assert found is not None and found.last_used_at == now
