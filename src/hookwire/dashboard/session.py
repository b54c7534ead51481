"""Dashboard sessions: a sealed cookie holding the API key, and CSRF tokens.

The cookie is the API key and a per-session CSRF token, encrypted and
authenticated with the app's Fernet key (the one that protects webhook tokens).
Nothing is kept on the server, and the key is authenticated again on every
request, so a revoked key or a changed admin key ends the session at once.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.responses import Response

from hookwire.auth import Principal, authenticate, check_tenant_access
from hookwire.config import Settings
from hookwire.crypto import TokenCipher, same_secret
from hookwire.storage import NotFound, Storage
from hookwire.storage.base import MAX_PAGE_LIMIT, utcnow
from hookwire.storage.records import Tenant

SESSION_COOKIE = "hookwire_session"
SIGNIN_COOKIE = "hookwire_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_MAX_AGE_SECONDS = 12 * 3600
SIGNIN_FORM_MAX_AGE_SECONDS = 3600
# Tags the sealed value, so that no other Fernet ciphertext made with the same
# key (a stored webhook token, say) can ever pass for a session.
SESSION_PURPOSE = "hookwire.dashboard.session.v1"
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
class SessionData:
    """What a session cookie holds."""

    api_key: str
    csrf_token: str


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


def seal_session(cipher: TokenCipher, data: SessionData, now: datetime) -> str:
    """The cookie value for a session started at ``now``."""
    raw = {
        "p": SESSION_PURPOSE,
        "k": data.api_key,
        "c": data.csrf_token,
        "t": int(now.timestamp()),
    }
    return cipher.encrypt(json.dumps(raw, separators=(",", ":")))


def open_session(cipher: TokenCipher, sealed: str, now: datetime) -> SessionData | None:
    """The session in a cookie value, or None when it is forged, foreign or expired."""
    if not sealed.isascii():
        return None
    try:
        raw = json.loads(cipher.decrypt(sealed))
    except (RuntimeError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("p") != SESSION_PURPOSE:
        return None
    key, csrf, started = raw.get("k"), raw.get("c"), raw.get("t")
    if not isinstance(key, str) or not isinstance(csrf, str) or not isinstance(started, int):
        return None
    if not 0 <= now.timestamp() - started <= SESSION_MAX_AGE_SECONDS:
        return None
    return SessionData(api_key=key, csrf_token=csrf)


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


def start_session(response: Response, request: Request, api_key: str) -> None:
    """Sign in: a fresh session cookie with a fresh CSRF token."""
    data = SessionData(api_key=api_key, csrf_token=new_csrf_token())
    sealed = seal_session(storage_of(request).cipher, data, utcnow())
    set_cookie(response, request, SESSION_COOKIE, sealed, SESSION_MAX_AGE_SECONDS)


def end_session(response: Response, request: Request) -> None:
    """Sign out: the browser drops the session cookie."""
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
    sealed = request.cookies.get(SESSION_COOKIE)
    if not sealed:
        raise SignInRequired()
    storage = storage_of(request)
    data = open_session(storage.cipher, sealed, utcnow())
    if data is None:
        raise SignInRequired("expired")
    principal = await authenticate(storage, settings_of(request).admin_key, data.api_key)
    if principal is None:
        raise SignInRequired("revoked")
    viewer = Viewer(principal=principal, csrf_token=data.csrf_token)
    # Kept for rendering (error pages too): the navigation shows who is signed in.
    request.state.viewer = viewer
    if principal.is_admin:
        request.state.tenant_choices = (await storage.list_tenants(MAX_PAGE_LIMIT, None)).items
    if request.method in UNSAFE_METHODS:
        check_csrf(data.csrf_token, await submitted_csrf_token(request))
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
