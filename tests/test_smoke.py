from __future__ import annotations

import httpx


async def test_create_tenant_and_webhook(api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/event-types", json={"name": "license.created"})
    assert r.status_code == 201, r.text
    r = await api.post("/v1/tenants", json={"name": "Acme"})
    assert r.status_code == 201, r.text
    tenant = r.json()["id"]
    r = await api.post(
        f"/v1/tenants/{tenant}/webhooks",
        json={"name": "n", "url": "https://example.com/h", "events": ["license.created"]},
    )
    assert r.status_code == 201, r.text
    assert len(r.json()["token"]) >= 43
    r = await api.post(
        f"/v1/tenants/{tenant}/events", json={"event": "license.created", "data": {"key": "k"}}
    )
    assert r.status_code == 202, r.text
    assert r.json()["deliveries"] == 1
