"""One delivery request: build PRODUCT.md's request, send it, describe what happened.

A :class:`Target` is a webhook's sending settings, built once per webhook
version (tokens decrypted, fixed headers prepared) so that nothing is read or
parsed again per attempt. :class:`Sender` owns the worker's one aiohttp session.
"""

from __future__ import annotations

import codecs
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from yarl import URL

from hookwire import __version__
from hookwire.addressguard import AddressNotAllowed, GuardedResolver, check_host, parse_url
from hookwire.config import DEFAULT_RESPONSE_READ_BYTES, DEFAULT_RESPONSE_STORE_BYTES, Settings
from hookwire.enums import BodyFormat
from hookwire.formats import render_body
from hookwire.masking import mask_headers
from hookwire.records import ClaimedDelivery, Webhook
from hookwire.signing import signature_headers
from hookwire.storage.base import utcnow

CONTENT_TYPE = "application/json; charset=utf-8"
USER_AGENT = f"hookwire/{__version__}"
# Idle keep-alive connections to receivers are kept this long.
KEEPALIVE_SECONDS = 30.0
# Resolved (and checked) addresses are reused this long: the pinning window.
DNS_CACHE_SECONDS = 10
RETRY_AFTER_STATUSES = frozenset({429, 503})
GONE_STATUS = 410


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook as the worker sends to it, valid for one ``version`` of the webhook."""

    webhook_id: str
    tenant_id: str
    version: int
    url: URL  # parsed once: the host the guard checked is the host aiohttp uses
    scheme: str
    token: str
    previous_token: str | None
    previous_token_expires: float | None  # unix seconds
    headers: dict[str, str]  # the fixed part of every request's headers
    # The same, as the event log keeps them: custom header values are masked.
    logged_headers: dict[str, str]
    max_concurrency: int
    rate_limit: int | None
    active: bool
    suspended: bool
    refused: str | None  # why nothing is sent (a refused IP literal, an unreadable URL)
    body_format: BodyFormat
    tenant_label: str  # the tenant's name, which chat messages show

    @classmethod
    def from_webhook(cls, webhook: Webhook, *, allow_private: bool, tenant_label: str) -> Target:
        """The sending settings of ``webhook``, whose tenant is named ``tenant_label``."""
        refused = None
        try:
            url = parse_url(webhook.url)
            check_host(url.raw_host or "", allow_private)
        except AddressNotAllowed as exc:
            refused = str(exc)
        except ValueError as exc:  # saved before webhook URLs were checked with this parse
            url, refused = URL(), f"the URL cannot be read: {exc}"
        expires = webhook.previous_token_expires_at
        return cls(
            webhook_id=webhook.id,
            tenant_id=webhook.tenant_id,
            version=webhook.version,
            url=url,
            scheme=webhook.signature_scheme,
            token=webhook.token,
            previous_token=webhook.previous_token,
            previous_token_expires=None if expires is None else expires.timestamp(),
            headers={
                **webhook.headers,
                "Content-Type": CONTENT_TYPE,
                "User-Agent": USER_AGENT,
            },
            logged_headers={
                **mask_headers(webhook.headers),
                "Content-Type": CONTENT_TYPE,
                "User-Agent": USER_AGENT,
            },
            max_concurrency=webhook.max_concurrency,
            rate_limit=webhook.rate_limit,
            active=webhook.active,
            suspended=webhook.status == "suspended",
            refused=refused,
            body_format=webhook.format,
            tenant_label=tenant_label,
        )

    def tokens(self, now: float) -> list[str]:
        """The tokens that sign now: the current one, and the previous during its grace."""
        if self.previous_token and (self.previous_token_expires or 0) > now:
            return [self.token, self.previous_token]
        return [self.token]

    def body(self, payload: bytes) -> bytes:
        """The bytes sent for an event's ``payload``: itself, or a chat message."""
        return render_body(self.body_format, payload, self.tenant_label)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What one request did. ``failure`` is None on success, else PRODUCT.md's words for it."""

    sent_at: datetime | None
    received_at: datetime | None
    finished_at: datetime
    duration_ms: int | None
    status_code: int | None
    failure: str | None
    retryable: bool
    retry_after: str | None  # the raw Retry-After header on 429/503
    request_headers: dict[str, str]
    response_headers: dict[str, str] | None
    response_body: str | None
    # The body as sent when it is not the event's payload (a chat message).
    request_body: str | None = None

    @property
    def gone(self) -> bool:
        return self.status_code == GONE_STATUS

    @classmethod
    def not_sent(cls, reason: str) -> SendOutcome:
        """An attempt that was not made (the webhook is disabled or suspended): ``reason``."""
        return cls(
            sent_at=None,
            received_at=None,
            finished_at=utcnow(),
            duration_ms=None,
            status_code=None,
            failure=reason,
            retryable=False,
            retry_after=None,
            request_headers={},
            response_headers=None,
            response_body=None,
        )


