"""Webhooks: where they deliver, what they receive, their token and whether they are on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from hookwire.addressguard import url_refusal
from hookwire.config import Settings
from hookwire.enums import Ordering, SignatureScheme
from hookwire.errors import FieldError, Invalid
from hookwire.records import Blocker, Page, Webhook
from hookwire.service.catalog import Catalog
from hookwire.service.inputs import MAX_PAGE_LIMIT, WebhookCreate, WebhookUpdate
from hookwire.signing import generate_token, standard_secret
from hookwire.storage import Storage
from hookwire.storage.base import utcnow

PUBLIC_ONLY_HINT = (
    "hookwire delivers only to public addresses (the operator can allow private networks "
    "with HOOKWIRE_ALLOW_PRIVATE_NETWORKS)"
)
# Fields that an update may set to null (meaning "none"); null elsewhere is refused.
WEBHOOK_NULLABLE = frozenset({"rate_limit"})


def check_webhook_url(url: str, *, allow_private: bool) -> None:
    """Invalid about ``url`` when hookwire may not deliver there (see ``url_refusal``).

    Checked whenever a webhook is saved, so a loopback or private URL is
    refused then rather than at its first delivery.
    """
    try:
        reason = url_refusal(url, allow_private)
    except ValueError as exc:
        raise Invalid.one("url", f"the URL cannot be read: {exc}") from None
    if reason is not None:
        raise Invalid.one("url", f"{reason}; {PUBLIC_ONLY_HINT}")


class Webhooks:
    """A tenant's webhooks; every change to one goes through here, whichever door it came by."""

    def __init__(self, storage: Storage, settings: Settings, catalog: Catalog) -> None:
        self._storage = storage
        self._settings = settings
        self._catalog = catalog

    def new_token(self, scheme: SignatureScheme = SignatureScheme.HOOKWIRE) -> str:
        """A fresh signing token in the form ``scheme`` signs with."""
        return generate_token(scheme)

    async def create(self, tenant_id: str, new: WebhookCreate) -> Webhook:
        """Register a webhook; without a token, one is generated for its signature scheme."""
        await self._check(new.url, new.events)
        fields: dict[str, Any] = new.model_dump()
        scheme = new.signature_scheme
        fields["token"] = _in_form(scheme, new.token) if new.token else self.new_token(scheme)
        return await self._storage.create_webhook(tenant_id, fields)

    async def names(self, tenant_id: str) -> dict[str, str]:
        """Every webhook of the tenant: its name by its id."""
        names: dict[str, str] = {}
        cursor: str | None = None
        while True:
            page = await self._storage.list_webhooks(tenant_id, MAX_PAGE_LIMIT, cursor)
            names.update((w.id, w.name) for w in page.items)
            if page.next_cursor is None:
                return names
            cursor = page.next_cursor

    async def get(self, tenant_id: str, webhook_id: str) -> Webhook:
        """One webhook, with its token."""
        return await self._storage.get_webhook(tenant_id, webhook_id)

    async def update(
        self,
        tenant_id: str,
        webhook_id: str,
        changes: WebhookUpdate,
        *,
        lifts_suspension: bool = True,
    ) -> Webhook:
        """Change the fields set in ``changes``; only ``rate_limit`` may be set to null.

        ``active: true`` re-activates the webhook, which lifts a suspension. A
        form that always sends ``active`` (the dashboard's Enabled box) passes
        ``lifts_suspension=False``: an unchanged ``active`` is then left out,
        so only an explicit re-activation lifts a suspension.
        """
        values = changes.model_dump(exclude_unset=True)
        nulls = [k for k, v in values.items() if v is None and k not in WEBHOOK_NULLABLE]
        if nulls:
            raise Invalid(
                [FieldError(k, "cannot be null") for k in nulls],
                f"these fields cannot be null: {', '.join(nulls)}",
            )
        await self._check(values.get("url"), values.get("events"))
        if not lifts_suspension and "active" in values:
            current = await self._storage.get_webhook(tenant_id, webhook_id)
            if values["active"] == current.active:
                del values["active"]
        if "token" in values or "signature_scheme" in values:
            # The token in the form of the scheme it will sign with (a new
            # token, or the current one when the scheme changes).
            scheme, token = values.get("signature_scheme"), values.get("token")
            if scheme is None or token is None:
                current = await self._storage.get_webhook(tenant_id, webhook_id)
                scheme, token = scheme or current.signature_scheme, token or current.token
            converted = _in_form(scheme, token)
            if "token" in values or converted != token:
                values["token"] = converted
        if not values:
            return await self._storage.get_webhook(tenant_id, webhook_id)
        return await self._storage.update_webhook(tenant_id, webhook_id, values)

    async def blockers(self, webhooks: Sequence[Webhook]) -> dict[str, Blocker]:
        """Of ``webhooks`` (read through this service, so the caller's), the FIFO ones
        held back by a failing delivery, with it. Nothing is read for the others."""
        fifo = [w.id for w in webhooks if w.ordering == Ordering.FIFO]
        return await self._storage.fifo_blockers(fifo) if fifo else {}

    async def blocker(self, webhook: Webhook) -> Blocker | None:
        """The delivery holding back a FIFO webhook's queue, if one is (see ``blockers``)."""
        return (await self.blockers([webhook])).get(webhook.id)

    async def reactivate(self, tenant_id: str, webhook_id: str) -> Webhook:
        """Enable the webhook and lift a suspension: it receives new events again."""
        return await self._storage.update_webhook(tenant_id, webhook_id, {"active": True})

    async def delete(self, tenant_id: str, webhook_id: str) -> None:
        """Delete a webhook with its deliveries and event log."""
        await self._storage.delete_webhook(tenant_id, webhook_id)

    async def rotate_token(self, tenant_id: str, webhook_id: str) -> Webhook:
        """A new token; the old one keeps signing beside it for the grace period."""
        current = await self._storage.get_webhook(tenant_id, webhook_id)
        grace_until = utcnow() + timedelta(seconds=self._settings.token_grace_seconds)
        token = self.new_token(current.signature_scheme)
        return await self._storage.rotate_webhook_token(tenant_id, webhook_id, token, grace_until)

    async def refusals(
        self, *, url: str | None = None, events: list[str] | None = None
    ) -> list[FieldError]:
        """What the rules beyond each field's own form refuse in these values, all at once.

        For a form that shows every error together; the URL is checked against
        the address guard and the event names against the catalogue.
        """
        errors: list[FieldError] = []
        try:
            self._check_url(url)
        except Invalid as exc:
            errors.extend(exc.errors)
        if events is not None:
            try:
                await self._catalog.check_names(events)
            except Invalid as exc:
                errors.extend(exc.errors)
        return errors

    async def _check(self, url: str | None, events: list[str] | None) -> None:
        self._check_url(url)
        if events is not None:
            await self._catalog.check_names(events)

    def _check_url(self, url: str | None) -> None:
        if url is not None:
            check_webhook_url(url, allow_private=self._settings.allow_private_networks)

    # Last in the class: below it, "list" in an annotation would name this method.
    async def list(
        self, tenant_id: str, limit: int | None = None, cursor: str | None = None
    ) -> Page[Webhook]:
        """A page of the tenant's webhooks, in creation order."""
        return await self._storage.list_webhooks(tenant_id, limit, cursor)


def _in_form(scheme: SignatureScheme | str, token: str) -> str:
    """``token`` as ``scheme``'s verifiers take it.

    A Standard Webhooks receiver passes the secret to its library as given
    (``standardwebhooks``, ``svix``), which accepts only ``whsec_<base64>``.
    A token chosen in another form is stored as the ``whsec_`` form of the same
    bytes: the signing key, and so every signature, stays the same, and the
    token shown is one those libraries accept.
    """
    return standard_secret(token) if scheme == SignatureScheme.STANDARD else token
