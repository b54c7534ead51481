"""Errors are RFC 9457 problem+json a person can act on; bad input changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hookwire.config import Settings
from hookwire.storage import Storage
from tests.conftest import ADMIN_KEY

PROBLEM = "application/problem+json"


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status and isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDp5"}]
)
async def test_requests_without_a_valid_key_are_401(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    r = await api.get("/v1/tenants", headers={"Authorization": "", **headers})
    body = _assert_problem(r, 401)
    assert "API key" in str(body["detail"])
    assert r.headers["www-authenticate"] == "Bearer"


async def test_unauthenticated_writes_change_nothing(api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/tenants", json={"name": "x"}, headers={"Authorization": "Bearer no"})
    _assert_problem(r, 401)
    assert (await api.get("/v1/tenants")).json()["data"] == []


async def test_malformed_json_is_422_not_500(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/v1/tenants", content=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    body = _assert_problem(r, 422)
    assert "not valid JSON" in str(body["detail"])


async def test_wrong_json_types_are_422(api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/tenants", json=["not", "an", "object"])
    _assert_problem(r, 422)
    r = await api.post("/v1/tenants", json={"name": 5})
    _assert_problem(r, 422)


async def test_body_over_the_limit_is_413(api: httpx.AsyncClient, settings: Settings) -> None:
    big = b'{"name": "' + b"x" * settings.max_body_bytes + b'"}'
    r = await api.post("/v1/tenants", content=big, headers={"Content-Type": "application/json"})
    body = _assert_problem(r, 413)
    assert str(settings.max_body_bytes) in str(body["detail"])
    assert (await api.get("/v1/tenants")).json()["data"] == []


async def test_streamed_body_over_the_limit_is_413(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    r = await api.post(
        "/v1/tenants", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _assert_problem(r, 413)


async def test_unknown_path_is_a_problem_404(api: httpx.AsyncClient) -> None:
    body = _assert_problem(await api.get("/v1/nothing-here"), 404)
    assert "/docs" in str(body["detail"])


async def test_wrong_method_is_405(api: httpx.AsyncClient) -> None:
    _assert_problem(await api.put("/v1/tenants"), 405)


async def test_operational_routes_need_no_key(api: httpx.AsyncClient) -> None:
    bare = {"Authorization": ""}
    assert (await api.get("/healthz", headers=bare)).json() == {"status": "ok"}
    assert (await api.get("/readyz", headers=bare)).json() == {"status": "ready"}
    metrics = await api.get("/metrics", headers=bare)
    assert metrics.status_code == 200 and "hookwire_events_accepted" in metrics.text
    docs = await api.get("/docs", headers=bare)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_readyz_reports_an_unreachable_database(settings: Settings, storage: Storage) -> None:
    from hookwire.app import create_app

    app = create_app(settings, storage)
    await storage.close()
    broken = Settings(
        **{**settings.model_dump(), "database_url": "postgresql://nobody@127.0.0.1:1/x"}
    )
    from hookwire.bootstrap import open_storage
    from hookwire.service import Services

    app.state.storage = open_storage(broken)
    app.state.services = Services(app.state.storage, broken, app.state.metrics)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/readyz")
    await app.state.storage.close()
    _assert_problem(r, 503)


async def test_openapi_describes_every_route(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/v1/event-types",
        "/v1/event-types/{name}",
        "/v1/tenants",
        "/v1/tenants/{tenant_id}",
        "/v1/tenants/{tenant_id}/api-keys",
        "/v1/tenants/{tenant_id}/webhooks",
        "/v1/tenants/{tenant_id}/webhooks/{webhook_id}",
        "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/rotate-token",
        "/v1/tenants/{tenant_id}/events",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    create = paths["/v1/tenants/{tenant_id}/webhooks"]["post"]
    assert "requestBody" in create
    assert create["responses"]["201"]["content"]["application/json"]["schema"]
    assert "Webhook" in spec["components"]["schemas"]
    assert ADMIN_KEY not in str(spec)


async def test_openapi_documents_every_error_as_problem_json(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {s: r for s, r in responses.items() if s[0] in "45"}
            for status, response in errors.items():
                assert list(response["content"]) == [PROBLEM], (method, path, status)
            if path.startswith("/v1/"):
                assert {"401", "403", "404"} <= set(errors), (method, path)
            if method in ("post", "patch"):
                assert {"413", "422"} <= set(errors), (method, path)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_an_empty_cursor_means_the_first_page(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v1/tenants", json={"name": "A"})).status_code == 201
    r = await api.get("/v1/tenants", params={"cursor": ""})
    assert r.status_code == 200 and len(r.json()["data"]) == 1


async def test_validator_messages_read_as_written(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v1/tenants", json={"id": "acme", "name": "A"})).status_code == 201
    r = await api.post("/v1/tenants/acme/webhooks", json={"name": "n", "url": ""})
    message = {e["field"]: e["message"] for e in r.json()["errors"]}["url"]
    assert message == "the URL must be absolute and start with http:// or https://"
