"""The API from a shell: ``hookwire events send``, ``webhooks list|create|delete``, ``logs``.

Each command is a call or two of :class:`hookwire.client.Client`. What it
prints is a table for a person, or with ``--json`` the API's JSON as the
server sent it (one object, or one line per item of a list). A failure is a
few lines on stderr and exit status 1, never a traceback (``--verbose`` adds
it): the problem+json's title and detail and each field error, or one line
when hookwire cannot be reached or refuses the key.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import IO, Any, TypeVar

import click
import httpx

from hookwire.client import (
    DEFAULT_TIMEOUT_SECONDS,
    Call,
    Client,
    HookwireError,
    LogEntry,
    Page,
    Unauthorized,
    Webhook,
    with_json,
)
from hookwire.client import endpoints as api
from hookwire.enums import BodyFormat, Ordering, SignatureScheme

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_LOG_LIMIT = 20
# `logs --follow` asks the server it was pointed at for new entries this often.
FOLLOW_POLL_SECONDS = 1.0
# How far before the newest entry it has seen each poll of `logs --follow`
# looks again. An entry is recorded when its attempt ends, so one that ended a
# little earlier can be committed after a later one (another worker, a batch
# of results waiting on a busy database); looking back catches it, and the
# ids already shown keep it from being shown twice.
FOLLOW_LOOKBACK_SECONDS = 30.0
# The API's largest page: fewer requests when reading a whole list.
MAX_PAGE_LIMIT = 250
NO_VALUE = "-"
# The service's URL: --url, and --hookwire-url where --url is a webhook's.
SERVICE_URL_FLAGS = ("--url", "--hookwire-url")

T = TypeVar("T")
Item = tuple[T, Any]  # what the client read, and the same item as the server sent it


# --- what every API command takes ---------------------------------------------------------


def _api_options(
    *, tenant: bool = True, json_flag: bool = True, url_flags: Sequence[str] = SERVICE_URL_FLAGS
) -> Callable[[Any], Any]:
    """--url, --key, --tenant, --json and --verbose; the command gets a Client, not the first two.

    Errors from the server or the network become a message and exit status 1.
    ``url_flags`` name the service's URL (``webhooks create`` keeps ``--url``
    for the webhook's).
    """

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(func)
        def wrapper(url: str, key: str, verbose: bool, **options: Any) -> None:
            try:
                with Client(url, key) as client:
                    func(client, **options)
            except (HookwireError, httpx.TransportError) as exc:
                if verbose:
                    raise
                raise click.ClickException(_failure(exc, url)) from None
            except (ValueError, httpx.InvalidURL) as exc:  # an empty id, a URL httpx cannot use
                if verbose:
                    raise
                raise click.UsageError(str(exc)) from None

        options = [
            click.option(
                *url_flags,
                "url",
                default=DEFAULT_URL,
                show_default=True,
                envvar="HOOKWIRE_URL",
                show_envvar=True,
                help="The running hookwire service.",
            ),
            click.option(
                "--key",
                required=True,
                envvar=["HOOKWIRE_API_KEY", "HOOKWIRE_ADMIN_KEY"],
                show_envvar=True,
                help="An API key: a tenant key, or the admin key. Read from HOOKWIRE_API_KEY, "
                "else from HOOKWIRE_ADMIN_KEY.",
            ),
            click.option(
                "--verbose",
                is_flag=True,
                default=False,
                help="On a failure, show the traceback as well.",
            ),
        ]
        if tenant:
            options.append(
                click.option(
                    "--tenant",
                    required=True,
                    envvar="HOOKWIRE_TENANT",
                    show_envvar=True,
                    help="The tenant's id (needed with a tenant key too: the API does not "
                    "tell which tenant a key belongs to).",
                )
            )
        if json_flag:
            options.append(
                click.option(
                    "--json",
                    "as_json",
                    is_flag=True,
                    default=False,
                    help="Print the API's JSON: one object, or one line per item.",
                )
            )
        command: Callable[..., None] = wrapper
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _failure(exc: HookwireError | httpx.TransportError, url: str) -> str:
    """What went wrong, for a person: one line, or the problem's lines."""
    if isinstance(exc, Unauthorized):
        return "the key was refused: check --key (HOOKWIRE_API_KEY, or HOOKWIRE_ADMIN_KEY)"
    if isinstance(exc, HookwireError):
        return "\n".join(problem_lines(exc))
    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach hookwire at {url}: is `hookwire serve` running?"
    if isinstance(exc, httpx.TimeoutException):
        return f"hookwire at {url} did not answer within {DEFAULT_TIMEOUT_SECONDS:g} seconds"
    return f"cannot talk to hookwire at {url}: {exc or type(exc).__name__}"


