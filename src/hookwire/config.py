"""One typed settings object, read once at start-up from flags and ``HOOKWIRE_*``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Every default is a named constant with its unit in the name.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DATABASE_FILE = "hookwire.db"
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_DATABASE_TIMEOUT_SECONDS = 5.0
DEFAULT_REQUEST_TIMEOUT_SECONDS = 15.0
DEFAULT_RETRY_SCHEDULE_SECONDS = (5, 300, 1800, 7200, 18000, 36000, 36000)
DEFAULT_RETRY_JITTER_FRACTION = 0.2
DEFAULT_SUSPEND_AFTER_SECONDS = 5 * 24 * 3600
DEFAULT_TOKEN_GRACE_SECONDS = 24 * 3600
DEFAULT_MAX_CONCURRENCY = 10
# A claimed delivery's lease outlives its request by this margin; the worker
# renews what it still holds, so a crashed worker's deliveries are free again
# within about one lease (DEFAULT_LEASE_SECONDS with the default timeout).
LEASE_MARGIN_SECONDS = 5.0
DEFAULT_LEASE_SECONDS = DEFAULT_REQUEST_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS
DEFAULT_POLL_INTERVAL_SECONDS = 1.0
DEFAULT_CLAIM_BATCH_SIZE = 200
DEFAULT_WORKER_MAX_IN_FLIGHT = 500
DEFAULT_SHUTDOWN_GRACE_SECONDS = 20.0
DEFAULT_RESPONSE_READ_BYTES = 64 * 1024
DEFAULT_RESPONSE_STORE_BYTES = 4 * 1024
DEFAULT_RETENTION_DAYS = 30
# A portal link is for a redirect that happens at once; its session for a sitting.
DEFAULT_PORTAL_LINK_MINUTES = 10.0
DEFAULT_PORTAL_SESSION_MINUTES = 60.0


class Settings(BaseSettings):
    """Everything an operator can set; each field is also ``HOOKWIRE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="HOOKWIRE_", extra="ignore")

    host: str = Field(DEFAULT_HOST, description="Address the HTTP server binds to.")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="Port the HTTP server binds to.")
    database_url: str = Field(
        "",
        description="sqlite:///path or postgresql://user@host/db; default ./hookwire.db.",
    )
    data_dir: Path = Field(
        Path("."), description="Folder for the SQLite file and the generated secret key."
    )
    admin_key: str | None = Field(
        None, description="Admin API key; generated and printed once when unset."
    )
    secret_key: str | None = Field(
        None,
        description="Key that encrypts webhook tokens at rest; generated into the data folder.",
    )
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, gt=0, description="Largest request body.")
    request_timeout_seconds: float = Field(
        DEFAULT_REQUEST_TIMEOUT_SECONDS, gt=0, description="Timeout of one delivery request."
    )
    retry_schedule: Annotated[tuple[float, ...], NoDecode] = Field(
        DEFAULT_RETRY_SCHEDULE_SECONDS,
        description="Seconds between attempts, comma-separated, e.g. 5,300,1800.",
    )
    retry_jitter: float = Field(
        DEFAULT_RETRY_JITTER_FRACTION, ge=0, lt=1, description="Jitter fraction of each retry."
    )
    suspend_after_seconds: float = Field(
        DEFAULT_SUSPEND_AFTER_SECONDS,
        gt=0,
        description="A webhook failing this long without a success is suspended.",
    )
    token_grace_seconds: float = Field(
        DEFAULT_TOKEN_GRACE_SECONDS,
        ge=0,
        description="How long the old token keeps signing after a rotation.",
    )
    allow_private_networks: bool = Field(
        False, description="Allow deliveries to loopback, private and link-local addresses."
    )
    database_timeout_seconds: float = Field(
        DEFAULT_DATABASE_TIMEOUT_SECONDS,
        gt=0,
        description="How long a request waits for the database before answering 503.",
    )
    lease_seconds: float = Field(
        DEFAULT_LEASE_SECONDS,
        gt=0,
        description="How long a claimed delivery is held before others may take it over "
        "(renewed while held); default: the request timeout plus 5 s.",
    )
    poll_interval_seconds: float = Field(
        DEFAULT_POLL_INTERVAL_SECONDS, gt=0, description="Longest wait between claims when idle."
    )
    claim_batch_size: int = Field(DEFAULT_CLAIM_BATCH_SIZE, gt=0, description="Claim size.")
    max_in_flight: int = Field(
        DEFAULT_WORKER_MAX_IN_FLIGHT, gt=0, description="Requests one worker sends at once."
    )
    shutdown_grace_seconds: float = Field(
        DEFAULT_SHUTDOWN_GRACE_SECONDS,
        ge=0,
        description="On SIGTERM, how long in-flight requests may finish.",
    )
    retention_days: int = Field(
        DEFAULT_RETENTION_DAYS,
        gt=0,
        description="Days the event log, finished deliveries and their events are kept.",
    )
    run_worker: bool = Field(True, description="Run the delivery worker inside `serve`.")
    portal_link_minutes: float = Field(
        DEFAULT_PORTAL_LINK_MINUTES,
        gt=0,
        description="How long a portal sign-in link may be used (once).",
    )
    portal_session_minutes: float = Field(
        DEFAULT_PORTAL_SESSION_MINUTES,
        gt=0,
        description="How long a portal session lasts after its link was used.",
    )
    portal_frame_ancestors: str = Field(
        "",
        description="Origins that may show the portal in an iframe, space-separated "
        "(https://app.example.com); none when empty.",
    )
    portal_product_name: str = Field(
        "", max_length=60, description="Product name shown in the portal instead of hookwire."
    )
    portal_accent_color: str = Field(
        "",
        pattern=r"^(#[0-9a-fA-F]{6})?$",
        description="Accent colour of the portal, as #rrggbb.",
    )
    metrics_token: str | None = Field(
        None, description="When set, GET /metrics needs `Authorization: Bearer <token>`."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one JSON object per log line, with ids, never secrets."
    )

    @model_validator(mode="after")
    def _lease_follows_timeout(self) -> Settings:
        # Unless chosen, the lease follows the request timeout, so a request in
        # flight never outlives the lease that protects it from a second sender.
        if "lease_seconds" not in self.model_fields_set:
            self.lease_seconds = self.request_timeout_seconds + LEASE_MARGIN_SECONDS
        return self

    @field_validator("portal_frame_ancestors")
    @classmethod
    def _frame_ancestors_are_origins(cls, value: str) -> str:
        return " ".join(frame_ancestor_origins(value))

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            if not parts:
                raise ValueError("retry schedule needs at least one number of seconds")
            try:
                return tuple(float(p) for p in parts)
            except ValueError:
                raise ValueError(
                    f"retry schedule must be comma-separated seconds, got {value!r}"
                ) from None
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _positive_schedule(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(v < 0 for v in value):
            raise ValueError("retry schedule entries must be >= 0 seconds")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL: the SQLite file in ``data_dir`` unless one is given."""
        url = self.database_url or f"sqlite:///{self.data_dir / DEFAULT_DATABASE_FILE}"
        return to_async_url(url)


# scheme://host[:port]: a DNS name, an IPv4 address or a bracketed IPv6 address.
_ORIGIN = re.compile(
    r"(?P<scheme>https?)://"
    r"(?P<host>[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])"
    r"(:(?P<port>[0-9]{1,5}))?",
    re.IGNORECASE,
)


def frame_ancestor_origins(value: str) -> tuple[str, ...]:
    """The origins in a space-separated ``portal_frame_ancestors``, checked one by one.

    Only ``http(s)://host[:port]`` origins, with no path, wildcard or CSP
    keyword: each one goes into a Content-Security-Policy header as it is.
    """
    origins = []
    for origin in value.split():
        match = _ORIGIN.fullmatch(origin)
        port = match and match.group("port")
        if match is None or (port and not 0 < int(port) < 65536):
            raise ValueError(
                f"portal frame ancestors must be origins such as https://app.example.com "
                f"or http://127.0.0.1:8000 (scheme://host[:port], no path), "
                f"separated by spaces; {origin!r} is not one"
            )
        origins.append(origin)
    return tuple(origins)


def to_async_url(url: str) -> str:
    """Map user-facing URLs (``postgresql://``, ``sqlite:///``) to async drivers."""
    for prefix, replacement in (
        ("postgresql+asyncpg://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite+aiosqlite://", "sqlite+aiosqlite://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(prefix):
            return replacement + url[len(prefix) :]
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///FILE or postgresql://…")
