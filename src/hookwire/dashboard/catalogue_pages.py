"""The event catalogue as a tenant sees it: each type's description, schema and an example.

Read-only, for anyone who may see the tenant (a tenant key's session, a
portal's, the admin's): the admin keeps the catalogue on the Event types page.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from hookwire.dashboard.render import DashboardRoute, render
from hookwire.dashboard.session import TenantViewDep, services_of

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
# How deep an example follows nested schemas; deeper values are left null.
EXAMPLE_MAX_DEPTH = 6
EXAMPLE_TRIGGERED_AT = "2024-05-01T12:00:00.000000Z"
_PLACEHOLDERS: dict[str, Any] = {
    "string": "string",
    "integer": 0,
    "number": 0,
    "boolean": True,
    "null": None,
}


def example_value(schema: Any, depth: int = 0) -> Any:
    """A value that shows the shape ``schema`` asks for.

    The schema's own ``examples``, ``example``, ``const``, ``default`` or first
    ``enum`` value when it gives one; else an object of its properties' examples,
    an array of one item's, or a stand-in of its type (_PLACEHOLDERS). ``$ref`` and
    combinations other than a first ``anyOf``/``oneOf`` branch are not followed.
    """
    if not isinstance(schema, dict) or depth > EXAMPLE_MAX_DEPTH:
        return None
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    for keyword in ("example", "const", "default"):
        if keyword in schema:
            return schema[keyword]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for keyword in ("anyOf", "oneOf"):
        branches = schema.get(keyword)
        if isinstance(branches, list) and branches:
            return example_value(branches[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    properties = schema.get("properties")
    if kind == "object" or (kind is None and isinstance(properties, dict)):
        if not isinstance(properties, dict):
            return {}
        return {name: example_value(sub, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        return [example_value(schema.get("items"), depth + 1)]
    return _PLACEHOLDERS.get(kind) if isinstance(kind, str) else None


def example_body(name: str, schema: dict[str, Any] | None) -> str:
    """The request body a webhook would receive for an event of this type."""
    data = example_value(schema) if schema is not None else {}
    body = {
        "event": name,
        "data": data if isinstance(data, dict) else {},
        "triggeredAt": EXAMPLE_TRIGGERED_AT,
    }
    return json.dumps(body, indent=2, ensure_ascii=False)


@router.get("/t/{tenant_id}/catalogue")
async def catalogue(request: Request, tv: TenantViewDep) -> Response:
    """Every event type a webhook can subscribe to, with what its requests look like."""
    del tv
    types = await services_of(request).catalog.all()
    context = {
        "section": "catalogue",
        "event_types": types,
        "schemas": {
            t.name: json.dumps(t.schema, indent=2, ensure_ascii=False)
            for t in types
            if t.schema is not None
        },
        "examples": {t.name: example_body(t.name, t.schema) for t in types},
    }
    return render(request, "catalogue.html", context)
