"""Request and response bodies, in families: ``XCreate``, ``XUpdate``, ``XPublic``.

JSON is camelCase; Python attributes are snake_case. Validation that needs no
database lives here, so the API and the dashboard share it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from hookwire.addressguard import parse_url
from hookwire.auth import API_KEY_TOUCH_INTERVAL_SECONDS
from hookwire.config import DEFAULT_MAX_CONCURRENCY
from hookwire.enums import DeliveryState, SignatureScheme, Trigger, WebhookStatus
from hookwire.jsonvalues import json_value_problem

EVENT_TYPE_PATTERN = r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$"
CLIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
HEADER_NAME_PATTERN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Hop-by-hop headers (RFC 9110 §7.6.1) and the ones hookwire itself owns: a
# webhook may not override framing, routing or its own signature.
FORBIDDEN_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-type",
        "webhook-signature",
        "webhook-id",
        "webhook-timestamp",
    }
)
MAX_CUSTOM_HEADERS = 20
MAX_HEADER_NAME_CHARS = 256
MAX_HEADER_VALUE_CHARS = 1024
# Printable ASCII only: what every HTTP stack sends and receives the same way
# (control characters split or smuggle headers; other bytes are decoded differently).
NOT_HEADER_VALUE_CHAR = re.compile(r"[^\x20-\x7e]")
MAX_CONCURRENCY_LIMIT = 100
MAX_RATE_LIMIT_PER_SECOND = 10_000
TOKEN_MIN_CHARS = 8
TOKEN_MAX_CHARS = 512


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class RequestModel(Model):
    """A request body (API or dashboard form): every field is held to the JSON value rules.

    Checked before the field's own validation, so a value nested too deep, a
    non-finite number, a lone surrogate or a NUL is refused with the field's
    name, whichever field it is in (see :func:`json_value_problem`).
    """

    # Fields whose text may hold NUL: stored as bytes and sent as the JSON
    # escape \u0000, never in a text column.
    nul_allowed_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _acceptable_json(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        problem = json_value_problem(value, allow_nul=name in cls.nul_allowed_fields)
        if problem is not None:
            where, why = problem
            declared = cls.model_fields.get(name)
            field = (declared.alias if declared else None) or name
            raise ValueError(f"{why} (at {field}{where})" if where else why)
        return value


def to_utc(value: datetime) -> datetime:
    """The same moment in UTC; a 422 (not an overflow) at the ends of the calendar."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            "is outside the range hookwire can store: in UTC it must fall between "
            "0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
        ) from None


# An aware time, in UTC: an offset that moves it past the calendar's ends is a 422.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]


def check_url(value: str) -> str:
    if value != value.strip() or any(c.isspace() for c in value):
        raise ValueError("the URL must not contain whitespace")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("the URL must be absolute and start with http:// or https://")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError("the URL's port is not a number between 0 and 65535") from None
    try:
        host = parse_url(value).raw_host or ""  # as the sender reads it (IDNA-mapped)
    except ValueError as exc:
        raise ValueError(f"the URL cannot be read: {exc}") from None
    if "%" in host and ":" not in host:  # an IPv6 zone (fe80::1%25eth0) is the exception
        raise ValueError("write the URL's host out; it must not be percent-encoded")
    return value


def check_events(value: list[str]) -> list[str]:
    if not value:
        raise ValueError('name at least one event type, or ["*"] for all')
    if "*" in value and len(value) > 1:
        raise ValueError('"*" already means every event type; list it alone')
    bad = [v for v in value if v != "*" and not re.match(EVENT_TYPE_PATTERN, v)]
    if bad:
        raise ValueError(f"not valid event type names: {', '.join(map(repr, bad))}")
    return list(dict.fromkeys(value))


def check_headers(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_CUSTOM_HEADERS:
        raise ValueError(f"at most {MAX_CUSTOM_HEADERS} custom headers")
    for name, header_value in value.items():
        if len(name) > MAX_HEADER_NAME_CHARS:
            raise ValueError(
                f"header names are at most {MAX_HEADER_NAME_CHARS} characters long; "
                f"{name[:40]!r}… has {len(name)}"
            )
        if not HEADER_NAME_PATTERN.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if name.lower() in FORBIDDEN_HEADERS:
            raise ValueError(f"the header {name!r} is set by hookwire and cannot be overridden")
        if len(header_value) > MAX_HEADER_VALUE_CHARS:
            raise ValueError(
                f"the value of header {name!r} is {len(header_value)} characters long; "
                f"at most {MAX_HEADER_VALUE_CHARS} are allowed"
            )
        bad = NOT_HEADER_VALUE_CHAR.search(header_value)
        if bad is not None:
            raise ValueError(
                f"the value of header {name!r} may contain only printable ASCII characters, "
                "from space to '~' (no CR, LF or other control characters, no letters "
                f"outside ASCII); it contains {bad.group()!r} at position {bad.start()}"
            )
    return value


def check_token(value: str) -> str:
    if any(c.isspace() for c in value) or not value.isprintable():
        raise ValueError("the token must not contain whitespace or control characters")
    return value


WebhookUrl = Annotated[str, Field(max_length=2048), AfterValidator(check_url)]
EventNames = Annotated[list[str], Field(max_length=500), AfterValidator(check_events)]
Headers = Annotated[dict[str, str], AfterValidator(check_headers)]
Token = Annotated[
    str,
    Field(min_length=TOKEN_MIN_CHARS, max_length=TOKEN_MAX_CHARS),
    AfterValidator(check_token),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=2000)]
