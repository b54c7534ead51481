"""The Webhooks section: the list, the add form, and the actions on one webhook.

Validation is the API's: ``WebhookCreate``/``WebhookUpdate`` and
``check_event_names``; storage is reached through the same methods.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from hookwire.api.models import WebhookCreate, WebhookUpdate
from hookwire.api.problems import Problem
from hookwire.api.webhooks import check_event_names
from hookwire.dashboard.forms import field_errors, problem_errors, webhook_fields
from hookwire.dashboard.log_pages import render_webhook_page
from hookwire.dashboard.lookups import all_event_types
from hookwire.dashboard.render import (
    DashboardRoute,
    error_page,
    is_htmx,
    redirect,
    render,
    tenant_url,
)
from hookwire.dashboard.session import TenantViewDep, settings_of, storage_of
from hookwire.service import check_webhook_url, send_test_event
from hookwire.signing import SCHEME_HOOKWIRE, generate_token
from hookwire.storage.base import utcnow

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
PAGE_SIZE = 50
ADD_FORM_ID = "add-webhook-form"
EDIT_FORM_ID = "edit-webhook-form"
INPUT_ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,60}$")


def new_webhook_values() -> dict[str, Any]:
    """The add form as it opens: a generated token, enabled, no events chosen yet."""
    return {
        "name": "",
        "url": "",
        "token": generate_token(SCHEME_HOOKWIRE),
        "events": [],
        "active": True,
    }


async def _validate(
    request: Request,
    fields: dict[str, Any],
    model: type[WebhookCreate] | type[WebhookUpdate],
) -> tuple[WebhookCreate | WebhookUpdate | None, dict[str, str]]:
    """The validated body, or the errors by field (URL and catalogue names checked in both)."""
    storage = storage_of(request)
    body: WebhookCreate | WebhookUpdate | None = None
    errors: dict[str, str] = {}
    try:
        body = model.model_validate(fields)
    except ValidationError as exc:
        errors = field_errors(exc)
    if "url" not in errors and fields.get("url"):
        allow_private = settings_of(request).allow_private_networks
        try:
            check_webhook_url(fields["url"], allow_private=allow_private)
        except Problem as exc:
            errors.update(problem_errors(exc, "url"))
    if "events" not in errors:
        try:
            await check_event_names(storage, fields["events"])
        except Problem as exc:
            errors.update(problem_errors(exc, "events"))
    return (body if not errors else None), errors


async def _webhooks_page(
    request: Request,
    tenant_id: str,
    *,
    form_values: dict[str, Any] | None = None,
    form_errors: dict[str, str] | None = None,
    open_form: bool = False,
    status: int = 200,
) -> Response:
    storage = storage_of(request)
    cursor = request.query_params.get("cursor") or None
    page = await storage.list_webhooks(tenant_id, PAGE_SIZE, cursor)
    context = {
        "section": "webhooks",
        "webhooks": page.items,
        "next_cursor": page.next_cursor,
        "paged": cursor is not None,
        "open_form": open_form,
        "form": _form_context(
            ADD_FORM_ID,
            tenant_url(tenant_id, "webhooks"),
            form_values or new_webhook_values(),
            form_errors or {},
            await all_event_types(storage),
            creating=True,
        ),
    }
    return render(request, "webhooks.html", context, status=status)


def _form_context(
    form_id: str,
    action: str,
    values: dict[str, Any],
    errors: dict[str, str],
    catalogue: list[Any],
    *,
    creating: bool,
) -> dict[str, Any]:
    token_url = ""
    if creating:
        # The add form's action is /t/<tenant>/webhooks: tokens come from beside it.
        token_url = f"{action}/token?input={form_id}-token"
    return {
        "id": form_id,
        "token_url": token_url,
        "action": action,
        "values": values,
        "errors": errors,
        "catalogue": catalogue,
        "creating": creating,
    }


@router.get("/t/{tenant_id}/webhooks")
async def webhooks(request: Request, tv: TenantViewDep) -> Response:
    """The tenant's webhooks with their status and last delivery."""
    return await _webhooks_page(request, tv.id)


@router.get("/t/{tenant_id}/webhooks/new")
async def new_webhook(request: Request, tv: TenantViewDep) -> Response:
    """The list with the add form open (the Add button's target without JavaScript)."""
    return await _webhooks_page(request, tv.id, open_form=True)


@router.get("/t/{tenant_id}/webhooks/token")
async def token_input(request: Request, tv: TenantViewDep) -> Response:
    """A freshly generated token in its input field, for the "Generate another" button."""
    del tv
    input_id = request.query_params.get("input", "")
    if not INPUT_ID_PATTERN.match(input_id):
        return error_page(request, 422, "The token field to fill in is not named.")
    return render(
        request,
        "_token_input.html",
        {"input_id": input_id, "token": generate_token(SCHEME_HOOKWIRE)},
    )


