"""The OpenAPI document names operations the way a generated client should."""

from __future__ import annotations

from typing import Any

import httpx


async def operations(api: httpx.AsyncClient) -> dict[tuple[str, str], str]:
    document: dict[str, Any] = (await api.get("/openapi.json")).json()
    return {
        (method.upper(), path): op["operationId"]
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }


async def test_operation_ids_are_short_camel_case_and_unique(api: httpx.AsyncClient) -> None:
    ids = await operations(api)
    assert len(set(ids.values())) == len(ids), "operation ids must be unique"
    for operation_id in ids.values():
        assert operation_id.isalnum() and operation_id[0].islower(), operation_id
        assert "v1" not in operation_id and len(operation_id) <= 24, operation_id


async def test_the_main_operations_have_natural_names(api: httpx.AsyncClient) -> None:
    ids = await operations(api)
    expected = {
        ("POST", "/v1/tenants/{tenant_id}/webhooks"): "createWebhook",
        ("GET", "/v1/tenants/{tenant_id}/webhooks"): "listWebhooks",
        ("PATCH", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}"): "updateWebhook",
        ("POST", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/rotate-token"): (
            "rotateWebhookToken"
        ),
        ("GET", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/logs"): "listWebhookLogs",
        ("POST", "/v1/tenants/{tenant_id}/events"): "sendEvent",
        ("POST", "/v1/tenants/{tenant_id}/deliveries/{delivery_id}/resend"): "resendDelivery",
        ("POST", "/v1/event-types"): "createEventType",
        ("DELETE", "/v1/tenants/{tenant_id}/api-keys/{key_id}"): "revokeApiKey",
    }
    assert {key: ids.get(key) for key in expected} == expected
