"""Portal sign-in links: single-use, short-lived, found by the hash of their secret."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hookwire.errors import NotFound
from hookwire.storage import tables as t
from hookwire.storage.base import StorageBase

# The kind of the dashboard sessions a portal link starts (service/portal.py).
PORTAL_SESSION_KIND = "portal"


class LinkState(enum.Enum):
    """What became of a link someone tried to use."""

    USED_NOW = "used-now"  # it was live, and this use took it
    SPENT = "spent"  # used before, or expired
    UNKNOWN = "unknown"  # no such link (never made, purged, or its tenant deleted)


class PortalStore(StorageBase):
    """Operations on portal links, and on the portal's sessions as a whole."""

    async def create_portal_link(
        self, id_hash: str, tenant_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        """Store a new link; NotFound when its tenant does not exist (or was deleted meanwhile)."""
        try:
            async with self.write() as conn:
                await conn.execute(
                    t.portal_links.insert().values(
                        id_hash=id_hash,
                        tenant_id=tenant_id,
                        created_at=created_at,
                        expires_at=expires_at,
                        used_at=None,
                    )
                )
        except IntegrityError:
            raise NotFound(f"tenant {tenant_id!r} not found") from None

    async def use_portal_link(self, id_hash: str, now: datetime) -> tuple[LinkState, str | None]:
        """Mark the link used if it is unused and unexpired, in one statement.

        Two uses racing each other both run the conditional UPDATE; only one
        of them changes the row, and its row count is what decides. Answers
        the state and, for ``USED_NOW``, the link's tenant.
        """
        links = t.portal_links
        async with self.write() as conn:
            result = await conn.execute(
                links.update()
                .where(
                    links.c.id_hash == id_hash,
                    links.c.used_at.is_(None),
                    links.c.expires_at > now,
                )
                .values(used_at=now)
            )
            row = (
                await conn.execute(sa.select(links.c.tenant_id).where(links.c.id_hash == id_hash))
            ).first()
        if row is None:
            return LinkState.UNKNOWN, None
        if result.rowcount != 1:
            return LinkState.SPENT, None
        tenant_id: str = row.tenant_id
        return LinkState.USED_NOW, tenant_id

    async def end_portal_access(self, tenant_id: str) -> tuple[int, int]:
        """Delete the tenant's portal sessions and its unused links; how many of each."""
        s, links = t.dashboard_sessions, t.portal_links
        async with self.write() as conn:
            sessions = await conn.execute(
                s.delete().where(s.c.tenant_id == tenant_id, s.c.kind == PORTAL_SESSION_KIND)
            )
            unused = await conn.execute(
                links.delete().where(links.c.tenant_id == tenant_id, links.c.used_at.is_(None))
            )
        return sessions.rowcount, unused.rowcount
