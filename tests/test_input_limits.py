"""Input no column or receiver can take is a 4xx naming the rule, never a 500 (both databases).

JSON nested too deep, numbers JSON has not, text that is not Unicode, NUL
where PostgreSQL text cannot hold it, cursors that were tampered with, times
past the ends of the calendar, and ids no resource can have.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from hookwire.api.deps import MAX_CURSOR_CHARS
from hookwire.api.problems import domain_problem
from hookwire.dashboard.forms import json_object, parse_moment
from hookwire.errors import FieldError, Invalid
from hookwire.jsonvalues import MAX_JSON_DEPTH, json_value_problem

PROBLEM = "application/problem+json"
DEEPER = f"nested deeper than {MAX_JSON_DEPTH} levels"


def nested(depth: int) -> dict[str, Any]:
    """An object ``depth`` levels deep: ``{"a": {"a": … {"leaf": true}}}``."""
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _errors(response: httpx.Response, status: int = 422) -> dict[str, str]:
    """The problem's field errors, by field."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return {e["field"]: e["message"] for e in response.json().get("errors") or []}


@pytest.fixture
async def acme(api: httpx.AsyncClient) -> dict[str, str]:
    """A tenant with an event type, a webhook, an event and its delivery: their ids."""
    assert (await api.post("/v1/event-types", json={"name": "license.created"})).is_success
    assert (await api.post("/v1/tenants", json={"id": "acme", "name": "Acme"})).is_success
    hook = {"name": "n", "url": "http://127.0.0.1:9/hook"}
    webhook = (await api.post("/v1/tenants/acme/webhooks", json=hook)).json()
    event = {"event": "license.created", "data": {}, "id": "e-1"}
    assert (await api.post("/v1/tenants/acme/events", json=event)).status_code == 202
    stored = (await api.get("/v1/tenants/acme/events/e-1")).json()
    return {
        "tenant": "acme",
        "webhook": webhook["id"],
        "event": stored["id"],
        "delivery": stored["deliveries"][0]["id"],
    }


async def _trigger(api: httpx.AsyncClient, data: Any) -> httpx.Response:
    return await api.post(
        "/v1/tenants/acme/events", json={"event": "license.created", "data": data}
    )


async def _trigger_raw(api: httpx.AsyncClient, data: bytes) -> httpx.Response:
    body = b'{"event": "license.created", "data": ' + data + b"}"
    headers = {"Content-Type": "application/json"}
    return await api.post("/v1/tenants/acme/events", content=body, headers=headers)


# --- nesting ------------------------------------------------------------------------


async def test_event_data_at_the_nesting_limit_is_stored_and_read_back(
    api: httpx.AsyncClient, acme: dict[str, str]
) -> None:
    deepest = nested(MAX_JSON_DEPTH)
    assert (await _trigger(api, deepest)).status_code == 202
    listed = await api.get("/v1/tenants/acme/events")
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"][0]["data"] == deepest


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 300, 990])
async def test_event_data_nested_deeper_is_refused_and_reads_keep_working(
    api: httpx.AsyncClient, acme: dict[str, str], depth: int
) -> None:
    text = b'{"a": ' * (depth - 1) + b'{"leaf": true}' + b"}" * (depth - 1)  # as nested(depth)
    response = await _trigger_raw(api, text)
    # Named by its field, or as the body's when Python's own parser gave up first.
    assert _errors(response) in ({"data": DEEPER}, {"body": DEEPER})
    if depth < 500:
        assert response.json()["detail"] == f"invalid request: data: {DEEPER}"
    listed = await api.get("/v1/tenants/acme/events")
    assert listed.status_code == 200 and len(listed.json()["data"]) == 1  # the seed's


async def test_nesting_past_what_python_parses_is_a_clean_422(
    api: httpx.AsyncClient, acme: dict[str, str]
) -> None:
    response = await _trigger_raw(api, b"[" * 100_000 + b"]" * 100_000)
    assert _errors(response) == {"body": DEEPER}


async def test_every_json_field_has_the_same_limit(api: httpx.AsyncClient) -> None:
    too_deep = nested(MAX_JSON_DEPTH + 1)
    response = await api.post("/v1/event-types", json={"name": "a.b", "schema": too_deep})
    assert _errors(response) == {"schema": DEEPER}
    response = await api.post("/v1/tenants", json={"name": too_deep})
    assert _errors(response) == {"name": DEEPER}


