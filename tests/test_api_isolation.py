"""Tenant isolation: every tenant-scoped route answers 404 for another tenant's things.

The routes are read from the app's OpenAPI description, so a route added later is covered
without touching this file (add a request body below if it needs one).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hookwire.app import create_app
from hookwire.config import Settings
from tests.conftest import TenantClients

# Valid bodies, so that a 404 cannot be a validation error in disguise.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/webhooks"): {"name": "n", "url": "https://example.com/h", "events": ["*"]},
    ("PATCH", "/webhooks/{webhook_id}"): {"name": "renamed"},
    ("POST", "/events"): {"event": "license.created", "data": {}},
    ("POST", "/webhooks/{webhook_id}/recover"): {"since": "2000-01-01T00:00:00Z"},
}


# Admin-only routes under a tenant: any tenant key gets 403 there, whoever's
# tenant it names (tests/test_api_keys.py and tests/test_portal.py check that).
ADMIN_ONLY = ("/api-keys", "/portal-links", "/portal-sessions")


def tenant_routes(settings: Settings) -> list[tuple[str, str]]:
    paths = create_app(settings).openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1/tenants/{tenant_id}/")
        and not any(part in path for part in ADMIN_ONLY)
        for method in operations
    ]


def _body(method: str, path: str) -> dict[str, Any] | None:
    suffix = path.removeprefix("/v1/tenants/{tenant_id}")
    return BODIES.get((method, suffix))


async def test_every_tenant_route_hides_other_tenants(
    api: httpx.AsyncClient, settings: Settings, tenants: TenantClients
) -> None:
    assert (await api.post("/v1/event-types", json={"name": "license.created"})).status_code == 201
    owner_id, owner = await tenants.create("Owner")
    other_id, other = await tenants.create("Other")
    hook = await owner.post(
        f"/v1/tenants/{owner_id}/webhooks",
        json={"name": "n", "url": "https://example.com/h", "events": ["*"]},
    )
    event = await owner.post(
        f"/v1/tenants/{owner_id}/events", json={"event": "license.created", "data": {}}
    )
    assert hook.status_code == 201 and event.status_code == 202
    detail = (await owner.get(f"/v1/tenants/{owner_id}/events/{event.json()['id']}")).json()
    ids = {
        "webhook_id": hook.json()["id"],
        "event_id": event.json()["id"],
        "delivery_id": detail["deliveries"][0]["id"],
    }
    routes = tenant_routes(settings)
    assert len(routes) >= 8
    checked = 0
    for method, template in routes:
        body = _body(method, template)
        # The owner's tenant in the path: the other tenant's key gets 404, not 403.
        path = template.format(tenant_id=owner_id, **ids)
        r = await other.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        checked += 1
        # The other tenant's own path with the owner's ids: also 404.
        if any("{" + name + "}" in template for name in ids):
            path = template.format(tenant_id=other_id, **ids)
            r = await other.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.text)
    assert checked == len(routes)
    # And nothing of the owner's was changed by those attempts.
    again = await owner.get(f"/v1/tenants/{owner_id}/webhooks/{ids['webhook_id']}")
    assert again.status_code == 200 and again.json()["name"] == "n"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_admin_sees_every_tenant(api: httpx.AsyncClient, tenants: TenantClients) -> None:
    a, _ = await tenants.create("A")
    b, _ = await tenants.create("B")
    for tenant_id in (a, b):
        assert (await api.get(f"/v1/tenants/{tenant_id}/webhooks")).status_code == 200
    assert (await api.get("/v1/tenants/missing/webhooks")).status_code == 404
