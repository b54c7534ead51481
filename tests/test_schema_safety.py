"""Event-type JSON Schemas cannot fetch, stall or crash the server (both databases).

Schemas are checked when saved (API and dashboard) and again before use, so a
schema stored before these checks existed is answered with a 422 too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookwire.app import create_app
from hookwire.config import Settings
from hookwire.errors import Invalid
from hookwire.jsonvalues import MAX_JSON_DEPTH
from hookwire.storage import Storage
from hookwire.validation import (
    MAX_SCHEMA_BYTES,
    SchemaRefused,
    check_against_schema,
    prepared_validator,
)
from tests.conftest import ADMIN_KEY
from tests.receivers import Receiver

# Generous for what takes milliseconds; the old code took minutes or forever.
LINEAR_TIME_LIMIT_SECONDS = 20
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
LOOKAROUND_PATTERNS = ["(?=a)b", "(?!a)b", "(?<=a)b", "(?<!a)b", r"(a)\1"]


def nested(depth: int) -> dict[str, Any]:
    """A schema ``depth`` levels deep: ``{"not": {"not": … {}}}``."""
    schema: dict[str, Any] = {}
    for _ in range(depth - 1):
        schema = {"not": schema}
    return schema


async def _event_type(api: httpx.AsyncClient, schema: dict[str, Any]) -> httpx.Response:
    return await api.post("/v1/event-types", json={"name": "license.created", "schema": schema})


async def _trigger(api: httpx.AsyncClient, data: dict[str, Any]) -> httpx.Response:
    return await api.post(
        "/v1/tenants/acme/events", json={"event": "license.created", "data": data}
    )


@pytest.fixture
async def acme(api: httpx.AsyncClient) -> str:
    response = await api.post("/v1/tenants", json={"id": "acme", "name": "Acme"})
    assert response.status_code == 201, response.text
    return "acme"


def _problem(response: httpx.Response, status: int = 422) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail: str = response.json()["detail"]
    return detail


# --- references resolve inside the schema only ----------------------------------


@pytest.mark.parametrize("where", ["http", "file"])
async def test_a_schema_referring_outside_itself_is_refused_and_nothing_is_fetched(
    api: httpx.AsyncClient, where: str
) -> None:
    async with Receiver() as receiver:
        ref = receiver.url if where == "http" else "file:///etc/passwd"
        schema = {"type": "object", "properties": {"license": {"$ref": ref}}}
        created = await _event_type(api, schema)
        assert (await _event_type(api, {"type": "object"})).status_code == 201
        patch = await api.patch("/v1/event-types/license.created", json={"schema": schema})
        assert receiver.requests == []
    expected = (
        f"schema: $ref '{ref}' is not allowed: only references inside the schema (#/…) are resolved"
    )
    assert _problem(created) == expected
    assert _problem(patch) == expected
    stored = (await api.get("/v1/event-types/license.created")).json()
    assert stored["schema"] == {"type": "object"}


async def test_a_stored_schema_referring_outside_is_never_fetched_when_events_arrive(
    api: httpx.AsyncClient, storage: Storage, acme: str
) -> None:
    async with Receiver() as receiver:
        # As a schema saved before these checks existed would be.
        await storage.create_event_type("license.created", "", {"$ref": receiver.url})
        response = await _trigger(api, {"key": "K-1"})
        assert receiver.requests == []
    detail = _problem(response)
    assert detail.startswith("the event type's schema cannot be used: $ref")
    assert (await api.get(f"/v1/tenants/{acme}/events")).json()["data"] == []


async def test_local_references_work(api: httpx.AsyncClient, acme: str) -> None:
    schema = {
        "$defs": {"key": {"type": "string", "pattern": "^K-[0-9]+$"}},
        "type": "object",
        "properties": {"key": {"$ref": "#/$defs/key"}, "parent": {"$ref": "#"}},
    }
    assert (await _event_type(api, schema)).status_code == 201
    assert (await _trigger(api, {"key": "K-1", "parent": {"key": "K-2"}})).status_code == 202
    detail = _problem(await _trigger(api, {"parent": {"key": "nope"}}))
    assert detail.startswith("data does not match the event type's schema at data.parent.key")


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"$ref": "#/$defs/missing"}, "$ref '#/$defs/missing' points to nothing in the schema"),
        ({"$ref": "#missing"}, "$ref '#missing' names an anchor the schema does not define"),
        ({"$ref": "#"}, "its references loop without reaching the data"),
        (
            {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}}}
            | {"$ref": "#/$defs/a"},
            "its references loop without reaching the data",
        ),
    ],
)
async def test_references_that_cannot_be_followed_are_refused_when_saved(
    api: httpx.AsyncClient, schema: dict[str, Any], reason: str
) -> None:
    assert _problem(await _event_type(api, schema)).startswith(f"schema: {reason}")


async def test_an_unresolvable_stored_reference_is_a_422_not_a_500(
    api: httpx.AsyncClient, storage: Storage, acme: str
) -> None:
    schema = {"properties": {"key": {"$ref": "#/$defs/missing"}}}
    await storage.create_event_type("license.created", "", schema)
    detail = _problem(await _trigger(api, {"key": "K-1"}))
    assert "points to nothing in the schema" in detail


# --- patterns run in linear time ---------------------------------------------------


EVIL = "a" * 5_000 + "!"  # Python's re takes about 2**5000 steps to refuse it


# A thread, not a signal: a backtracking match never returns to Python to take one.
@pytest.mark.timeout(LINEAR_TIME_LIMIT_SECONDS, method="thread")
@pytest.mark.parametrize(
    ("schema", "evil", "fine"),
    [
        ({"properties": {"key": {"pattern": "^(a+)+$"}}}, {"key": EVIL}, {"key": "aaa"}),
        (
            {"properties": {"key": {"propertyNames": {"pattern": "^(a+)+$"}}}},
            {"key": {EVIL: 1}},
            {"key": {"aaa": 1}},
        ),
        (
            {"patternProperties": {"^(a+)+$": {}}, "additionalProperties": False},
            {EVIL: 1},
            {"aaa": 1},
        ),
    ],
    ids=["pattern", "propertyNames", "additionalProperties"],
)
async def test_a_catastrophic_pattern_answers_at_once(
    api: httpx.AsyncClient,
    acme: str,
    schema: dict[str, Any],
    evil: dict[str, Any],
    fine: dict[str, Any],
) -> None:
    assert (await _event_type(api, schema)).status_code == 201
    detail = _problem(await _trigger(api, evil))
    assert detail.startswith("data does not match the event type's schema")
    assert (await _trigger(api, fine)).status_code == 202


@pytest.mark.parametrize("pattern", LOOKAROUND_PATTERNS)
@pytest.mark.parametrize("where", ["pattern", "patternProperties", "draft-04"])
async def test_patterns_the_linear_time_engine_cannot_run_are_refused_when_saved(
    api: httpx.AsyncClient, pattern: str, where: str
) -> None:
    if where == "pattern":
        schema: dict[str, Any] = {"properties": {"key": {"pattern": pattern}}}
    elif where == "patternProperties":
        schema = {"patternProperties": {pattern: {"type": "string"}}}
    else:  # draft 4's metaschema does not check patternProperties' keys as regexes
        draft4 = "http://json-schema.org/draft-04/schema#"
        schema = {"$schema": draft4, "patternProperties": {pattern: {}}}
    detail = _problem(await _event_type(api, schema))
    assert detail.startswith(f"schema: the pattern {pattern!r} cannot be used (")
    assert "RE2" in detail and "no lookaround" in detail and "no backreferences" in detail


async def test_unevaluated_properties_with_pattern_properties_is_refused(
    api: httpx.AsyncClient,
) -> None:
    schema = {"patternProperties": {"^x-": {}}, "unevaluatedProperties": False}
    detail = _problem(await _event_type(api, schema))
    assert "unevaluatedProperties cannot be combined with patternProperties" in detail


@pytest.mark.timeout(LINEAR_TIME_LIMIT_SECONDS)
async def test_unique_items_over_many_objects_answers_at_once(
    api: httpx.AsyncClient, acme: str
) -> None:
    schema = {"properties": {"tags": {"type": "array", "uniqueItems": True}}}
    assert (await _event_type(api, schema)).status_code == 201
    tags: list[Any] = [{"n": n} for n in range(20_000)]
    assert (await _trigger(api, {"tags": tags})).status_code == 202
    detail = _problem(await _trigger(api, {"tags": [*tags, {"n": 7.0}]}))
    assert "has non-unique elements" in detail
    # JSON Schema equality: 1 and true differ, 1 and 1.0 do not.
    assert (await _trigger(api, {"tags": [1, True, "1", [1], {"1": 1}]})).status_code == 202
    assert _problem(await _trigger(api, {"tags": [{"a": [1, 2]}, {"a": [1.0, 2]}]}))


# --- size, depth, metaschema ---------------------------------------------------------


async def test_schema_size_and_depth_are_bounded(api: httpx.AsyncClient) -> None:
    big = {"enum": ["x" * 1_000] * (MAX_SCHEMA_BYTES // 1_000 + 1)}
    detail = _problem(await _event_type(api, big))
    assert f"at most {MAX_SCHEMA_BYTES} are allowed" in detail
    assert (await _event_type(api, nested(MAX_JSON_DEPTH))).status_code == 201
    detail = _problem(
        await api.patch(
            "/v1/event-types/license.created", json={"schema": nested(MAX_JSON_DEPTH + 1)}
        )
    )
    assert detail == f"invalid request: schema: nested deeper than {MAX_JSON_DEPTH} levels"


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"$schema": "http://example.com/my-draft"}, "is not a JSON Schema draft hookwire knows"),
        ({"$schema": ["not", "a", "uri"]}, "is not a JSON Schema draft hookwire knows"),
        ({"type": "strung"}, "not a valid JSON Schema at schema.type"),
        ({"description": "x\u0000y"}, "contains a NUL character"),
    ],
)
async def test_invalid_schemas_are_refused_with_the_reason(
    api: httpx.AsyncClient, schema: dict[str, Any], reason: str
) -> None:
    assert reason in _problem(await _event_type(api, schema))


async def test_older_drafts_still_validate(api: httpx.AsyncClient, acme: str) -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "properties": {"key": {"type": "string", "pattern": "^K"}},
        "additionalProperties": False,
    }
    assert (await _event_type(api, schema)).status_code == 201
    assert (await _trigger(api, {"key": "K-1"})).status_code == 202
    assert "'other' was unexpected" in _problem(await _trigger(api, {"key": "K", "other": 1}))


# --- the dashboard's event-type forms use the same checks ---------------------------


@pytest.fixture
async def dashboard(settings: Settings, storage: Storage) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client signed in to the dashboard with the admin key."""
    transport = httpx.ASGITransport(app=create_app(settings, storage))
    async with httpx.AsyncClient(transport=transport, base_url="http://hookwire.test") as client:
        form = await client.get("/signin")
        token = CSRF_INPUT.search(form.text)
        assert token is not None
        data = {"api_key": ADMIN_KEY, "csrf_token": token.group(1)}
        assert (await client.post("/signin", data=data)).status_code == 303
        yield client


