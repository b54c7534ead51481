"""Admin routes: event types, tenants, API keys."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TenantClients


async def test_event_type_lifecycle(api: httpx.AsyncClient) -> None:
    schema = {"type": "object", "required": ["key"], "properties": {"key": {"type": "string"}}}
    r = await api.post(
        "/v1/event-types",
        json={"name": "license.created", "description": "A license was created", "schema": schema},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "license.created" and body["schema"] == schema
    assert body["createdAt"].endswith("Z")

    r = await api.get("/v1/event-types/license.created")
    assert r.status_code == 200 and r.json()["description"] == "A license was created"

    r = await api.patch("/v1/event-types/license.created", json={"description": "new"})
    assert r.status_code == 200 and r.json()["description"] == "new"
    assert r.json()["schema"] == schema

    r = await api.patch("/v1/event-types/license.created", json={"schema": None})
    assert r.status_code == 200 and r.json()["schema"] is None

    r = await api.patch("/v1/event-types/license.created", json={"description": None})
    assert r.status_code == 200 and r.json()["description"] == ""

    r = await api.get("/v1/event-types")
    assert [e["name"] for e in r.json()["data"]] == ["license.created"]
    assert r.json()["nextCursor"] is None

    r = await api.delete("/v1/event-types/license.created")
    assert r.status_code == 204
    r = await api.get("/v1/event-types/license.created")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


async def test_duplicate_event_type_is_a_conflict(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v1/event-types", json={"name": "a.b"})).status_code == 201
    r = await api.post("/v1/event-types", json={"name": "a.b"})
    assert r.status_code == 409
    assert "already exists" in r.json()["detail"]


@pytest.mark.parametrize(
    "name", ["License.Created", "license..created", ".license", "license.", "lic ense", "é.x", ""]
)
async def test_event_type_names_are_validated(api: httpx.AsyncClient, name: str) -> None:
    r = await api.post("/v1/event-types", json={"name": name})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "name"


async def test_event_type_schema_must_be_a_json_schema(api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/event-types", json={"name": "a.b", "schema": {"type": "nonsense"}})
    assert r.status_code == 422
    assert "not a valid JSON Schema" in r.json()["detail"]
    assert (await api.get("/v1/event-types/a.b")).status_code == 404


async def test_tenant_lifecycle(api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/tenants", json={"id": "acme", "name": "Acme"})
    assert r.status_code == 201 and r.json()["id"] == "acme"
    r = await api.post("/v1/tenants", json={"id": "acme", "name": "Again"})
    assert r.status_code == 409
    r = await api.post("/v1/tenants", json={"name": "Generated"})
    assert r.status_code == 201 and r.json()["id"].startswith("ten_")
    r = await api.patch("/v1/tenants/acme", json={"name": "Acme Inc"})
    assert r.status_code == 200 and r.json()["name"] == "Acme Inc"
    assert (await api.get("/v1/tenants/acme")).json()["name"] == "Acme Inc"
    assert len((await api.get("/v1/tenants")).json()["data"]) == 2
    assert (await api.delete("/v1/tenants/acme")).status_code == 204
    assert (await api.get("/v1/tenants/acme")).status_code == 404
    assert (await api.delete("/v1/tenants/acme")).status_code == 404


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a", "id": "has space"}, "id"),
        ({"name": "a", "extra": 1}, "extra"),
    ],
)
async def test_tenant_validation(
    api: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    r = await api.post("/v1/tenants", json=body)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]


async def test_tenant_api_key_is_shown_once_and_works(
    api: httpx.AsyncClient, tenants: TenantClients
) -> None:
    tenant_id, client = await tenants.create()
    r = await client.get(f"/v1/tenants/{tenant_id}/webhooks")
    assert r.status_code == 200 and r.json() == {"data": [], "nextCursor": None}
    r = await api.post("/v1/tenants/nope/api-keys", json={})
    assert r.status_code == 404


async def test_tenant_keys_cannot_use_admin_routes(tenants: TenantClients) -> None:
    tenant_id, client = await tenants.create()
    for method, path in [
        ("GET", "/v1/tenants"),
        ("POST", "/v1/tenants"),
        ("GET", f"/v1/tenants/{tenant_id}"),
        ("POST", "/v1/event-types"),
        ("GET", "/v1/event-types"),
        ("POST", f"/v1/tenants/{tenant_id}/api-keys"),
    ]:
        r = await client.request(method, path, json={"name": "x"})
        assert r.status_code == 403, (method, path)
        assert "admin key" in r.json()["detail"]
