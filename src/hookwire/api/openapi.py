"""The OpenAPI description, with every error answer documented as problem+json.

FastAPI documents only the success answer and its own 422 shape; hookwire's
errors are RFC 9457 problem details for every route, so they are added here
from what each route can answer: a key (401), the admin key (403), something
that exists and is yours (404), a free id (409), a body under the limit (413),
valid input (422).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from hookwire.api.problems import PROBLEM_MEDIA_TYPE

_DESCRIPTIONS = {
    "401": "No valid API key (`Authorization: Bearer <key>`).",
    "403": "The route needs the admin key.",
    "404": "Not found, or another tenant's.",
    "409": "Conflicts with something that exists.",
    "413": "The request body is over the limit.",
    "422": "Invalid input; `errors` names each field.",
    "503": "The database cannot be reached.",
}
_BODY_METHODS = frozenset({"post", "put", "patch"})
_REF = {"$ref": "#/components/schemas/Problem"}


class FieldError(BaseModel):
    field: str = Field(description="Where: a body field, or query./path./header. and its name.")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of hookwire's is answered."""

    type: str
    title: str
    status: int
    detail: str = Field(description="What went wrong and what to change.")
    errors: list[FieldError] | None = Field(None, description="For 422: each invalid field.")


def _statuses(path: str, method: str, operation: dict[str, Any]) -> set[str]:
    statuses = {"422"} if operation.get("parameters") or method in _BODY_METHODS else set()
    if path.startswith("/v1/"):
        statuses |= {"401", "403", "404"}
    if method in _BODY_METHODS:
        statuses |= {"409", "413", "422"}
    if path == "/readyz":
        statuses.add("503")
    return statuses


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with problem+json error answers (built once)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        routes=app.routes,
        # One schema per model, named as the class: never `Webhook-Input` beside `Webhook-Output`.
        separate_input_output_schemas=False,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(
                _statuses(path, method, operation)
                | {s for s in responses if s.startswith(("4", "5"))}
            ):
                responses[status] = {
                    "description": _DESCRIPTIONS.get(status, "An error."),
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": _REF}},
                }
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema


def operation_id(route: APIRoute) -> str:
    """``createWebhook``, ``listWebhookLogs``: the route function's name in camelCase.

    FastAPI's default joins the name, path and method
    (``create_webhook_v1_tenants__tenant_id__webhooks_post``), which a client
    generated from /openapi.json turns into its method names. Route functions
    are named for what they do, once each (a test checks that).
    """
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)
