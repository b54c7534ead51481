"""The customer portal: single-use sign-in links to the dashboard, scoped to one tenant.

The platform asks for a link (admin) and redirects its logged-in customer to
it; opening it starts a dashboard session of kind ``portal`` for that tenant,
with no API key anywhere. Only the SHA-256 of a link's secret is stored, as
for sessions. A link signs in once, within ``portal_link_minutes``; its
session lasts ``portal_session_minutes``, and the admin can end a tenant's
portal sessions (and its unused links) at any time.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from hookwire.config import Settings
from hookwire.errors import NotFound
from hookwire.service.sessions import Sessions
from hookwire.storage import Storage
from hookwire.storage.base import utcnow
from hookwire.storage.portal import LinkState

PORTAL_LINK_SECRET_BYTES = 32


class LinkRefused(Exception):
    """The link signs no one in: ``gone`` when it was used or has expired, else unknown."""

    def __init__(self, gone: bool) -> None:
        super().__init__("portal link already used or expired" if gone else "no such portal link")
        self.gone = gone


@dataclass(frozen=True, slots=True)
class PortalLinkCreated:
    """A new link: its secret (given once, for the URL) and when it stops working."""

    secret: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PortalSignIn:
    """A used link's session: its id (for the cookie), tenant and lifetime."""

    session_id: str
    tenant_id: str
    lifetime_seconds: float


def hash_link_secret(secret: str) -> str:
    """The key a link is stored under: the secret is 256-bit random, so SHA-256 suffices."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Portal:
    """Creating and using portal links; ending a tenant's portal access."""

    def __init__(self, storage: Storage, settings: Settings, sessions: Sessions) -> None:
        self._storage = storage
        self._sessions = sessions
        self.link_lifetime = timedelta(minutes=settings.portal_link_minutes)
        self.session_lifetime_seconds = settings.portal_session_minutes * 60

    async def create_link(self, tenant_id: str) -> PortalLinkCreated:
        """A link for an existing tenant (NotFound otherwise)."""
        await self._storage.get_tenant(tenant_id)  # NotFound, in the tenant's words
        secret = secrets.token_urlsafe(PORTAL_LINK_SECRET_BYTES)
        now = utcnow()
        expires_at = now + self.link_lifetime
        await self._storage.create_portal_link(hash_link_secret(secret), tenant_id, now, expires_at)
        return PortalLinkCreated(secret=secret, expires_at=expires_at)

    async def sign_in(self, secret: str, replacing: str | None = None) -> PortalSignIn:
        """Use the link (once) and start its session; :class:`LinkRefused` if it cannot be.

        ``replacing`` is a session the browser still had: it ends, so one
        browser never holds two sessions at once.
        """
        state, tenant_id = await self._storage.use_portal_link(hash_link_secret(secret), utcnow())
        if state is not LinkState.USED_NOW or tenant_id is None:
            raise LinkRefused(gone=state is LinkState.SPENT)
        try:
            session_id = await self._sessions.start_portal(
                tenant_id, self.session_lifetime_seconds, replacing
            )
        except NotFound:  # the tenant was deleted since the link was made
            raise LinkRefused(gone=False) from None
        return PortalSignIn(session_id, tenant_id, self.session_lifetime_seconds)

    async def end_access(self, tenant_id: str) -> int:
        """End the tenant's portal sessions and unused links (NotFound for no such tenant).

        Answers how many sessions ended.
        """
        await self._storage.get_tenant(tenant_id)
        sessions, _links = await self._storage.end_portal_access(tenant_id)
        return sessions
