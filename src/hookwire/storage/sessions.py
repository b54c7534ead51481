"""Dashboard sessions: one row per sign-in, found by the hash of its id."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hookwire.errors import NotFound
from hookwire.records import DashboardSession
from hookwire.storage import tables as t
from hookwire.storage.base import StorageBase


class SessionStore(StorageBase):
    """Operations on dashboard sessions."""

    async def create_dashboard_session(self, session: DashboardSession) -> None:
        """Store a new session; NotFound when its key or tenant was deleted meanwhile."""
        try:
            async with self.write() as conn:
                await conn.execute(
                    t.dashboard_sessions.insert().values(
                        id_hash=session.id_hash,
                        kind=session.kind,
                        api_key_id=session.api_key_id,
                        tenant_id=session.tenant_id,
                        is_admin=session.is_admin,
                        admin_key_fingerprint=session.admin_key_fingerprint,
                        csrf_token=session.csrf_token,
                        created_at=session.created_at,
                        expires_at=session.expires_at,
                    )
                )
        except IntegrityError:
            raise NotFound("the API key or tenant of this session no longer exists") from None

    async def find_dashboard_session(self, id_hash: str) -> DashboardSession | None:
        """The session whose id hashes to ``id_hash``, expired or not; None when there is none."""
        async with self.read() as conn:
            row = (
                await conn.execute(
                    sa.select(t.dashboard_sessions).where(t.dashboard_sessions.c.id_hash == id_hash)
                )
            ).first()
        if row is None:
            return None
        return DashboardSession(
            id_hash=row.id_hash,
            kind=row.kind,
            api_key_id=row.api_key_id,
            tenant_id=row.tenant_id,
            is_admin=row.is_admin,
            admin_key_fingerprint=row.admin_key_fingerprint,
            csrf_token=row.csrf_token,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )

    async def delete_dashboard_session(self, id_hash: str) -> None:
        """End a session (nothing happens when it has already ended)."""
        async with self.write() as conn:
            await conn.execute(
                t.dashboard_sessions.delete().where(t.dashboard_sessions.c.id_hash == id_hash)
            )