# --- numbers and text that JSON, UTF-8 or PostgreSQL cannot carry ---------------------


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
async def test_numbers_that_are_not_json_are_refused(
    api: httpx.AsyncClient, acme: dict[str, str], number: bytes
) -> None:
    response = await _trigger_raw(api, b'{"amount": [1, ' + number + b"]}")
    message = _errors(response)["data"]
    assert message.startswith("a number is NaN or infinite")
    assert message.endswith("(at data.amount[1])")


@pytest.mark.parametrize(
    "data", [b'{"name": "\\ud800"}', b'{"\\udfff": 1}', b'{"a": ["ok", "x\\ud83dy"]}']
)
async def test_lone_surrogates_are_refused(
    api: httpx.AsyncClient, acme: dict[str, str], data: bytes
) -> None:
    message = _errors(await _trigger_raw(api, data))["data"]
    assert "lone surrogate" in message


async def test_bytes_that_are_not_utf8_are_refused(
    api: httpx.AsyncClient, acme: dict[str, str]
) -> None:
    assert _errors(await _trigger_raw(api, b'{"name": "\xff"}')) == {
        "body": "the body is not valid UTF-8 text"
    }


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/tenants", {"name": "Ac\u0000me"}, "name"),
        ("/v1/event-types", {"name": "a.b", "description": "\u0000"}, "description"),
        ("/v1/event-types", {"name": "a.b", "schema": {"title": "\u0000"}}, "schema"),
        ("/v1/event-types", {"name": "a.b", "schema": {"properties": {"\u0000": {}}}}, "schema"),
        ("/v1/tenants/acme/webhooks", {"name": "n\u0000", "url": "http://127.0.0.1/"}, "name"),
        ("/v1/tenants/acme/webhooks", {"name": "n", "url": "http://127.0.0.1/\u0000"}, "url"),
        ("/v1/tenants/acme/api-keys", {"name": "ci\u0000"}, "name"),
    ],
)
async def test_nul_in_a_body_string_is_refused_naming_the_field(
    api: httpx.AsyncClient, acme: dict[str, str], path: str, body: dict[str, Any], field: str
) -> None:
    assert "NUL character" in _errors(await api.post(path, json=body))[field]


async def test_nul_in_event_data_is_kept_as_sent(
    api: httpx.AsyncClient, acme: dict[str, str]
) -> None:
    # The payload is stored as bytes and sent as the JSON escape \u0000.
    data = {"note": "before\u0000after", "\u0000key": 1}
    response = await _trigger(api, data)
    assert response.status_code == 202, response.text
    stored = await api.get(f"/v1/tenants/acme/events/{response.json()['id']}")
    assert stored.json()["data"] == data


# --- cursors ------------------------------------------------------------------------


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


TAMPERED_CURSORS = [
    _cursor([1, 2]),
    _cursor([{"a": 1}, "id"]),
    _cursor(["2024-05-01T00:00:00+00:00", 5]),
    _cursor(["2024-05-01T00:00:00+00:00", ["id"]]),
    _cursor(["9999-12-31T23:59:59-01:00", "id"]),
    _cursor(["0001-01-01T00:00:00+01:00", "id"]),
    _cursor(["2024-05-01T00:00:00", "id"]),
    _cursor(["2024-05-01T00:00:00+00:00", "id\u0000"]),
    _cursor(["name\u0000"]),
    _cursor("not a list"),
    _cursor([]),
    base64.urlsafe_b64encode(b"[" * 700).decode(),
    "%%%not-base64%%%",
    "x" * (MAX_CURSOR_CHARS + 1),
]
LISTS = [
    "/v1/event-types",
    "/v1/tenants",
    "/v1/tenants/acme/api-keys",
    "/v1/tenants/acme/webhooks",
    "/v1/tenants/acme/events",
    "/v1/tenants/acme/webhooks/{webhook}/logs",
]


async def test_tampered_cursors_are_422(api: httpx.AsyncClient, acme: dict[str, str]) -> None:
    for cursor in TAMPERED_CURSORS:
        for path in LISTS:
            response = await api.get(path.format(**acme), params={"cursor": cursor})
            assert response.status_code == 422, (path, cursor, response.text)
            assert list(_errors(response)) == ["query.cursor"], (path, cursor)


async def test_handed_out_cursors_still_page(api: httpx.AsyncClient, acme: dict[str, str]) -> None:
    for n in range(3):
        assert (await _trigger(api, {"n": n})).status_code == 202
    seen: list[Any] = []
    cursor = None
    while True:
        page = await api.get("/v1/tenants/acme/events", params={"limit": 1, "cursor": cursor})
        assert page.status_code == 200, page.text
        seen += [e["data"] for e in page.json()["data"]]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    assert seen == [{"n": 2}, {"n": 1}, {"n": 0}, {}]


