"""Dashboard sessions, kept on the server, and CSRF tokens.

The session cookie holds only a random session id; the database keeps its
SHA-256 (``dashboard_sessions``), never the id itself nor the API key. A
server-side row is what lets a session end when it should: sign-out deletes
it (so a cookie copied earlier stops working), revoking the key or deleting
the tenant deletes it by cascade, and it expires after
``SESSION_MAX_AGE_SECONDS``. Sessions of the operator's configured admin key
(which has no stored row to cascade from) carry a fingerprint of that key, so
changing the key ends them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.responses import Response

from hookwire.auth import ADMIN, Principal, check_tenant_access
from hookwire.config import Settings
from hookwire.crypto import same_secret
from hookwire.errors import NotFound
from hookwire.records import DashboardSession, Tenant
from hookwire.storage import Storage
from hookwire.storage.base import MAX_PAGE_LIMIT, utcnow

SESSION_COOKIE = "hookwire_session"
SIGNIN_COOKIE = "hookwire_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_MAX_AGE_SECONDS = 12 * 3600
SIGNIN_FORM_MAX_AGE_SECONDS = 3600
SESSION_ID_BYTES = 32
# A sign-in with an API key. Sessions of other kinds may have no key.
SESSION_KIND_KEY = "key"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInRequired(Exception):
    """No valid session: the person must sign in (again).

    ``reason`` is a key of ``SIGNIN_REASONS``: it travels in the sign-in URL,
    so only fixed texts can ever be shown there.
    """

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "sign in required")
        self.reason = reason


SIGNIN_REASONS = {
    "expired": "Your session has ended. Sign in again.",
    "revoked": "That API key is no longer valid. Sign in with a current key.",
    "signed-out": "You are signed out.",
}


class CsrfRejected(Exception):
    """An unsafe request without this session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person: who they are and their session's CSRF token."""

    principal: Principal
    csrf_token: str


@dataclass(frozen=True, slots=True)
class TenantView:
    """A tenant page being looked at, by someone allowed to see it."""

    viewer: Viewer
    tenant: Tenant

    @property
    def id(self) -> str:
        return self.tenant.id


def new_csrf_token() -> str:
    """A random token for one session (or one sign-in form)."""
    return secrets.token_urlsafe(32)


def new_session_id() -> str:
    """The secret a session cookie holds."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def hash_session_id(session_id: str) -> str:
    """The key a session is stored under: the id is 256-bit random, so SHA-256 suffices."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def admin_key_fingerprint(session_id: str, admin_key: str) -> str:
    """Binds a session to the configured admin key.

    Keyed with the session id, which only the cookie holds: the database alone
    gives nothing to test guesses of the admin key against.
    """
    return hmac.new(session_id.encode(), admin_key.encode(), hashlib.sha256).hexdigest()


