"""Admin pages: tenants (with the tenant picker's list), their API keys, and the catalogue."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from hookwire.dashboard.forms import form_errors, json_object, text
from hookwire.dashboard.render import (
    DashboardRoute,
    cursor_of,
    listing,
    redirect,
    render,
    tenant_url,
    with_tenant,
)
from hookwire.dashboard.session import (
    AdminViewerDep,
    ChosenTenantDep,
    TenantViewDep,
    services_of,
)
from hookwire.errors import Conflict, Invalid
from hookwire.records import EventType
from hookwire.service.auth import API_KEY_TOUCH_INTERVAL_SECONDS
from hookwire.service.inputs import (
    ApiKeyCreate,
    EventTypeCreate,
    EventTypeUpdate,
    TenantCreate,
    parse_input,
)

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
PAGE_SIZE = 50

# The tenants and event types pages take ChosenTenantDep: the admin check, and the
# tenant chosen before (``?tenant=``) kept for the navigation, the forms and redirects.


# --- tenants ------------------------------------------------------------------


async def _tenants_page(
    request: Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    cursor = cursor_of(request)
    page = await services_of(request).tenants.list(PAGE_SIZE, cursor)
    context = {
        "section": "tenants",
        **listing("tenants", page, cursor),
        "values": values or {"name": "", "id": ""},
        "errors": errors or {},
    }
    return render(request, "tenants.html", context, status=status)


@router.get("/tenants")
async def tenants(request: Request, chosen: ChosenTenantDep) -> Response:
    """Every tenant, to pick one; and a form to add one."""
    del chosen
    return await _tenants_page(request)


@router.post("/tenants")
async def create_tenant(request: Request, chosen: ChosenTenantDep) -> Response:
    """Add a tenant, validated as ``POST /v1/tenants`` is."""
    form = await request.form()
    values = {"name": text(form, "name").strip(), "id": text(form, "id").strip()}
    try:
        new = parse_input(TenantCreate, {"name": values["name"], "id": values["id"] or None})
        await services_of(request).tenants.create(new)
    except (Invalid, Conflict) as exc:
        errors = form_errors(exc, "id")
        return await _tenants_page(request, values=values, errors=errors, status=422)
    return redirect(request, with_tenant("/tenants?notice=tenant-created", chosen))


# --- a tenant's API keys ----------------------------------------------------------


async def _keys_page(
    request: Request,
    tenant_id: str,
    *,
    new_key: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    cursor = cursor_of(request)
    page = await services_of(request).tenants.list_keys(tenant_id, PAGE_SIZE, cursor)
    context = {
        "section": "keys",
        **listing("keys", page, cursor),
        "new_key": new_key,
        "touch_seconds": API_KEY_TOUCH_INTERVAL_SECONDS,
        "values": values or {"name": ""},
        "errors": errors or {},
    }
    return render(request, "keys.html", context, status=status)


# The admin check comes first, so a tenant key sees these pages as absent even
# for its own tenant: keys are the operator's to hand out.
@router.get("/t/{tenant_id}/keys")
async def api_keys(request: Request, viewer: AdminViewerDep, tv: TenantViewDep) -> Response:
    """A tenant's keys, a form to create one, and a Revoke button for each."""
    del viewer
    return await _keys_page(request, tv.id)


@router.post("/t/{tenant_id}/keys")
async def create_api_key(request: Request, viewer: AdminViewerDep, tv: TenantViewDep) -> Response:
    """Create a key, validated as ``POST /v1/tenants/{id}/api-keys`` is, and show it once."""
    del viewer
    form = await request.form()
    values = {"name": text(form, "name").strip()}
    try:
        created = await services_of(request).tenants.create_key(
            tv.id, parse_input(ApiKeyCreate, values)
        )
    except Invalid as exc:
        errors = form_errors(exc, "name")
        return await _keys_page(request, tv.id, values=values, errors=errors, status=422)
    # Answered here rather than after a redirect: the key must not travel in a URL.
    new_key = {"name": created.record.name, "key": created.key}
    return await _keys_page(request, tv.id, new_key=new_key)


@router.post("/t/{tenant_id}/keys/{key_id}/revoke")
async def revoke_api_key(
    key_id: str, request: Request, viewer: AdminViewerDep, tv: TenantViewDep
) -> Response:
    """Revoke a key (after the confirmation dialog): it and its sessions end at once."""
    del viewer
    await services_of(request).tenants.revoke_key(tv.id, key_id)
    return redirect(request, tenant_url(tv.id, "keys") + "?notice=key-revoked")


# --- event types -----------------------------------------------------------------


def _schema_text(schema: dict[str, Any] | None) -> str:
    return "" if schema is None else json.dumps(schema, indent=2)


async def _event_types_page(
    request: Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    cursor = cursor_of(request)
    page = await services_of(request).catalog.list(PAGE_SIZE, cursor)
    context = {
        "section": "event-types",
        **listing("event_types", page, cursor),
        "values": values or {"name": "", "description": "", "schema": ""},
        "errors": errors or {},
    }
    return render(request, "event_types.html", context, status=status)


@router.get("/event-types")
async def event_types(request: Request, chosen: ChosenTenantDep) -> Response:
    """The catalogue of event types, and a form to add one."""
    del chosen
    return await _event_types_page(request)


@router.post("/event-types")
async def create_event_type(request: Request, chosen: ChosenTenantDep) -> Response:
    """Add an event type, validated as ``POST /v1/event-types`` is."""
    form = await request.form()
    values = {k: text(form, k).strip() for k in ("name", "description", "schema")}
    try:
        schema = json_object(values["schema"], "schema", empty_is_none=True)
        new = parse_input(
            EventTypeCreate,
            {"name": values["name"], "description": values["description"], "schema": schema},
        )
        await services_of(request).catalog.create(new)
    except (Invalid, Conflict) as exc:
        errors = form_errors(exc, "name")
        return await _event_types_page(request, values=values, errors=errors, status=422)
    return redirect(request, with_tenant("/event-types?notice=event-type-created", chosen))


def _event_type_page(
    request: Request,
    event_type: EventType,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "section": "event-types",
        "event_type": event_type,
        "values": values
        or {"description": event_type.description, "schema": _schema_text(event_type.schema)},
        "errors": errors or {},
    }
    return render(request, "event_type.html", context, status=status)


@router.get("/event-types/{name}")
async def event_type(name: str, request: Request, chosen: ChosenTenantDep) -> Response:
    """One event type's form."""
    del chosen
    return _event_type_page(request, await services_of(request).catalog.get(name))


@router.post("/event-types/{name}")
async def update_event_type(name: str, request: Request, chosen: ChosenTenantDep) -> Response:
    """Change an event type's description and schema (an empty schema removes it)."""
    catalog = services_of(request).catalog
    current = await catalog.get(name)
    form = await request.form()
    values = {k: text(form, k).strip() for k in ("description", "schema")}
    try:
        schema = json_object(values["schema"], "schema", empty_is_none=True)
        changes = parse_input(
            EventTypeUpdate, {"description": values["description"], "schema": schema}
        )
        await catalog.update(name, changes)
    except Invalid as exc:
        errors = form_errors(exc, "schema")
        return _event_type_page(request, current, values=values, errors=errors, status=422)
    return redirect(request, with_tenant("/event-types?notice=event-type-updated", chosen))
