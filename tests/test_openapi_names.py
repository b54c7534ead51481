"""The OpenAPI document names operations and schemas the way a generated client should."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

# The document is the same on every database: the generated client is built once.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
GENERATED = "generated_hookwire_client"


async def document(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/openapi.json")
    assert response.status_code == 200, response.text
    spec: dict[str, Any] = response.json()
    return spec


async def operations(api: httpx.AsyncClient) -> dict[tuple[str, str], str]:
    return {
        (method.upper(), path): op["operationId"]
        for path, ops in (await document(api))["paths"].items()
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


async def test_schemas_are_named_as_short_nouns(api: httpx.AsyncClient) -> None:
    schemas: dict[str, Any] = (await document(api))["components"]["schemas"]
    for name, schema in schemas.items():
        # Not `ListResponse_Webhook_`, `WebhookPublic` or `Webhook-Input` beside `Webhook-Output`.
        assert name.isalnum() and name[0].isupper(), name
        assert not name.endswith(("Public", "Input", "Output")), name
        # Generators name the class after the title: it must say the same.
        assert schema.get("title", name) == name, (name, schema.get("title"))
    assert {
        "Webhook",
        "WebhookCreate",
        "WebhookUpdate",
        "WebhookList",
        "Tenant",
        "TenantList",
        "ApiKey",
        "ApiKeyCreated",
        "EventType",
        "Event",
        "EventAccepted",
        "EventList",
        "Delivery",
        "DeliveryDetail",
        "LogEntry",
        "LogEntryList",
        "Problem",
    } <= set(schemas)
    page = schemas["WebhookList"]
    assert set(page["properties"]) == {"data", "nextCursor"}
    assert page["properties"]["data"]["items"] == {"$ref": "#/components/schemas/Webhook"}


@pytest.fixture
def generated_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where the client is generated; it is importable as GENERATED until the test ends."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / GENERATED
    for name in [n for n in sys.modules if n.split(".")[0] == GENERATED]:
        del sys.modules[name]


def generate(spec: dict[str, Any], output: Path) -> None:
    """openapi-python-client's command, as a user runs it (without its ruff post hooks)."""
    work = output.parent
    (work / "openapi.json").write_text(json.dumps(spec))
    (work / "config.json").write_text(json.dumps({"post_hooks": []}))
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--meta", "none"]
    command += ["--path", str(work / "openapi.json"), "--config", str(work / "config.json")]
    command += ["--output-path", str(output), "--fail-on-warning"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def operation(area: str, name: str) -> ModuleType:
    return importlib.import_module(f"{GENERATED}.api.{area}.{name}")


@sqlite_only
async def test_a_generated_client_has_natural_names_and_works(
    api: httpx.AsyncClient, generated_client: Path
) -> None:
    generate(await document(api), generated_client)
    models = importlib.import_module(f"{GENERATED}.models")
    for name in ("Webhook", "WebhookCreate", "WebhookList", "EventAccepted", "LogEntryList"):
        assert inspect.isclass(getattr(models, name, None)), f"no model {name}"
    assert not [n for n in models.__all__ if "Public" in n or n.startswith("ListResponse")]
    create_tenant = operation("tenants", "create_tenant")
    create_webhook = operation("webhooks", "create_webhook")
    send_test_event = operation("event_log", "send_test_event")
    list_webhook_logs = operation("event_log", "list_webhook_logs")
    send_event = operation("events", "send_event")
    # The test event is answered as sending an event is.
    answers = inspect.signature(send_event.asyncio).return_annotation
    assert "EventAccepted" in str(answers)
    assert inspect.signature(send_test_event.asyncio).return_annotation == answers

    client = importlib.import_module(GENERATED).AuthenticatedClient(str(api.base_url), "unused")
    client.set_async_httpx_client(api)  # the admin's, talking to the app in-process
    tenant = await create_tenant.asyncio(client=client, body=models.TenantCreate(name="Acme"))
    assert isinstance(tenant, models.Tenant), tenant
    body = models.WebhookCreate(name="Orders", url="http://127.0.0.1:9/webhook")
    webhook = await create_webhook.asyncio(tenant.id, client=client, body=body)
    assert isinstance(webhook, models.Webhook), webhook
    accepted = await send_test_event.asyncio(tenant.id, webhook.id, client=client)
    assert isinstance(accepted, models.EventAccepted), accepted
    assert (accepted.event, accepted.deliveries) == ("webhook.test", 1)
    logs = await list_webhook_logs.asyncio(tenant.id, webhook.id, client=client)
    assert isinstance(logs, models.LogEntryList) and logs.data == [], logs
