"""The worker's copy of each webhook's sending settings, kept current.

A :class:`~hookwire.delivery.sender.Target` is built once per version of a
webhook. A claim says which version each delivery was claimed under, so a
stale copy is reloaded before sending; and a change made anywhere (disabled,
suspended, deleted, edited) is heard at once, in-process or through PostgreSQL
NOTIFY, and reloaded then, so that deliveries the worker is still holding are
sent (or skipped) with the webhook's current state. A target also keeps its
tenant's name, which chat-format messages show: a renamed tenant's targets are
reloaded the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from hookwire.delivery.sender import Target
from hookwire.records import ClaimedDelivery, Webhook
from hookwire.storage import Storage

log = logging.getLogger("hookwire.worker")

MAX_CACHED_TARGETS = 10_000
# A failed reload of changed webhooks is tried again after this long.
RELOAD_RETRY_SECONDS = 1.0


class Targets:
    """Sending settings by webhook id, reloaded when stale or changed."""

    def __init__(
        self,
        storage: Storage,
        allow_private: bool,
        on_changed: Callable[[str], None],
        in_use: Callable[[str], bool],
    ) -> None:
        self._storage = storage
        self._allow_private = allow_private
        self._on_changed = on_changed  # called with each id once its change is loaded
        self._in_use = in_use  # whether the worker holds deliveries of a webhook
        self._targets: dict[str, Target] = {}
        self._stale: set[str] = set()
        self._reloading: set[str] = set()  # taken from _stale by run(), not installed yet
        self._wanted = asyncio.Event()

    def get(self, webhook_id: str) -> Target | None:
        return self._targets.get(webhook_id)

    def cap(self, webhook_id: str) -> int:
        """The webhook's maxConcurrency (1 while it is unknown or deleted)."""
        target = self._targets.get(webhook_id)
        return target.max_concurrency if target is not None else 1

    async def load_for(self, claimed: Iterable[ClaimedDelivery]) -> None:
        """Load the webhooks of ``claimed`` whose settings are not at the claimed version,
        or changed since (a change notice not yet reloaded: a renamed tenant)."""
        changed = self._stale | self._reloading
        stale = {
            d.webhook_id
            for d in claimed
            if (target := self._targets.get(d.webhook_id)) is None
            or target.version != d.webhook_version
            or d.webhook_id in changed
        }
        if stale:
            self._install(stale, await self._storage.get_webhooks_by_id(stale))

    def changed(self, kind: str, ident: str) -> None:
        """A change notice (``"webhook"`` or ``"tenant"``, id): reload what it concerns soon."""
        if kind == "webhook" and ident in self._targets:
            self._stale.add(ident)
            self._wanted.set()
        elif kind == "tenant":
            renamed = {w for w, target in self._targets.items() if target.tenant_id == ident}
            if renamed:
                self._stale |= renamed
                self._wanted.set()

    def all_changed(self) -> None:
        """Notices may have been missed (a lost LISTEN connection): reload everything."""
        self._stale.update(self._targets)
        self._wanted.set()

    async def run(self) -> None:
        """Reload changed webhooks as soon as they are heard of, until cancelled."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            stale, self._stale = self._stale, set()
            self._reloading = stale
            try:
                self._install(stale, await self._storage.get_webhooks_by_id(stale))
            except Exception as exc:
                log.warning("reloading %d changed webhooks failed: %s", len(stale), exc)
                self._stale |= stale
                await asyncio.sleep(RELOAD_RETRY_SECONDS)
                self._wanted.set()
                continue
            finally:
                self._reloading = set()
            for webhook_id in stale:
                self._on_changed(webhook_id)

    def _install(self, webhook_ids: set[str], webhooks: list[tuple[Webhook, str]]) -> None:
        """Take the current settings of ``webhook_ids``; ``webhooks`` holds those that exist,
        each with its tenant's name."""
        for webhook, tenant_name in webhooks:
            self._targets.pop(webhook.id, None)  # re-inserted last: the newest stay longest
            self._targets[webhook.id] = Target.from_webhook(
                webhook, allow_private=self._allow_private, tenant_label=tenant_name
            )
        for webhook_id in webhook_ids - {w.id for w, _ in webhooks}:
            self._targets.pop(webhook_id, None)  # deleted, with its deliveries
        excess = len(self._targets) - MAX_CACHED_TARGETS
        for webhook_id in list(self._targets)[: max(0, excess)]:
            if not self._in_use(webhook_id):
                del self._targets[webhook_id]
