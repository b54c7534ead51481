"""Custom webhook headers: printable ASCII values of bounded length, names of bounded length."""

from __future__ import annotations

import httpx
import pytest

from hookwire.service.inputs import MAX_HEADER_NAME_CHARS, MAX_HEADER_VALUE_CHARS

VALID = {"name": "Orders", "url": "https://receiver.example/hook", "events": ["license.created"]}
PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))
LONGEST_NAME = "X-" + "n" * (MAX_HEADER_NAME_CHARS - 2)


@pytest.fixture
async def tenant(api: httpx.AsyncClient) -> str:
    assert (await api.post("/v1/event-types", json={"name": "license.created"})).is_success
    assert (await api.post("/v1/tenants", json={"id": "acme", "name": "Acme"})).is_success
    return "acme"


REFUSED = [
    ({"X-Team": "café"}, "printable ASCII", "'é' at position 3"),
    ({"X-Team": "billing\u2028team"}, "printable ASCII", "position 7"),
    ({"X-Team": "a\r\nInjected: 1"}, "no CR, LF", "'\\r' at position 1"),
    ({"X-Team": "line\nbreak"}, "printable ASCII", "'\\n'"),
    ({"X-Team": "tab\there"}, "printable ASCII", "'\\t'"),
    ({"X-Team": "bell\x07"}, "printable ASCII", "'\\x07'"),
    ({"X-Team": "delete\x7f"}, "printable ASCII", "'\\x7f'"),
    ({"X-Team": "x" * (MAX_HEADER_VALUE_CHARS + 1)}, "characters long", "at most 1024"),
    ({LONGEST_NAME + "n": "x"}, "header names are at most 256 characters long", "has 257"),
]


@pytest.mark.parametrize(("headers", "rule", "detail"), REFUSED)
async def test_header_values_outside_the_rules_are_refused(
    api: httpx.AsyncClient, tenant: str, headers: dict[str, str], rule: str, detail: str
) -> None:
    base = f"/v1/tenants/{tenant}/webhooks"
    r = await api.post(base, json={**VALID, "headers": headers})
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "headers"
    assert rule in error["message"] and detail in error["message"], error["message"]
    assert (await api.get(base)).json()["data"] == []

    created = await api.post(base, json=VALID)
    assert created.status_code == 201, created.text
    path = f"{base}/{created.json()['id']}"
    r = await api.patch(path, json={"headers": headers})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["headers"]
    assert (await api.get(path)).json()["headers"] == {}


async def test_a_nul_in_a_header_value_is_refused(api: httpx.AsyncClient, tenant: str) -> None:
    r = await api.post(
        f"/v1/tenants/{tenant}/webhooks", json={**VALID, "headers": {"X-Team": "a\x00b"}}
    )
    assert r.status_code == 422, r.text
    assert [e["field"].split(".")[0] for e in r.json()["errors"]] == ["headers"]


async def test_every_printable_ascii_character_and_the_longest_allowed_are_kept(
    api: httpx.AsyncClient, tenant: str
) -> None:
    headers = {
        "X-Printable": PRINTABLE_ASCII,
        "X-Long": "v" * MAX_HEADER_VALUE_CHARS,
        LONGEST_NAME: "x",
    }
    r = await api.post(f"/v1/tenants/{tenant}/webhooks", json={**VALID, "headers": headers})
    assert r.status_code == 201, r.text
    stored = (await api.get(f"/v1/tenants/{tenant}/webhooks/{r.json()['id']}")).json()
    assert stored["headers"] == headers
