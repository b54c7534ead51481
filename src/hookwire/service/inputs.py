"""What an operation takes: the input models and their validators, shared by every door.

The API validates request bodies with these models (through FastAPI), the
dashboard validates form data with them (through :func:`parse_input`), and the
service's methods take them already parsed. So a person, a script and a test
meet the same rules and the same messages. JSON is camelCase; Python
attributes are snake_case. Rules that need the database or the settings (the
URL's address, catalogue names, an event type's schema) are the service's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from hookwire.addressguard import parse_url
from hookwire.config import DEFAULT_MAX_CONCURRENCY
from hookwire.enums import BodyFormat, Ordering, SignatureScheme
from hookwire.errors import FieldError, Invalid
from hookwire.jsonvalues import json_value_problem
from hookwire.storage.base import DEFAULT_PAGE_LIMIT as DEFAULT_PAGE_LIMIT
from hookwire.storage.base import MAX_PAGE_LIMIT as MAX_PAGE_LIMIT

EVENT_TYPE_PATTERN = r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$"
CLIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
# Each pattern's rule in words: what an error says instead of the expression.
EVENT_TYPE_RULE = (
    "lowercase words separated by dots, like license.created (a-z, 0-9, - and _ in each word)"
)
PATTERN_RULES = {
    EVENT_TYPE_PATTERN: EVENT_TYPE_RULE,
    CLIENT_ID_PATTERN: "letters, digits and . _ : - only, starting with a letter or a digit",
}
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
MAX_URL_CHARS = 2048
MAX_EVENT_NAMES = 500
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 2000
MAX_EVENT_TYPE_NAME_CHARS = 200
MAX_TENANT_ID_CHARS = 64
# An event id or Idempotency-Key, chosen by the caller.
MAX_CLIENT_ID_CHARS = 255
# The prefix pydantic puts before the messages of our validators' ValueErrors.
_PYDANTIC_VALUE_ERROR = "Value error, "

M = TypeVar("M", bound=BaseModel)


class Model(BaseModel):
    """camelCase in JSON, snake_case in Python; unknown fields refused; immutable."""

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


def error_message(error: Mapping[str, Any]) -> str:
    """A pydantic error's message as hookwire shows it, in the API and the dashboard alike.

    Our validators' messages are written for a person already; pydantic only
    prefixes them.
    """
    message = str(error.get("msg", "invalid value")).removeprefix(_PYDANTIC_VALUE_ERROR)
    kind = error.get("type")
    context = error.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        pattern = str(context.get("pattern", ""))
        message = "must be " + PATTERN_RULES.get(pattern, "in the documented form (see /docs)")
    return message


def parse_input(model: type[M], values: Mapping[str, Any]) -> M:
    """``values`` as ``model``; :class:`Invalid` naming each field as the API names it."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise Invalid(
            [
                FieldError(".".join(str(p) for p in error["loc"]) or "body", error_message(error))
                for error in exc.errors()
            ]
        ) from None


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
    """A URL the sender can read: absolute http(s), a host, a port, no whitespace."""
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


NO_EVENTS_MESSAGE = 'name at least one event type, or ["*"] for all'


def check_events(value: list[str]) -> list[str]:
    """Event-type names (or ``["*"]``), each once; whether they exist is the catalogue's."""
    if not value:
        raise ValueError(NO_EVENTS_MESSAGE)
    if "*" in value and len(value) > 1:
        raise ValueError('"*" already means every event type; list it alone')
    bad = [v for v in value if v != "*" and not re.match(EVENT_TYPE_PATTERN, v)]
    if bad:
        raise ValueError(
            f"not valid event type names: {', '.join(map(repr, bad))}; each must be "
            f"{EVENT_TYPE_RULE}"
        )
    return list(dict.fromkeys(value))


def check_headers(value: dict[str, str]) -> dict[str, str]:
    """Extra request headers a webhook may set: valid names, not hookwire's, printable values."""
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
    """A signing secret that survives copying: no whitespace, no control characters."""
    if any(c.isspace() for c in value) or not value.isprintable():
        raise ValueError("the token must not contain whitespace or control characters")
    return value


WebhookUrl = Annotated[str, Field(max_length=MAX_URL_CHARS), AfterValidator(check_url)]
EventNames = Annotated[list[str], Field(max_length=MAX_EVENT_NAMES), AfterValidator(check_events)]
Headers = Annotated[dict[str, str], AfterValidator(check_headers)]
Token = Annotated[
    str,
    Field(min_length=TOKEN_MIN_CHARS, max_length=TOKEN_MAX_CHARS),
    AfterValidator(check_token),
]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)]
EventTypeName = Annotated[
    str, Field(max_length=MAX_EVENT_TYPE_NAME_CHARS, pattern=EVENT_TYPE_PATTERN)
]
MaxConcurrency = Annotated[int, Field(ge=1, le=MAX_CONCURRENCY_LIMIT)]
RateLimit = Annotated[int, Field(ge=1, le=MAX_RATE_LIMIT_PER_SECOND)]


# --- event types -------------------------------------------------------------


class EventTypeCreate(RequestModel):
    name: EventTypeName
    description: Description = ""
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class EventTypeUpdate(RequestModel):
    description: Description | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")


# --- tenants and keys ----------------------------------------------------------


class TenantCreate(RequestModel):
    id: (
        Annotated[
            str, Field(min_length=1, max_length=MAX_TENANT_ID_CHARS, pattern=CLIENT_ID_PATTERN)
        ]
        | None
    ) = None
    name: Name


class TenantUpdate(RequestModel):
    name: Name


class ApiKeyCreate(RequestModel):
    name: Name = "default"


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
    ordering: Ordering = Field(
        Ordering.NONE,
        description="`fifo`: one delivery at a time, in the order the events were accepted.",
    )
    format: BodyFormat = Field(
        BodyFormat.HOOKWIRE,
        description="The request body: the event as JSON, or a Slack or Discord message.",
    )


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
    ordering: Ordering | None = None
    format: BodyFormat | None = None


# --- events and the event log ---------------------------------------------------


class EventCreate(RequestModel):
    # The payload is stored as bytes; NUL in its text is valid JSON and reaches
    # receivers as the escape \u0000.
    nul_allowed_fields = frozenset({"data"})

    event: EventTypeName = Field(description="The event type's name.")
    data: dict[str, Any] = Field(description="The event's JSON object.")
    id: (
        Annotated[
            str, Field(min_length=1, max_length=MAX_CLIENT_ID_CHARS, pattern=CLIENT_ID_PATTERN)
        ]
        | None
    ) = Field(None, description="Your id for the event; repeating it returns the first event.")


class RecoverRequest(RequestModel):
    since: UtcDatetime = Field(description="Resend failed and skipped deliveries since then.")