EventTypeName = Annotated[str, Field(max_length=200, pattern=EVENT_TYPE_PATTERN)]
MaxConcurrency = Annotated[int, Field(ge=1, le=MAX_CONCURRENCY_LIMIT)]
RateLimit = Annotated[int, Field(ge=1, le=MAX_RATE_LIMIT_PER_SECOND)]

T = TypeVar("T")


class ListResponse(Model, Generic[T]):
    data: list[T]
    next_cursor: str | None


# --- event types -------------------------------------------------------------


class EventTypeCreate(RequestModel):
    name: EventTypeName
    description: Description = ""
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class EventTypeUpdate(RequestModel):
    description: Description | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class EventTypePublic(Model):
    name: str
    description: str
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    created_at: datetime
    updated_at: datetime


# --- tenants and keys ----------------------------------------------------------


class TenantCreate(RequestModel):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=CLIENT_ID_PATTERN)] | None = None
    name: Name


class TenantUpdate(RequestModel):
    name: Name


class TenantPublic(Model):
    id: str
    name: str
    created_at: datetime
    updated_at: datetime


class ApiKeyCreate(RequestModel):
    name: Name = "default"


class ApiKeyPublic(Model):
    id: str
    tenant_id: str | None
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None = Field(
        None,
        description=(
            "When the key last authenticated a request (or a dashboard sign-in); null if "
            f"never. Accurate to {API_KEY_TOUCH_INTERVAL_SECONDS} seconds: it is written at most "
            f"once per {API_KEY_TOUCH_INTERVAL_SECONDS} seconds per key."
        ),
    )


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key itself; shown only in this answer, never again.")


# --- webhooks ----------------------------------------------------------------


class WebhookCreate(RequestModel):
    name: Name
    url: WebhookUrl
    token: Token | None = Field(None, description="Signing secret; generated when omitted.")
    events: EventNames = Field(default_factory=lambda: ["*"])
    active: bool = True
    description: Description = ""
    headers: Headers = Field(default_factory=dict)
    signature_scheme: SignatureScheme = SignatureScheme.HOOKWIRE
    max_concurrency: MaxConcurrency = DEFAULT_MAX_CONCURRENCY
    rate_limit: RateLimit | None = None


class WebhookUpdate(RequestModel):
    name: Name | None = None
    url: WebhookUrl | None = None
    token: Token | None = None
    events: EventNames | None = None
    active: bool | None = None
    description: Description | None = None
    headers: Headers | None = None
    signature_scheme: SignatureScheme | None = None
    max_concurrency: MaxConcurrency | None = None
    rate_limit: RateLimit | None = None


# Fields that PATCH may set to null (meaning "none"); null elsewhere is a 422.
WEBHOOK_NULLABLE = frozenset({"rate_limit"})


class WebhookPublic(Model):
    id: str
    tenant_id: str
    name: str
    description: str
    url: str
    token: str = Field(description="Full on create and single GET; masked in lists.")
    events: list[str]
    active: bool
    headers: dict[str, str] = Field(
        description="Full on create, update and single GET; values masked in lists."
    )
    signature_scheme: SignatureScheme
    max_concurrency: int
    rate_limit: int | None
    status: WebhookStatus
    last_delivery_at: datetime | None
    last_status_code: int | None
    created_at: datetime
    updated_at: datetime


# --- events and deliveries ------------------------------------------------------


class EventCreate(RequestModel):
    # The payload is stored as bytes; NUL in its text is valid JSON and reaches
    # receivers as the escape \u0000.
    nul_allowed_fields = frozenset({"data"})

    event: EventTypeName = Field(description="The event type's name.")
    data: dict[str, Any] = Field(description="The event's JSON object.")
    id: Annotated[str, Field(min_length=1, max_length=255, pattern=CLIENT_ID_PATTERN)] | None = (
        Field(None, description="Your id for the event; repeating it returns the first event.")
    )


class DeliveryPublic(Model):
    id: str
    event_id: str
    webhook_id: str
    event: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    created_at: datetime
    updated_at: datetime


class EventAccepted(Model):
    id: str
    event: str
    triggered_at: datetime
    deliveries: int = Field(description="How many webhooks the event goes to.")


class EventPublic(Model):
    id: str
    event: str
    data: dict[str, Any]
    triggered_at: datetime
    deliveries: list[DeliveryPublic]


# --- the event log ----------------------------------------------------------------




class LogEntryPublic(Model):
    """One HTTP request of a delivery, as the event log shows it."""

    id: str
    delivery_id: str
    webhook_id: str
    event_id: str
    event: str
    attempt: int
    trigger: Trigger
    sent_at: datetime | None
    received_at: datetime | None
    duration_ms: int | None
    status_code: int | None = Field(description="Null when no answer came (timeout, refused…).")
    success: bool
    retry_reason: str | None = Field(description="Why this request is a retry.")
    error: str | None
    request_headers: dict[str, str]
    response_headers: dict[str, str] | None
    response_body: str | None = Field(description="The first 4 KiB of the answer.")


class DeliveryDetail(DeliveryPublic):
    logs: list[LogEntryPublic] = Field(description="Every request of this delivery, oldest first.")


class RecoverRequest(RequestModel):
    since: UtcDatetime = Field(description="Resend failed and skipped deliveries since then.")


class RecoverResult(Model):
    deliveries: int = Field(description="How many deliveries were queued again.")
