"""The customer portal's admin routes: sign-in links, and ending the portal's sessions."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from hookwire.api.deps import AdminDep, ServicesDep
from hookwire.api.models import PortalLink

router = APIRouter(prefix="/v1", tags=["tenants"])
# Where a link is opened: the dashboard's page that uses it (dashboard/portal_pages.py).
PORTAL_PATH = "portal/"


@router.post("/tenants/{tenant_id}/portal-links", status_code=201)
async def create_portal_link(
    tenant_id: str, request: Request, services: ServicesDep, _: AdminDep
) -> PortalLink:
    """A single-use, short-lived sign-in URL to the dashboard, scoped to this tenant.

    Redirect the platform's logged-in customer to `url`: it signs them in to
    their tenant's webhooks, event log and events, with no key to copy. It
    works once, until `expiresAt` (`HOOKWIRE_PORTAL_LINK_MINUTES`, default 10).
    The URL is built from this request's scheme and host.
    """
    created = await services.portal.create_link(tenant_id)
    return PortalLink(
        url=f"{request.base_url}{PORTAL_PATH}{created.secret}", expires_at=created.expires_at
    )


@router.delete("/tenants/{tenant_id}/portal-sessions", status_code=204)
async def end_portal_sessions(tenant_id: str, services: ServicesDep, _: AdminDep) -> Response:
    """End every portal session of this tenant at once, and its links not used yet."""
    await services.portal.end_access(tenant_id)
    return Response(status_code=204)