def problem_lines(exc: HookwireError) -> list[str]:
    """The problem's status, title and detail, then each field error, one line each.

    A 422's detail sums up its field errors; it is left out when it only
    repeats the first of them.
    """
    lines = [f"  {e.field}: {e.message}" for e in exc.errors]
    head = f"{exc.status} {exc.title}"
    repeats = bool(lines) and lines[0].strip() in exc.detail
    if exc.detail and exc.detail != exc.title and not repeats:
        head += f": {exc.detail}"
    return [head, *lines]


def _pages(client: Client, call: Call[Page[T]]) -> Iterator[Item[T]]:
    """Every item of a list call with its JSON, page after page."""
    while True:
        page, raw = client.send(with_json(call))
        yield from zip(page.data, raw["data"], strict=True)
        if page.next_cursor is None:
            return
        call = call.with_cursor(page.next_cursor)


def _send_one(client: Client, call: Call[T], as_json: bool) -> T | None:
    """The call's result, for the command to show; with ``--json``, None: its JSON is shown."""
    result, raw = client.send(with_json(call))
    if as_json:
        _print_json(raw)
        return None
    return result


def _print_json(value: Any, *, one_line: bool = False) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=None if one_line else 2))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns aligned on the widest cell; the last column is not padded."""
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


# --- hookwire events send ---------------------------------------------------------------


@click.group()
def events() -> None:
    """Send events to a tenant's webhooks."""


@events.command("send")
@click.argument("event")
@click.argument("stdin", metavar="[-]", required=False, type=click.Choice(["-"]))
@click.option(
    "--data", "data_text", metavar="JSON", help='The event\'s data, e.g. \'{"key": "K-1"}\'.'
)
@click.option(
    "--data-file",
    type=click.File("r", encoding="utf-8"),
    help="Read the data from this file (`-`, or a bare `-` argument: standard input).",
)
@click.option("--id", "event_id", help="Your id for the event; sending it again returns the first.")
@click.option(
    "--idempotency-key", help="Sent as Idempotency-Key: a repeat returns the first event."
)
@_api_options()
def send_event(
    client: Client,
    tenant: str,
    as_json: bool,
    event: str,
    stdin: str | None,
    data_text: str | None,
    data_file: IO[str] | None,
    event_id: str | None,
    idempotency_key: str | None,
) -> None:
    """Trigger EVENT (an event type's name) for the tenant.

    Prints the event's id and how many webhooks it goes to (and why none, when
    none). The data is a JSON object ({} when none is given).
    """
    sources: dict[str, object] = {"--data": data_text, "--data-file": data_file, "-": stdin}
    given = [name for name, value in sources.items() if value is not None]
    if len(given) > 1:
        raise click.UsageError(f"give the data once: {' and '.join(given)} were both given")
    if stdin is not None:
        data_file = sys.stdin
    source = given[0] if given else ""
    text = data_file.read() if data_file is not None else data_text
    data = {} if text is None else _json_object(text, source)
    call = api.send_event(tenant, event, data, id=event_id, idempotency_key=idempotency_key)
    accepted = _send_one(client, call, as_json)
    if accepted is None:
        return
    click.echo(f"event       {accepted.id} ({accepted.event})")
    click.echo(f"deliveries  {accepted.deliveries}")
    if accepted.replayed:
        click.echo(
            "replayed    this id or idempotency key was sent before: this is that event, "
            "and nothing new is delivered"
        )
    if accepted.deliveries == 0 and accepted.hint:
        click.echo(f"hint        {accepted.hint}")


def _json_object(text: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"is not JSON ({exc})", param_hint=source) from None
    if not isinstance(value, dict):
        raise click.BadParameter('must be a JSON object, like {"key": "K-1"}', param_hint=source)
    return value


# --- hookwire webhooks list|create|delete ---------------------------------------------------


@click.group()
def webhooks() -> None:
    """List, add and delete a tenant's webhooks."""


@webhooks.command("list")
@_api_options()
def list_webhooks(client: Client, tenant: str, as_json: bool) -> None:
    """The tenant's webhooks: id, name, URL, events, status and whether each is enabled."""
    items = _pages(client, api.list_webhooks(tenant, limit=MAX_PAGE_LIMIT))
    if as_json:
        for _webhook, raw in items:
            _print_json(raw, one_line=True)
        return
    rows = [_webhook_row(webhook) for webhook, _raw in items]
    if not rows:
        click.echo("no webhooks yet: add one with `hookwire webhooks create --name … --url …`")
        return
    click.echo(table(("ID", "NAME", "URL", "EVENTS", "STATUS", "ENABLED"), rows))