# --- times at the ends of the calendar ----------------------------------------------

EDGES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("moment", EDGES)
async def test_times_that_leave_the_calendar_in_utc_are_422_naming_the_field(
    api: httpx.AsyncClient, acme: dict[str, str], moment: str
) -> None:
    logs = f"/v1/tenants/acme/webhooks/{acme['webhook']}/logs"
    for name in ("since", "until"):
        message = _errors(await api.get(logs, params={name: moment}))[f"query.{name}"]
        assert "0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z" in message
    recover = await api.post(
        f"/v1/tenants/acme/webhooks/{acme['webhook']}/recover", json={"since": moment}
    )
    assert "since" in _errors(recover)


async def test_times_just_inside_the_calendar_work(
    api: httpx.AsyncClient, acme: dict[str, str]
) -> None:
    logs = f"/v1/tenants/acme/webhooks/{acme['webhook']}/logs"
    params = {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"}
    assert (await api.get(logs, params=params)).status_code == 200


def test_the_dashboard_refuses_the_same_times_and_json() -> None:
    with pytest.raises(Invalid) as refused:
        parse_moment(EDGES[0], "", "since")
    assert domain_problem(refused.value).status_code == 422 and refused.value.errors
    assert refused.value.errors[0].field == "since"
    with pytest.raises(Invalid) as too_deep:
        json_object("[" * 100_000, "data")
    assert too_deep.value.errors == [FieldError("data", DEEPER)]


# --- ids and query values no resource can have -----------------------------------------

PATHS_WITH_IDS = [
    "/v1/event-types/{bad}",
    "/v1/tenants/{bad}",
    "/v1/tenants/{bad}/webhooks",
    "/v1/tenants/acme/webhooks/{bad}",
    "/v1/tenants/acme/webhooks/{bad}/logs",
    "/v1/tenants/acme/events/{bad}",
    "/v1/tenants/acme/deliveries/{bad}",
]


async def test_control_characters_in_a_path_are_404(
    api: httpx.AsyncClient, acme: dict[str, str]
) -> None:
    for bad in ["%00", "a%00b", "a%01b", "%7F", "a%0Ab", "%E2%80%A8"]:
        for path in PATHS_WITH_IDS:
            response = await api.get(path.format(bad=bad))
            assert response.status_code == 404, (path, response.text)
            assert response.headers["content-type"] == PROBLEM
        response = await api.delete(f"/v1/tenants/acme/webhooks/{bad}")
        assert response.status_code == 404
    assert (await api.get(f"/v1/tenants/acme/webhooks/{acme['webhook']}")).status_code == 200


async def test_nul_in_a_query_value_is_422_naming_the_parameter(
    api: httpx.AsyncClient, acme: dict[str, str]
) -> None:
    events = await api.get("/v1/tenants/acme/events", params={"event": "license\u0000"})
    assert list(_errors(events)) == ["query.event"]
    logs = f"/v1/tenants/acme/webhooks/{acme['webhook']}/logs"
    assert list(_errors(await api.get(logs, params={"event": "\u0000"}))) == ["query.event"]


# --- the rules themselves ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "allow_nul", "expected"),
    [
        ({"a": [1, 2.5, "x", None, True]}, False, None),
        ({"a": "x\u0000"}, True, None),
        (
            {"a": "x\u0000"},
            False,
            (".a", "contains a NUL character (\\u0000), which cannot be stored"),
        ),
        (
            {"k\u0000": 1},
            False,
            (".k\\x00", "contains a NUL character (\\u0000), which cannot be stored"),
        ),
        (
            [1, [float("nan")]],
            False,
            ("[1][0]", "a number is NaN or infinite (as 1e400 becomes); JSON has no such numbers"),
        ),
        (
            {"x": "\udc00"},
            True,
            (".x", "contains a lone surrogate (\\udc00), which is not a Unicode character"),
        ),
        (nested(MAX_JSON_DEPTH), False, None),
        (nested(MAX_JSON_DEPTH + 1), False, ("", DEEPER)),
        ("plain text", False, None),
    ],
)
def test_json_value_rules(value: Any, allow_nul: bool, expected: tuple[str, str] | None) -> None:
    assert json_value_problem(value, allow_nul=allow_nul) == expected
