"""What the API answers, as frozen dataclasses with snake_case attributes.

Parsing is tolerant in one direction: fields this client does not know are
ignored, so a newer server with more fields still works. A field it needs
that is missing or of the wrong type raises
:class:`~hookwire.client.errors.UnexpectedAnswer` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import AfterValidator, ConfigDict, TypeAdapter
from pydantic.alias_generators import to_camel

R = TypeVar("R")

# camelCase in JSON, snake_case here; unknown keys are a newer server's, not an error.
_JSON = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


def _in_utc(value: datetime) -> datetime:
    # hookwire always sends UTC with an offset; a time without one is read as UTC
    # rather than refused, so that comparisons with aware times never raise.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Time = Annotated[datetime, AfterValidator(_in_utc)]


@dataclass(frozen=True, kw_only=True)
class Tenant:
    """One customer account of the platform."""

    __pydantic_config__: ClassVar[ConfigDict] = _JSON
    id: str
    name: str
    created_at: Time
    updated_at: Time


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """A tenant's API key. ``key`` is set only in the answer to its creation."""

    __pydantic_config__: ClassVar[ConfigDict] = _JSON
    id: str
    tenant_id: str | None
    name: str
    prefix: str
    created_at: Time
    last_used_at: Time | None = None
    key: str | None = None


@dataclass(frozen=True, kw_only=True)
class EventType:
    """An entry of the event catalogue; ``schema`` is the JSON Schema for ``data``."""

    __pydantic_config__: ClassVar[ConfigDict] = _JSON
    name: str
    description: str = ""
    schema: dict[str, Any] | None = None
    created_at: Time
    updated_at: Time


@dataclass(frozen=True, kw_only=True)
class Blocker:
    """The delivery holding back a ``fifo`` webhook: it failed and is still pending."""

    __pydantic_config__: ClassVar[ConfigDict] = _JSON
    delivery_id: str
    event_id: str
    event: str
    attempts: int
    last_status_code: int | None = None
    reason: str | None = None
    retry_at: Time | None = None  # None while that attempt is in flight


@dataclass(frozen=True, kw_only=True)
class Webhook:
    """A tenant's webhook. ``token`` and ``headers`` are masked in lists."""

    __pydantic_config__: ClassVar[ConfigDict] = _JSON
    id: str
    tenant_id: str
    name: str
    description: str = ""
    url: str
    token: str
    events: tuple[str, ...]
    active: bool
    headers: dict[str, str] = field(default_factory=dict)
    signature_scheme: str = "hookwire"
    max_concurrency: int
    rate_limit: int | None = None
    ordering: str = "none"
    format: str = "hookwire"
    status: str
    last_delivery_at: Time | None = None
    last_status_code: int | None = None
    blocked_by: Blocker | None = None
    created_at: Time
    updated_at: Time


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One HTTP request of a delivery, as the webhook's event log shows it."""

    __pydantic_config__: ClassVar[ConfigDict] = _JSON
    id: str
    delivery_id: str
    webhook_id: str
    event_id: str
    event: str
    attempt: int
    trigger: str
    sent_at: Time | None = None
    received_at: Time | None = None
    duration_ms: int | None = None
    status_code: int | None = None
    success: bool
    retry_reason: str | None = None
    error: str | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] | None = None
    response_body: str | None = None
    # When it was recorded: the log's order and what since/until filter on.
    created_at: Time | None = None
    # The body sent when it is not the event's payload (a Slack or Discord message).
    request_body: str | None = None


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One event on its way to one webhook.

    ``logs`` (every request made for it, oldest first) is filled only by
    ``get_delivery``; elsewhere it is empty.
    """

    __pydantic_config__: ClassVar[ConfigDict] = _JSON
    id: str
    event_id: str
    webhook_id: str
    event: str
    state: str
    attempts: int
    next_attempt_at: Time | None = None
    last_status_code: int | None = None
    created_at: Time
    updated_at: Time
    logs: tuple[LogEntry, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Event:
    """One occurrence of an event type, with its deliveries."""

    __pydantic_config__: ClassVar[ConfigDict] = _JSON
    id: str
    event: str
    data: dict[str, Any]
    triggered_at: Time
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True, kw_only=True)
class EventAccepted:
    """The answer to sending an event, or a test event.

    ``deliveries`` is how many webhooks it goes to (``hint`` says why when it is
    none); ``replayed`` is true when
    the ``id`` or ``Idempotency-Key`` was seen before and this is the first
    event again, delivered to nobody anew.
    """

    __pydantic_config__: ClassVar[ConfigDict] = _JSON
    id: str
    event: str
    triggered_at: Time
    deliveries: int
    hint: str | None = None
    replayed: bool = False


@dataclass(frozen=True, kw_only=True)
class PortalLink:
    """A single-use, short-lived sign-in URL to the dashboard, scoped to one tenant."""

    __pydantic_config__: ClassVar[ConfigDict] = _JSON
    url: str
    expires_at: Time | None = None


@dataclass(frozen=True)
class Page(Generic[R]):
    """One page of a list; pass ``next_cursor`` as ``cursor`` for the next (None: the last)."""

    data: tuple[R, ...]
    next_cursor: str | None


# Built once: building an adapter costs far more than using it.
_ADAPTERS: Mapping[type[Any], TypeAdapter[Any]] = {
    cls: TypeAdapter(cls)
    for cls in (
        Tenant,
        ApiKey,
        EventType,
        Webhook,
        LogEntry,
        Delivery,
        Event,
        EventAccepted,
        PortalLink,
    )
}


def parse(cls: type[R], value: object) -> R:
    """``value`` (decoded JSON) as a ``cls``; ``ValueError`` when it does not fit."""
    parsed: R = _ADAPTERS[cls].validate_python(value)
    return parsed


def parse_page(cls: type[R], value: object) -> Page[R]:
    """A ``{"data": [...], "nextCursor": ...}`` answer as a :class:`Page` of ``cls``."""
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise ValueError('a list answer must be an object with a "data" list')
    cursor = value.get("nextCursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ValueError('"nextCursor" must be a string or null')
    return Page(tuple(parse(cls, item) for item in value["data"]), cursor)
