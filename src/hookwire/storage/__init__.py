"""The storage layer: the only code that writes SQL.

``Storage`` is assembled from one mixin per concept so that each module stays
small; API, dashboard and worker call its methods and never see a table.
"""

from __future__ import annotations

from hookwire.storage.base import Conflict, InvalidCursor, NotFound, create_engine
from hookwire.storage.catalog import CatalogStore
from hookwire.storage.events import EventStore
from hookwire.storage.webhooks import WebhookStore

__all__ = ["Conflict", "InvalidCursor", "NotFound", "Storage", "create_engine"]


class Storage(CatalogStore, WebhookStore, EventStore):
    """Every database operation hookwire performs, on SQLite or PostgreSQL."""