def _webhook_row(webhook: Webhook) -> tuple[str, ...]:
    enabled = "yes" if webhook.active else "no"
    return (
        webhook.id,
        webhook.name,
        webhook.url,
        ",".join(webhook.events),
        webhook.status,
        enabled,
    )


@webhooks.command("create")
@click.option("--name", required=True, help="What the webhook is for, as people will see it.")
@click.option(
    "--url",
    "webhook_url",
    required=True,
    help="Where hookwire POSTs the events (here the service is --hookwire-url).",
)
@click.option(
    "--event",
    "event_names",
    multiple=True,
    help="An event type it receives; repeat for more (default: every event, `*`).",
)
@click.option("--token", help="The signing secret (default: generated, and printed).")
@click.option(
    "--disabled", is_flag=True, default=False, help="Create it disabled: nothing is sent."
)
@click.option(
    "--format",
    "body_format",
    type=click.Choice([f.value for f in BodyFormat]),
    help=f"The request body [default: {BodyFormat.HOOKWIRE.value}].",
)
@click.option(
    "--ordering",
    type=click.Choice([o.value for o in Ordering]),
    help=f"fifo: one delivery at a time, in order [default: {Ordering.NONE.value}].",
)
@click.option(
    "--signature-scheme",
    type=click.Choice([s.value for s in SignatureScheme]),
    help=f"How requests are signed [default: {SignatureScheme.HOOKWIRE.value}].",
)
@_api_options(url_flags=SERVICE_URL_FLAGS[1:])
def create_webhook(
    client: Client,
    tenant: str,
    as_json: bool,
    name: str,
    webhook_url: str,
    event_names: tuple[str, ...],
    token: str | None,
    disabled: bool,
    body_format: str | None,
    ordering: str | None,
    signature_scheme: str | None,
) -> None:
    """Add a webhook to the tenant; prints its id and its token."""
    call = api.create_webhook(
        tenant,
        name=name,
        url=webhook_url,
        token=token,
        events=list(event_names) or None,
        active=False if disabled else None,
        format=body_format,
        ordering=ordering,
        signature_scheme=signature_scheme,
    )
    webhook = _send_one(client, call, as_json)
    if webhook is None:
        return
    click.echo(f"webhook  {webhook.id} ({webhook.name})")
    click.echo(f"token    {webhook.token}")
    click.echo(f"events   {', '.join(webhook.events)}{'' if webhook.active else ' (disabled)'}")


@webhooks.command("delete")
@click.argument("webhook_id")
@click.option("--yes", "-y", is_flag=True, default=False, help="Do not ask for confirmation.")
@_api_options(json_flag=False)
def delete_webhook(client: Client, tenant: str, webhook_id: str, yes: bool) -> None:
    """Delete WEBHOOK_ID with its deliveries and event log (asks first, unless --yes)."""
    if not yes:
        click.confirm(
            f"Delete webhook {webhook_id} of tenant {tenant}, with its deliveries and event log?",
            abort=True,
        )
    client.delete_webhook(tenant, webhook_id)
    click.echo(f"deleted webhook {webhook_id}")


# --- hookwire logs ----------------------------------------------------------------------------


LogFetch = Callable[[datetime | None], Iterator[Item[LogEntry]]]


class LogFollower:
    """What ``logs --follow`` prints: the newest entries at the start, then every new one once.

    ``fetch(since)`` yields the log newest first, from ``since`` (inclusive)
    on. Each poll asks from :data:`FOLLOW_LOOKBACK_SECONDS` before the newest
    entry seen and prints what it has not shown, oldest first: entries that
    share a time are all shown, an entry committed late is still shown, and
    none twice. Entries older than the oldest one shown at the start are the
    log's past: they are not shown as they come into view.
    """

    def __init__(self, fetch: LogFetch, limit: int, lookback_seconds: float) -> None:
        self.fetch = fetch
        self.limit = limit
        self.lookback = timedelta(seconds=lookback_seconds)
        self.seen: dict[str, datetime] = {}  # id -> when recorded, within the lookback
        self.newest: datetime | None = None
        self.floor: tuple[datetime, str] | None = None

    def start(self) -> list[Item[LogEntry]]:
        """The newest ``limit`` entries, oldest first."""
        first = list(islice(self.fetch(None), self.limit))
        for entry, _raw in first:
            self._saw(entry)
        if len(first) == self.limit:
            self.floor = _order(first[-1][0])
        return first[::-1]

    def poll(self) -> list[Item[LogEntry]]:
        """The entries recorded since the last call, oldest first."""
        since = None if self.newest is None else self.newest - self.lookback
        fresh = []
        for item in self.fetch(since):
            entry = item[0]
            if entry.id in self.seen:
                continue
            self._saw(entry)
            if self.floor is None or _order(entry) > self.floor:
                fresh.append(item)
        if since is not None:  # never asked for again: the next since is no earlier
            self.seen = {i: at for i, at in self.seen.items() if at >= since}
        return sorted(fresh, key=lambda item: _order(item[0]))

    def _saw(self, entry: LogEntry) -> None:
        at = _order(entry)[0]
        self.seen[entry.id] = at
        if self.newest is None or at > self.newest:
            self.newest = at


