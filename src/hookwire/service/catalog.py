"""The event-type catalogue: what events exist, and the JSON Schema their data meets."""

from __future__ import annotations

from typing import Any

from hookwire.errors import Conflict, Invalid
from hookwire.operational import RESERVED_MESSAGE, is_operational
from hookwire.records import EventType, Page
from hookwire.service.cache import ReadCache
from hookwire.service.inputs import MAX_PAGE_LIMIT, EventTypeCreate, EventTypeUpdate
from hookwire.storage import Storage
from hookwire.validation import check_json_schema, unknown_event_types


class Catalog:
    """Event types, kept by the operator; their schemas are checked before they are saved."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._known: ReadCache[str, EventType] = ReadCache()

    async def create(self, new: EventTypeCreate) -> EventType:
        """Add an event type; its schema must be one hookwire can run safely."""
        if is_operational(new.name):
            raise Invalid.one("name", RESERVED_MESSAGE)
        if new.schema_ is not None:
            check_json_schema(new.schema_)
        return await self._storage.create_event_type(new.name, new.description, new.schema_)

    async def all(self) -> list[EventType]:
        """The whole catalogue, by name."""
        types: list[EventType] = []
        cursor: str | None = None
        while True:
            page = await self._storage.list_event_types(MAX_PAGE_LIMIT, cursor)
            types.extend(page.items)
            if page.next_cursor is None:
                return types
            cursor = page.next_cursor

    async def get(self, name: str) -> EventType:
        """One event type."""
        return await self._storage.get_event_type(name)

    async def known(self, name: str) -> EventType:
        """One event type, as accepting an event needs it: kept between requests
        (``ReadCache``), so that a trigger does not read the catalogue each time."""
        found = await self._known.get_or_load(name, lambda: self._storage.get_event_type(name))
        assert found is not None  # get_event_type raises NotFound instead
        return found

    def changed(self, kind: str, ident: str) -> None:
        """A change notice: forget an event type that was changed or removed."""
        if kind == "event_type":
            self._known.drop(ident)

    def forget_all(self) -> None:
        self._known.clear()

    async def update(self, name: str, changes: EventTypeUpdate) -> EventType:
        """Change the fields set in ``changes``: ``schema`` None removes it, as
        ``description`` None clears it."""
        _refuse_if_operational(name, "changed")
        values: dict[str, Any] = changes.model_dump(exclude_unset=True)
        if "schema_" in values:
            values["schema"] = values.pop("schema_")
            if values["schema"] is not None:
                check_json_schema(values["schema"])
        if "description" in values and values["description"] is None:
            values["description"] = ""
        if not values:
            return await self._storage.get_event_type(name)
        return await self._storage.update_event_type(name, values)

    async def delete(self, name: str) -> None:
        """Remove an event type; events already accepted keep their type name."""
        _refuse_if_operational(name, "deleted")
        await self._storage.delete_event_type(name)

    async def check_names(self, names: list[str]) -> None:
        """Invalid about ``events`` naming every name that is not in the catalogue."""
        missing = unknown_event_types(names, await self._storage.existing_event_types(names))
        if missing:
            listed = ", ".join(repr(m) for m in missing)
            raise Invalid.one(
                "events",
                f"unknown event types: {listed}",
                f"unknown event types: {listed}; add them to the catalogue first "
                '(POST /v1/event-types) or use ["*"]',
            )

    # Last in the class: below it, "list" in an annotation would name this method.
    async def list(self, limit: int | None = None, cursor: str | None = None) -> Page[EventType]:
        """A page of the catalogue, by name."""
        return await self._storage.list_event_types(limit, cursor)


def _refuse_if_operational(name: str, what: str) -> None:
    if is_operational(name):
        raise Conflict(
            f"{name} is one of hookwire's own operational event types: it cannot be {what} "
            "(webhooks subscribe to it by name to hear about failing webhooks)"
        )