async def test_the_dashboard_refuses_unsafe_schemas_too(
    dashboard: httpx.AsyncClient, storage: Storage
) -> None:
    for schema, message in [
        ('{"$ref": "http://127.0.0.1:9/schema.json"}', "only references inside the schema"),
        ('{"pattern": "(?=a)"}', "has no lookaround"),
        ("[" * 10_000, f"nested deeper than {MAX_JSON_DEPTH} levels"),
    ]:
        token = CSRF_INPUT.search((await dashboard.get("/event-types")).text)
        assert token is not None
        form = {"name": "license.created", "schema": schema, "csrf_token": token.group(1)}
        response = await dashboard.post("/event-types", data=form)
        assert response.status_code == 422, response.text
        assert message in response.text
    assert (await storage.list_event_types(None, None)).items == []


# --- any schema: refused with a reason, or run; never an exception of another kind ---------

SCHEMA_KEYWORDS = [
    "$schema",
    "$id",
    "$ref",
    "$defs",
    "definitions",
    "$anchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "type",
    "properties",
    "items",
    "prefixItems",
    "additionalItems",
    "contains",
    "required",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "pattern",
    "patternProperties",
    "additionalProperties",
    "unevaluatedProperties",
    "unevaluatedItems",
    "propertyNames",
    "dependencies",
    "dependentSchemas",
    "extends",
    "enum",
    "const",
    "format",
    "uniqueItems",
    "minimum",
]
SCHEMA_WORDS = [
    "#",
    "#/$defs/a",
    "#/definitions/a",
    "#a",
    "a",
    "http://127.0.0.1:9/schema.json",
    "file:///etc/passwd",
    "object",
    "string",
    "array",
    "regex",
    "^(a+)+$",
    "(?=a)",
    "[",
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2019-09/schema",
    "http://json-schema.org/draft-07/schema#",
    "http://json-schema.org/draft-04/schema#",
    "http://json-schema.org/draft-03/schema#",
]
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(SCHEMA_WORDS)
    | st.text(max_size=3)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from([*SCHEMA_KEYWORDS, "a", "b"]), inner, max_size=4)
    ),
    max_leaves=16,
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    schema=st.dictionaries(st.sampled_from(SCHEMA_KEYWORDS), json_values, max_size=5),
    data=st.dictionaries(st.sampled_from(["a", "b", "aaa!"]), json_values, max_size=3),
)
def test_any_schema_is_refused_with_a_reason_or_runs(
    schema: dict[str, Any], data: dict[str, Any]
) -> None:
    try:
        prepared_validator(schema)
    except SchemaRefused as refused:
        assert str(refused)
        return
    try:
        check_against_schema(data, schema)
    except Invalid as problem:
        assert problem.errors