def _order(entry: LogEntry) -> tuple[datetime, str]:
    """The log's own order: when each entry was recorded, then its id."""
    if entry.created_at is None:
        raise click.ClickException(
            "this hookwire does not say when log entries were recorded (createdAt), which "
            "--follow needs: upgrade the server"
        )
    return entry.created_at, entry.id


LOG_HEADERS = (
    "RECORDED (UTC)",
    "EVENT",
    "ATTEMPT",
    "STATUS",
    "MS",
    "DELIVERY",
    "ERROR / RETRY REASON",
)
LOG_WIDTHS = (23, 24, 7, 6, 6, 30)


def log_line(entry: LogEntry) -> str:
    """One entry on one line, in fixed columns (so that lines printed later align)."""
    when = entry.created_at or entry.sent_at
    cells = (
        NO_VALUE if when is None else when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        entry.event,
        str(entry.attempt),
        NO_VALUE if entry.status_code is None else str(entry.status_code),
        NO_VALUE if entry.duration_ms is None else str(entry.duration_ms),
        entry.delivery_id,
    )
    note = entry.error or (f"retry: {entry.retry_reason}" if entry.retry_reason else "")
    padded = [cell.ljust(width) for cell, width in zip(cells, LOG_WIDTHS, strict=True)]
    return "  ".join([*padded, note]).rstrip()


def log_header() -> str:
    *heads, last = LOG_HEADERS
    return "  ".join([*(h.ljust(w) for h, w in zip(heads, LOG_WIDTHS, strict=True)), last])


@click.command("logs")
@click.argument("webhook_id")
@click.option("--event", help="Only entries of this event type.")
@click.option("--status-code", type=click.IntRange(100, 599), help="Only answers with this status.")
@click.option(
    "--success/--failure", default=None, help="Only successful requests, or only failed ones."
)
@click.option(
    "--limit",
    type=click.IntRange(1, None),
    default=DEFAULT_LOG_LIMIT,
    show_default=True,
    help="How many of the newest entries to show.",
)
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    default=False,
    help=f"Show the newest entries, then each new one as it is recorded (checking every "
    f"{FOLLOW_POLL_SECONDS:g} s) until Ctrl-C.",
)
@_api_options()
def logs(
    client: Client,
    tenant: str,
    as_json: bool,
    webhook_id: str,
    event: str | None,
    status_code: int | None,
    success: bool | None,
    limit: int,
    follow: bool,
) -> None:
    """The event log of WEBHOOK_ID: one line per request, newest first.

    With --follow, the newest entries oldest first, then each new one as it
    comes, like `tail -f`.
    """

    def fetch(since: datetime | None, page_size: int = MAX_PAGE_LIMIT) -> Iterator[Item[LogEntry]]:
        call = api.list_webhook_logs(
            tenant,
            webhook_id,
            event=event,
            status_code=status_code,
            success=success,
            since=since,
            limit=page_size,
        )
        return _pages(client, call)

    def show(items: Iterable[Item[LogEntry]]) -> None:
        for entry, raw in items:
            if as_json:
                _print_json(raw, one_line=True)
            else:
                click.echo(log_line(entry))

    first_page = min(limit, MAX_PAGE_LIMIT)
    if not follow:
        newest = list(islice(fetch(None, first_page), limit))
        if not as_json:
            click.echo(log_header() if newest else "no entries in this webhook's event log")
        show(newest)
        return
    follower = LogFollower(
        lambda since: fetch(since, first_page if since is None else MAX_PAGE_LIMIT),
        limit,
        FOLLOW_LOOKBACK_SECONDS,
    )
    try:
        if not as_json:
            click.echo(log_header())
        show(follower.start())
        while True:
            time.sleep(FOLLOW_POLL_SECONDS)  # polling the live server the user pointed at
            show(follower.poll())
    except KeyboardInterrupt:  # Ctrl-C is how --follow ends
        return


API_COMMANDS = (events, webhooks, logs)
