"""The storage layer: the only code that writes SQL.

``Storage`` is assembled from one mixin per concept so that each module stays
small; API, dashboard and worker call its methods and never see a table.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from hookwire.storage.accept import AcceptStore
from hookwire.storage.base import create_engine
from hookwire.storage.catalog import CatalogStore
from hookwire.storage.claims import ClaimStore
from hookwire.storage.deliveries import DeliveryStore
from hookwire.storage.logs import LogStore
from hookwire.storage.portal import PortalStore
from hookwire.storage.retention import RetentionStore
from hookwire.storage.sessions import SessionStore
from hookwire.storage.stats import StatsStore
from hookwire.storage.webhooks import WebhookStore

__all__ = ["Storage", "create_engine", "make_url"]


# DeliveryStore extends WebhookStore (it builds Webhook records), so it comes first.
class Storage(
    CatalogStore,
    ClaimStore,
    DeliveryStore,
    WebhookStore,
    AcceptStore,
    LogStore,
    SessionStore,
    PortalStore,
    RetentionStore,
    StatsStore,
):
    """Every database operation hookwire performs, on SQLite or PostgreSQL."""
