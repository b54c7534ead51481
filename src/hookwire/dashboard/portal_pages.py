"""The customer portal's pages: opening a sign-in link, the page after it ends, its colours.

A portal link (``POST /v1/tenants/{id}/portal-links``) opens ``/portal/<secret>``:
used once, it starts a portal session for its tenant and leads to the
tenant's webhooks. Every page a portal session sees is branded with the
operator's product name and accent colour and may be framed by the origins
in ``portal_frame_ancestors`` (:func:`hookwire.dashboard.render.security_headers`);
these pages too, as they are shown in the same iframe.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from hookwire.dashboard.render import DashboardRoute, render, tenant_url
from hookwire.dashboard.session import PORTAL_ENDED_URL, services_of, start_portal_session
from hookwire.service.portal import LinkRefused

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BRAND_CSS_URL = "/portal/brand.css"


def _platform(request: Request) -> str:
    """Who a portal's person should ask: the operator's product, when it is named."""
    return services_of(request).settings.portal_product_name or "the site that sent you here"


def _message(request: Request, title: str, message: str, status: int) -> Response:
    return render(
        request, "portal_message.html", {"title": title, "message": message}, status=status
    )


@router.get(PORTAL_ENDED_URL)
async def ended(request: Request) -> Response:
    """Where a portal session that ended (expired, or ended by the admin) leads."""
    request.state.portal = True
    return _message(
        request,
        "Your session has ended",
        f"To come back, open the webhooks page again from {_platform(request)}.",
        200,
    )


@router.get(BRAND_CSS_URL)
async def brand_css(request: Request) -> Response:
    """The operator's accent colour as the stylesheet's custom properties (the CSP allows
    stylesheets from this site only, never inline styles)."""
    color = services_of(request).settings.portal_accent_color
    css = "" if not color else accent_css(color)
    return Response(css, media_type="text/css", headers={"Cache-Control": "no-cache"})


@router.get("/portal/{secret}")
async def open_link(secret: str, request: Request) -> Response:
    """Use a portal link: signed in to its tenant's webhooks, or a page saying why not."""
    request.state.portal = True
    response = RedirectResponse("/", status_code=303)
    try:
        tenant_id = await start_portal_session(response, request, secret)
    except LinkRefused as exc:
        return _message(
            request,
            "This sign-in link no longer works",
            f"This sign-in link was already used or has expired; ask {_platform(request)} "
            "for a new one.",
            410 if exc.gone else 404,
        )
    response.headers["location"] = tenant_url(tenant_id, "webhooks")
    return response


def accent_css(color: str) -> str:
    """``:root`` custom properties from ``#rrggbb``: the colour, a darker one for hover,
    a pale one for backgrounds, and the focus ring."""
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))

    def mix(towards: int, share: float) -> str:
        return "#" + "".join(f"{round(c + (towards - c) * share):02x}" for c in (red, green, blue))

    return (
        ":root {\n"
        f"  --primary: {color.lower()};\n"
        f"  --primary-dark: {mix(0, 0.15)};\n"
        f"  --primary-soft: {mix(255, 0.92)};\n"
        f"  --focus: 0 0 0 3px rgba({red}, {green}, {blue}, 0.35);\n"
        "}\n"
        ".brand-mark { background: var(--primary); }\n"
    )