def session_principal(
    session: DashboardSession, session_id: str, configured_admin_key: str | None
) -> Principal | None:
    """Who a session acts for, or None when the key it was made with no longer counts.

    The same rules as :func:`hookwire.auth.authenticate`: a stored key must
    still exist (its sessions are deleted with it), a stored admin key stops
    counting once the operator configures one, and a configured admin key
    counts only while it is still the configured one.
    """
    if not session.is_admin:
        if session.tenant_id is None:
            return None
        return Principal(tenant_id=session.tenant_id, api_key_id=session.api_key_id)
    if session.admin_key_fingerprint is not None:
        if not configured_admin_key:
            return None
        expected = admin_key_fingerprint(session_id, configured_admin_key)
        return ADMIN if same_secret(session.admin_key_fingerprint, expected) else None
    if session.api_key_id is None or configured_admin_key:
        return None
    return Principal(tenant_id=None, api_key_id=session.api_key_id)


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int, path: str = "/"
) -> None:
    """HttpOnly and SameSite=Lax always; Secure whenever the page came over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


async def start_session(response: Response, request: Request, principal: Principal) -> None:
    """Sign in: a new session row, and its id in the cookie.

    A session the browser still had is ended first, so signing in again
    never leaves an earlier cookie working.
    """
    storage = storage_of(request)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        await storage.delete_dashboard_session(hash_session_id(previous))
    session_id = new_session_id()
    fingerprint = None
    if principal.is_admin and principal.api_key_id is None:
        admin_key = settings_of(request).admin_key
        assert admin_key, "an admin without a stored key signed in with the configured key"
        fingerprint = admin_key_fingerprint(session_id, admin_key)
    now = utcnow()
    await storage.create_dashboard_session(
        DashboardSession(
            id_hash=hash_session_id(session_id),
            kind=SESSION_KIND_KEY,
            api_key_id=principal.api_key_id,
            tenant_id=principal.tenant_id,
            is_admin=principal.is_admin,
            admin_key_fingerprint=fingerprint,
            csrf_token=new_csrf_token(),
            created_at=now,
            expires_at=now + timedelta(seconds=SESSION_MAX_AGE_SECONDS),
        )
    )
    set_cookie(response, request, SESSION_COOKIE, session_id, SESSION_MAX_AGE_SECONDS)


async def end_session(response: Response, request: Request) -> None:
    """Sign out: the session row is deleted, so no copy of the cookie works any more."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await storage_of(request).delete_dashboard_session(hash_session_id(session_id))
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def storage_of(request: Request) -> Storage:
    """The app's storage (the same one the API uses)."""
    storage: Storage = request.app.state.storage
    return storage


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def submitted_csrf_token(request: Request) -> str:
    """The token an unsafe request carries: the htmx header, else the form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def check_csrf(expected: str, submitted: str) -> None:
    """Raise :class:`CsrfRejected` unless ``submitted`` is the expected token."""
    if not submitted or not same_secret(submitted, expected):
        raise CsrfRejected()


async def current_viewer(request: Request) -> Viewer:
    """The signed-in person; every unsafe request must also carry the session's CSRF token."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise SignInRequired()
    storage = storage_of(request)
    id_hash = hash_session_id(session_id)
    session = await storage.find_dashboard_session(id_hash)
    if session is None:
        # Signed out, or ended with its key or tenant (or never a session at all).
        raise SignInRequired("expired")
    if session.expires_at <= utcnow():
        await storage.delete_dashboard_session(id_hash)
        raise SignInRequired("expired")
    principal = session_principal(session, session_id, settings_of(request).admin_key)
    if principal is None:
        await storage.delete_dashboard_session(id_hash)
        raise SignInRequired("revoked")
    viewer = Viewer(principal=principal, csrf_token=session.csrf_token)
    # Kept for rendering (error pages too): the navigation shows who is signed in.
    request.state.viewer = viewer
    if principal.is_admin:
        request.state.tenant_choices = (await storage.list_tenants(MAX_PAGE_LIMIT, None)).items
    if request.method in UNSAFE_METHODS:
        check_csrf(session.csrf_token, await submitted_csrf_token(request))
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


async def require_admin(viewer: ViewerDep) -> Viewer:
    """Admin-only pages: a tenant key sees them as absent."""
    if not viewer.principal.is_admin:
        raise NotFound("this page is for the operator's admin key")
    return viewer


AdminViewerDep = Annotated[Viewer, Depends(require_admin)]


async def tenant_view(tenant_id: str, viewer: ViewerDep, request: Request) -> TenantView:
    """The tenant in the path, once the viewer may see it: the same rule as the API (404)."""
    check_tenant_access(viewer.principal, tenant_id)
    tenant = await storage_of(request).get_tenant(tenant_id)
    request.state.tenant = tenant
    return TenantView(viewer=viewer, tenant=tenant)


TenantViewDep = Annotated[TenantView, Depends(tenant_view)]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path on this site, never another host."""
    # Browsers drop tabs and newlines from URLs and read a backslash as "/", so
    # "/<tab>/evil" or "/<backslash>evil" would become "//evil", another host.
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(c.isspace() or not c.isprintable() for c in target)
    ):
        return "/"
    return target


def signin_url(request: Request, reason: str | None = None) -> str:
    """The sign-in page, returning afterwards to the page the person was on."""
    if request.method == "GET" and "HX-Request" not in request.headers:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        # After a POST or an htmx fragment, come back to the page, not the endpoint.
        current = request.headers.get("HX-Current-URL", "")
        here = urlsplit(current).path if current else "/"
    url = "/signin?next=" + quote(safe_next(here), safe="")
    return url + (f"&reason={reason}" if reason in SIGNIN_REASONS else "")
