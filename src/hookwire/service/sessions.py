"""Dashboard sign-in sessions, kept on the server.

A session is found by the SHA-256 of its id; the id itself lives only in the
person's cookie, and neither the id nor the API key is stored. A stored row is
what lets a session end when it should: signing out deletes it (so a copy of
the cookie stops working), revoking the key or deleting the tenant deletes it
by cascade, and it expires after ``SESSION_MAX_AGE_SECONDS``. Sessions of the
operator's configured admin key (which has no stored row to cascade from)
carry a fingerprint of that key, so changing the key ends them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from hookwire.crypto import same_secret
from hookwire.errors import Unauthorized
from hookwire.records import DashboardSession
from hookwire.service.auth import ADMIN, Principal
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.storage.portal import PORTAL_SESSION_KIND

SESSION_MAX_AGE_SECONDS = 12 * 3600
SESSION_ID_BYTES = 32
CSRF_TOKEN_BYTES = 32
# A sign-in with an API key. Sessions of other kinds may have no key.
SESSION_KIND_KEY = "key"
# A sign-in with a portal link (service/portal.py): one tenant, no key.
SESSION_KIND_PORTAL = PORTAL_SESSION_KIND


class SessionEnded(Unauthorized):
    """The session is gone: ``reason`` is ``expired`` (signed out, timed out, or never
    a session) or ``revoked`` (the key it was made with no longer counts)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the dashboard session has ended ({reason})")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who a live session acts for, the CSRF token its forms must carry, and its kind."""

    principal: Principal
    csrf_token: str
    kind: str = SESSION_KIND_KEY

    @property
    def is_portal(self) -> bool:
        return self.kind == SESSION_KIND_PORTAL


def new_csrf_token() -> str:
    """A random token for one session (or one sign-in form)."""
    return secrets.token_urlsafe(CSRF_TOKEN_BYTES)


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

    The same rules as :meth:`Auth.authenticate`: a stored key must still exist
    (its sessions are deleted with it), a stored admin key stops counting once
    the operator configures one, and a configured admin key counts only while
    it is still the configured one.
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


class Sessions:
    """Starting, resuming and ending dashboard sessions."""

    def __init__(self, storage: Storage, configured_admin_key: str | None) -> None:
        self._storage = storage
        self._admin_key = configured_admin_key

    async def start(self, principal: Principal, replacing: str | None = None) -> str:
        """A new session for ``principal``; returns its id, for the cookie.

        ``replacing`` is a session the browser still had: it is ended first, so
        signing in again never leaves an earlier cookie working.
        """
        if replacing:
            await self.end(replacing)
        session_id = new_session_id()
        fingerprint = None
        if principal.is_admin and principal.api_key_id is None:
            assert self._admin_key, (
                "an admin without a stored key signed in with the configured key"
            )
            fingerprint = admin_key_fingerprint(session_id, self._admin_key)
        await self._store(
            session_id, SESSION_KIND_KEY, principal, fingerprint, SESSION_MAX_AGE_SECONDS
        )
        return session_id

    async def start_portal(
        self, tenant_id: str, lifetime_seconds: float, replacing: str | None = None
    ) -> str:
        """A portal session for one tenant, without a key; returns its id, for the cookie.

        NotFound when the tenant was deleted meanwhile.
        """
        if replacing:
            await self.end(replacing)
        session_id = new_session_id()
        principal = Principal(tenant_id=tenant_id)
        await self._store(session_id, SESSION_KIND_PORTAL, principal, None, lifetime_seconds)
        return session_id

    async def _store(
        self,
        session_id: str,
        kind: str,
        principal: Principal,
        fingerprint: str | None,
        lifetime_seconds: float,
    ) -> None:
        now = utcnow()
        await self._storage.create_dashboard_session(
            DashboardSession(
                id_hash=hash_session_id(session_id),
                kind=kind,
                api_key_id=principal.api_key_id,
                tenant_id=principal.tenant_id,
                is_admin=principal.is_admin,
                admin_key_fingerprint=fingerprint,
                csrf_token=new_csrf_token(),
                created_at=now,
                expires_at=now + timedelta(seconds=lifetime_seconds),
            )
        )

    async def resume(self, session_id: str) -> SignedIn:
        """The live session with this id; :class:`SessionEnded` (and the row deleted) if none."""
        id_hash = hash_session_id(session_id)
        session = await self._storage.find_dashboard_session(id_hash)
        if session is None:
            # Signed out, or ended with its key or tenant (or never a session at all).
            raise SessionEnded("expired")
        if session.expires_at <= utcnow():
            await self._storage.delete_dashboard_session(id_hash)
            raise SessionEnded("expired")
        principal = session_principal(session, session_id, self._admin_key)
        if principal is None:
            await self._storage.delete_dashboard_session(id_hash)
            raise SessionEnded("revoked")
        return SignedIn(principal, session.csrf_token, session.kind)

    async def end(self, session_id: str) -> None:
        """Sign out: the row is deleted, so no copy of the cookie works any more."""
        await self._storage.delete_dashboard_session(hash_session_id(session_id))
