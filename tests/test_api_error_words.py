"""Every 422 says what to change in the API's words: no offsets posing as fields,
no pydantic phrases, no regular expressions; and an event that reaches nobody
says why.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

JSON = {"Content-Type": "application/json"}


def problem(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def no_jargon(body: dict[str, Any]) -> None:
    text = str(body)
    for phrase in ("String should match pattern", "Input should be", "^[", "model_attributes"):
        assert phrase not in text, text


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> str:
    assert (await api.post("/v1/event-types", json={"name": "license.created"})).is_success
    assert (await api.post("/v1/tenants", json={"id": "acme", "name": "Acme"})).is_success
    return "acme"


async def test_a_json_syntax_error_names_the_body_with_line_and_column(
    api: httpx.AsyncClient, tenant: str
) -> None:
    body = b'{"event": "license.created",\n "data": {,}}'
    answer = problem(await api.post(f"/v1/tenants/{tenant}/events", content=body, headers=JSON))
    assert answer["errors"] == [
        {
            "field": "body",
            "message": "the body is not valid JSON at line 2, column 11: "
            "Expecting property name enclosed in double quotes",
        }
    ]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_not_sent_as_json_says_which_header_to_send(
    api: httpx.AsyncClient, tenant: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"event": "license.created", "data": {}}'
    answer = problem(await api.post(f"/v1/tenants/{tenant}/events", content=body, headers=headers))
    [error] = answer["errors"]
    assert error["field"] == "body"
    assert "`Content-Type: application/json`" in error["message"]
    assert (f"`{content_type}`" if content_type else "none") in error["message"]
    events = await api.get(f"/v1/tenants/{tenant}/events")
    assert events.json()["data"] == [], "nothing is stored"


async def test_a_body_that_is_not_an_object_says_so(api: httpx.AsyncClient, tenant: str) -> None:
    answer = problem(await api.post(f"/v1/tenants/{tenant}/events", json=["license.created"]))
    assert answer["errors"] == [{"field": "body", "message": "the body must be a JSON object"}]


async def test_an_event_type_name_gives_the_rule_in_words(api: httpx.AsyncClient) -> None:
    answer = problem(await api.post("/v1/event-types", json={"name": "License Created"}))
    no_jargon(answer)
    [error] = answer["errors"]
    assert error["field"] == "name"
    assert "lowercase words separated by dots, like license.created" in error["message"]


async def test_a_webhooks_event_list_gives_the_rule_in_words(
    api: httpx.AsyncClient, tenant: str
) -> None:
    hook = {"name": "w", "url": "https://example.com/h", "events": ["License.Created"]}
    answer = problem(await api.post(f"/v1/tenants/{tenant}/webhooks", json=hook))
    no_jargon(answer)
    assert "lowercase words separated by dots" in answer["errors"][0]["message"]


async def test_a_client_id_gives_the_rule_in_words(api: httpx.AsyncClient) -> None:
    answer = problem(await api.post("/v1/tenants", json={"id": "-acme", "name": "Acme"}))
    no_jargon(answer)
    assert answer["errors"] == [
        {
            "field": "id",
            "message": "must be letters, digits and . _ : - only, starting with a "
            "letter or a digit",
        }
    ]


async def test_an_event_that_reaches_no_webhook_says_why(
    api: httpx.AsyncClient, tenant: str
) -> None:
    event = {"event": "license.created", "data": {}}
    path = f"/v1/tenants/{tenant}/events"

    async def hint() -> str | None:
        answer = await api.post(path, json=event)
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert (body["deliveries"] == 0) == (body["hint"] is not None)
        said: str | None = body["hint"]
        return said

    assert await hint() == "the tenant has no webhooks yet: add one to receive events"
    other = {"name": "o", "url": "https://example.com/o", "events": ["license.expired"]}
    assert (await api.post("/v1/event-types", json={"name": "license.expired"})).is_success
    assert (await api.post(f"/v1/tenants/{tenant}/webhooks", json=other)).is_success
    assert await hint() == "no webhook of this tenant subscribes to license.created"
    hook = {"name": "w", "url": "https://example.com/h", "events": ["*"], "active": False}
    created = await api.post(f"/v1/tenants/{tenant}/webhooks", json=hook)
    assert created.is_success, created.text
    assert await hint() == "the webhooks subscribing to license.created are disabled"
    enabled = await api.patch(
        f"/v1/tenants/{tenant}/webhooks/{created.json()['id']}", json={"active": True}
    )
    assert enabled.is_success, enabled.text
    assert await hint() is None