def describe_failure(exc: BaseException, timeout_seconds: float) -> str:
    """A request error in PRODUCT.md's words (``connection refused``, ``DNS lookup failed``…)."""
    if isinstance(exc, AddressNotAllowed):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"timeout after {timeout_seconds:g} s"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "DNS lookup failed"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS error: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        reason = getattr(exc, "os_error", exc)
        return f"TLS error: {getattr(reason, 'reason', None) or reason}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return f"connection failed: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection closed without a response"
    if isinstance(exc, ConnectionResetError | aiohttp.ClientConnectionResetError):
        return "connection reset"
    if isinstance(exc, aiohttp.ClientOSError) and isinstance(exc.__cause__, ConnectionResetError):
        return "connection reset"
    return f"request failed: {exc.__class__.__name__}: {exc}"


def describe_status(status: int) -> str | None:
    """None for a success, else why the answer is a failure."""
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"redirect ({status}) not followed"
    return f"HTTP {status}"


def storable_text(value: str) -> str:
    """A header name or value as the event log can keep it on both databases.

    aiohttp decodes header bytes as UTF-8 with ``surrogateescape``, so a byte
    that is not UTF-8 arrives as a lone surrogate, which neither PostgreSQL nor
    a UTF-8 page can hold; NUL is refused by PostgreSQL's text and JSONB. Both
    are kept visible as backslash escapes (``\\xff``, ``\\x00``) instead.
    """
    if value.isascii() and "\x00" not in value:
        return value  # the usual case, checked without copying
    raw = value.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def storable_body(body: bytes, limit: int) -> str:
    """The first ``limit`` bytes of a response body as text the event log can keep.

    Bytes that are not UTF-8 and NUL become backslash escapes (see
    :func:`storable_text`); a character cut in half by the limit is dropped.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")
    text = decoder.decode(body[:limit], final=len(body) <= limit)
    return text.replace("\x00", "\\x00")


def storable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Response headers as the event log keeps them (see :func:`storable_text`)."""
    return {storable_text(name): storable_text(value) for name, value in headers.items()}


async def _read_limited(content: aiohttp.StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    # at_eof(): a body already read to its end needs no further read call.
    while size < limit and not content.at_eof():
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class Sender:
    """Sends delivery requests over one keep-alive aiohttp session."""

    def __init__(self, settings: Settings) -> None:
        self.timeout_seconds = settings.request_timeout_seconds
        self.allow_private = settings.allow_private_networks
        self.read_bytes = DEFAULT_RESPONSE_READ_BYTES
        self.store_bytes = DEFAULT_RESPONSE_STORE_BYTES
        self._max_connections = settings.max_in_flight
        self._resolver: GuardedResolver | None = None
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Create the session (needs the running event loop)."""
        if self._session is not None:
            return
        if not self.allow_private:
            self._resolver = GuardedResolver(allow_private=False)
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            keepalive_timeout=KEEPALIVE_SECONDS,
            ttl_dns_cache=DNS_CACHE_SECONDS,
            resolver=self._resolver,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
            # Receivers' cookies must never travel to another tenant's webhook.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
        )

    async def close(self) -> None:
        """Close the session, then the resolver (the connector does not own it)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    async def send(self, target: Target, delivery: ClaimedDelivery) -> SendOutcome:
        """Send one attempt of ``delivery`` to ``target``; never raises for request errors."""
        now = time.time()
        body = target.body(delivery.payload)
        signature = signature_headers(
            target.scheme, target.tokens(now), delivery.id, int(now), body
        )
        headers = {**target.headers, **signature}
        logged = {**target.logged_headers, **signature}
        request_body = None if body is delivery.payload else body.decode()
        if target.refused is not None:
            return self._failed(
                None, None, logged, target.refused, retryable=False, request_body=request_body
            )
        assert self._session is not None, "Sender.open() was not called"
        sent_at = utcnow()
        started = time.perf_counter()
        try:
            async with self._session.post(
                target.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                try:
                    answer = await _read_limited(response.content, self.read_bytes)
                except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
                    answer = b""  # the status line is the answer; a broken body does not undo it
                status = response.status
                response_headers = storable_headers(response.headers)
        except (AddressNotAllowed, TimeoutError, aiohttp.ClientError, OSError) as exc:
            reason = describe_failure(exc, self.timeout_seconds)
            retryable = not isinstance(exc, AddressNotAllowed)
            return self._failed(
                sent_at, started, logged, reason, retryable=retryable, request_body=request_body
            )
        received_at = utcnow()
        failure = describe_status(status)
        return SendOutcome(
            sent_at=sent_at,
            received_at=received_at,
            finished_at=received_at,
            duration_ms=round((time.perf_counter() - started) * 1000),
            status_code=status,
            failure=failure,
            retryable=failure is not None and status != GONE_STATUS,
            retry_after=(
                response_headers.get("Retry-After") if status in RETRY_AFTER_STATUSES else None
            ),
            request_headers=logged,
            response_headers=response_headers,
            response_body=storable_body(answer, self.store_bytes),
            request_body=request_body,
        )

    def _failed(
        self,
        sent_at: datetime | None,
        started: float | None,
        headers: dict[str, str],
        failure: str,
        *,
        retryable: bool,
        request_body: str | None,
    ) -> SendOutcome:
        return SendOutcome(
            sent_at=sent_at,
            received_at=None,
            finished_at=utcnow(),
            duration_ms=None if started is None else round((time.perf_counter() - started) * 1000),
            status_code=None,
            failure=failure,
            retryable=retryable,
            retry_after=None,
            request_headers=headers,
            response_headers=None,
            response_body=None,
            request_body=request_body,
        )
