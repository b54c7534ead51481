"""The Webhooks section: the list, the add form, and the actions on one webhook.

Validation is the API's: ``WebhookCreate``/``WebhookUpdate`` and the rules of
``services.webhooks``, which every change goes through.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from hookwire.dashboard.forms import form_errors, webhook_fields
from hookwire.dashboard.log_pages import render_webhook_page
from hookwire.dashboard.render import (
    DashboardRoute,
    cursor_of,
    error_page,
    is_htmx,
    listing,
    redirect,
    render,
    tenant_url,
)
from hookwire.dashboard.session import TenantViewDep, services_of
from hookwire.errors import Invalid
from hookwire.service import Services
from hookwire.service.inputs import WebhookCreate, WebhookUpdate, parse_input

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
PAGE_SIZE = 50
ADD_FORM_ID = "add-webhook-form"
EDIT_FORM_ID = "edit-webhook-form"
INPUT_ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,60}$")


def new_webhook_values(services: Services) -> dict[str, Any]:
    """The add form as it opens: a generated token, enabled, no events chosen yet."""
    return {
        "name": "",
        "url": "",
        "token": services.webhooks.new_token(),
        "events": [],
        "active": True,
        "signature_scheme": "hookwire",  # the seed's Webhook-Signature
        "format": "hookwire",  # the seed's payload
        "ordering": "none",
    }


async def _form_errors(services: Services, fields: dict[str, Any], exc: Invalid) -> dict[str, str]:
    """The fields' own errors and, on the fields that passed, the service's rules: all at once."""
    errors = form_errors(exc, "form")
    refused = await services.webhooks.refusals(
        url=fields["url"] if "url" not in errors and fields["url"] else None,
        events=fields["events"] if "events" not in errors else None,
    )
    return {**form_errors(Invalid(refused), "form"), **errors} if refused else errors


async def _webhooks_page(
    request: Request,
    tenant_id: str,
    *,
    form_values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    open_form: bool = False,
    status: int = 200,
) -> Response:
    services = services_of(request)
    cursor = cursor_of(request)
    page = await services.webhooks.list(tenant_id, PAGE_SIZE, cursor)
    context = {
        "section": "webhooks",
        **listing("webhooks", page, cursor),
        "open_form": open_form,
        "form": _form_context(
            ADD_FORM_ID,
            tenant_url(tenant_id, "webhooks"),
            form_values or new_webhook_values(services),
            errors or {},
            await services.catalog.all(),
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
        {"input_id": input_id, "token": services_of(request).webhooks.new_token()},
    )


def _form_values(fields: dict[str, Any]) -> dict[str, Any]:
    """What to show again in a form that did not validate."""
    return {**fields, "token": fields.get("token") or ""}


@router.post("/t/{tenant_id}/webhooks")
async def create_webhook(request: Request, tv: TenantViewDep) -> Response:
    """Add a webhook; nothing is saved until every field is valid."""
    services = services_of(request)
    fields = webhook_fields(await request.form(), with_token=True)
    try:
        record = await services.webhooks.create(tv.id, parse_input(WebhookCreate, fields))
    except Invalid as exc:
        errors = await _form_errors(services, fields, exc)
    else:
        return redirect(request, tenant_url(tv.id, "webhooks", record.id) + "?notice=created")
    values = _form_values(fields)
    if is_htmx(request):
        catalogue = await services.catalog.all()
        context = {
            "form": _form_context(
                ADD_FORM_ID, tenant_url(tv.id, "webhooks"), values, errors, catalogue, creating=True
            )
        }
        return render(request, "_webhook_form.html", context, status=422)
    return await _webhooks_page(
        request, tv.id, form_values=values, errors=errors, open_form=True, status=422
    )


@router.post("/t/{tenant_id}/webhooks/{webhook_id}/edit")
async def edit_webhook(webhook_id: str, request: Request, tv: TenantViewDep) -> Response:
    """Change name, URL, events and enabled (the token changes by rotation)."""
    services = services_of(request)
    current = await services.webhooks.get(tv.id, webhook_id)
    fields = webhook_fields(await request.form(), with_token=False)
    try:
        # The form always sends Enabled: saving it unchanged must not lift a
        # suspension, which only the explicit "Re-activate" button should do.
        changes = parse_input(WebhookUpdate, fields)
        await services.webhooks.update(tv.id, webhook_id, changes, lifts_suspension=False)
    except Invalid as exc:
        errors = await _form_errors(services, fields, exc)
    else:
        return redirect(request, tenant_url(tv.id, "webhooks", webhook_id) + "?notice=updated")
    values = _form_values(fields)
    action = tenant_url(tv.id, "webhooks", webhook_id, "edit")
    if is_htmx(request):
        catalogue = await services.catalog.all()
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
    await services_of(request).webhooks.delete(tv.id, webhook_id)
    return redirect(request, tenant_url(tv.id, "webhooks") + "?notice=deleted")


@router.post("/t/{tenant_id}/webhooks/{webhook_id}/rotate-token")
async def rotate_token(webhook_id: str, request: Request, tv: TenantViewDep) -> Response:
    """A new token; the old one keeps signing beside it for the grace period, as in the API."""
    await services_of(request).webhooks.rotate_token(tv.id, webhook_id)
    return redirect(request, tenant_url(tv.id, "webhooks", webhook_id) + "?notice=rotated")


@router.post("/t/{tenant_id}/webhooks/{webhook_id}/test")
async def test_webhook(webhook_id: str, request: Request, tv: TenantViewDep) -> Response:
    """Send a ``webhook.test`` event to this webhook alone."""
    await services_of(request).events.send_test(tv.id, webhook_id)
    return redirect(request, tenant_url(tv.id, "webhooks", webhook_id) + "?notice=test-sent")


@router.post("/t/{tenant_id}/webhooks/{webhook_id}/reactivate")
async def reactivate_webhook(webhook_id: str, request: Request, tv: TenantViewDep) -> Response:
    """Enable the webhook and lift a suspension, as ``PATCH {"active": true}`` does."""
    await services_of(request).webhooks.reactivate(tv.id, webhook_id)
    return redirect(request, tenant_url(tv.id, "webhooks", webhook_id) + "?notice=reactivated")
