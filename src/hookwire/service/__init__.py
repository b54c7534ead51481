"""The application layer: every operation of hookwire, whichever door it comes in by.

The API, the dashboard and the command line call these methods and nothing
below them; each rule of a webhook's life (token defaults and rotation, the
URL's address, catalogue names, schemas, idempotency, re-activation, recover's
time zone…) is written here once. Nothing here knows HTTP: operations take
parsed input (:mod:`hookwire.service.inputs`), return records
(:mod:`hookwire.records`) and raise the domain's errors (:mod:`hookwire.errors`),
which each door translates in one place.
"""

from __future__ import annotations

from hookwire.config import Settings
from hookwire.metrics import Metrics, QueueStats
from hookwire.service.auth import Auth
from hookwire.service.catalog import Catalog
from hookwire.service.deliveries import Deliveries
from hookwire.service.events import Events
from hookwire.service.portal import Portal
from hookwire.service.sessions import Sessions
from hookwire.service.tenants import Tenants
from hookwire.service.webhooks import Webhooks
from hookwire.storage import Storage

__all__ = ["Services"]


class Services:
    """One object per area, built once per app from its storage, settings and metrics."""

    def __init__(self, storage: Storage, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.catalog = Catalog(storage)
        self.tenants = Tenants(storage)
        self.auth = Auth(storage, settings.admin_key)
        self.webhooks = Webhooks(storage, settings, self.catalog)
        self.events = Events(storage, self.catalog, metrics)
        self.deliveries = Deliveries(storage)
        self.sessions = Sessions(storage, settings.admin_key)
        self.portal = Portal(storage, settings, self.sessions)
        self._storage = storage
        storage.signals.add_change_listener(self._changed)

    async def listen(self) -> None:
        """Hear other processes' change notices, until cancelled (PostgreSQL; SQLite
        returns at once, as this process is the only one that changes its file)."""
        await self._storage.listen(_ignore, self._changed, self._forget_all)

    def _changed(self, kind: str, ident: str) -> None:
        self.auth.changed(kind, ident)
        self.catalog.changed(kind, ident)

    def _forget_all(self) -> None:
        """Notices may have been missed (a new LISTEN connection): trust nothing kept."""
        self.auth.forget_all()
        self.catalog.forget_all()

    async def ping(self) -> None:
        """Return once the database answers; :class:`Unavailable` within its timeout if not."""
        await self._storage.ping()

    async def queue_stats(self) -> QueueStats:
        """The delivery queue and webhook counts ``/metrics`` exports (bounded by the timeout)."""
        return await self._storage.queue_stats()


def _ignore() -> None:
    """Wake-ups are for workers; the services keep no queue."""