def _form_values(fields: dict[str, Any]) -> dict[str, Any]:
    """What to show again in a form that did not validate."""
    return {**fields, "token": fields.get("token") or ""}


@router.post("/t/{tenant_id}/webhooks")
async def create_webhook(request: Request, tv: TenantViewDep) -> Response:
    """Add a webhook; nothing is saved until every field is valid."""
    storage = storage_of(request)
    form = await request.form()
    fields = webhook_fields(form, with_token=True)
    body, errors = await _validate(request, fields, WebhookCreate)
    if isinstance(body, WebhookCreate):
        data = body.model_dump()
        data["token"] = body.token or generate_token(body.signature_scheme)
        record = await storage.create_webhook(tv.id, data)
        return redirect(request, tenant_url(tv.id, "webhooks", record.id) + "?notice=created")
    values = _form_values(fields)
    if is_htmx(request):
        catalogue = await all_event_types(storage)
        context = {
            "form": _form_context(
                ADD_FORM_ID, tenant_url(tv.id, "webhooks"), values, errors, catalogue, creating=True
            )
        }
        return render(request, "_webhook_form.html", context, status=422)
    return await _webhooks_page(
        request, tv.id, form_values=values, form_errors=errors, open_form=True, status=422
    )


@router.post("/t/{tenant_id}/webhooks/{webhook_id}/edit")
async def edit_webhook(webhook_id: str, request: Request, tv: TenantViewDep) -> Response:
    """Change name, URL, events and enabled (the token changes by rotation)."""
    storage = storage_of(request)
    current = await storage.get_webhook(tv.id, webhook_id)
    form = await request.form()
    fields = webhook_fields(form, with_token=False)
    body, errors = await _validate(request, fields, WebhookUpdate)
    if isinstance(body, WebhookUpdate):
        changes = body.model_dump(exclude_unset=True)
        if changes.get("active") == current.active:
            # Sending active=true would also lift a suspension: only the
            # explicit "Re-activate" button should do that.
            del changes["active"]
        await storage.update_webhook(tv.id, webhook_id, changes)
        return redirect(request, tenant_url(tv.id, "webhooks", webhook_id) + "?notice=updated")
    values = _form_values(fields)
    action = tenant_url(tv.id, "webhooks", webhook_id, "edit")
    if is_htmx(request):
        catalogue = await all_event_types(storage)
        context = {
            "form": _form_context(EDIT_FORM_ID, action, values, errors, catalogue, creating=False)
        }
        return render(request, "_webhook_form.html", context, status=422)
    return await render_webhook_page(
        request, tv, current, edit_values=values, edit_errors=errors, status=422
    )


@router.post("/t/{tenant_id}/webhooks/{webhook_id}/delete")
async def delete_webhook(webhook_id: str, request: Request, tv: TenantViewDep) -> Response:
    """Delete a webhook with its deliveries and event log (after the confirmation dialog)."""
    await storage_of(request).delete_webhook(tv.id, webhook_id)
    return redirect(request, tenant_url(tv.id, "webhooks") + "?notice=deleted")


@router.post("/t/{tenant_id}/webhooks/{webhook_id}/rotate-token")
async def rotate_token(webhook_id: str, request: Request, tv: TenantViewDep) -> Response:
    """A new token; the old one keeps signing beside it for the grace period, as in the API."""
    storage = storage_of(request)
    current = await storage.get_webhook(tv.id, webhook_id)
    grace_until = utcnow() + timedelta(seconds=settings_of(request).token_grace_seconds)
    token = generate_token(current.signature_scheme)
    await storage.rotate_webhook_token(tv.id, webhook_id, token, grace_until)
    return redirect(request, tenant_url(tv.id, "webhooks", webhook_id) + "?notice=rotated")


@router.post("/t/{tenant_id}/webhooks/{webhook_id}/test")
async def test_webhook(webhook_id: str, request: Request, tv: TenantViewDep) -> Response:
    """Send a ``webhook.test`` event to this webhook alone."""
    await send_test_event(storage_of(request), tv.id, webhook_id)
    return redirect(request, tenant_url(tv.id, "webhooks", webhook_id) + "?notice=test-sent")


@router.post("/t/{tenant_id}/webhooks/{webhook_id}/reactivate")
async def reactivate_webhook(webhook_id: str, request: Request, tv: TenantViewDep) -> Response:
    """Enable the webhook and lift a suspension, as ``PATCH {"active": true}`` does."""
    await storage_of(request).update_webhook(tv.id, webhook_id, {"active": True})
    return redirect(request, tenant_url(tv.id, "webhooks", webhook_id) + "?notice=reactivated")
