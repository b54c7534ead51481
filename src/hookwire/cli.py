"""The ``hookwire`` command: serve, worker, migrate, listen, demo; events, webhooks, logs."""

from __future__ import annotations

import asyncio
import errno
import functools
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import click
from pydantic.fields import FieldInfo

from hookwire import __version__
from hookwire.cli_api import API_COMMANDS
from hookwire.config import Settings
from hookwire.errors import NotReady
from hookwire.logformat import configure_logging, say, uvicorn_log_config

# Which settings each command takes: the worker has no HTTP server and no
# admin key; migrate needs only where the database and the secret key are.
SERVER_ONLY_SETTINGS = frozenset(
    {
        "host",
        "port",
        "admin_key",
        "max_body_bytes",
        "run_worker",
        "token_grace_seconds",
        "portal_link_minutes",
        "portal_session_minutes",
        "portal_frame_ancestors",
        "portal_product_name",
        "portal_accent_color",
        "metrics_token",
    }
)
MIGRATE_SETTINGS = frozenset({"database_url", "data_dir", "secret_key", "database_timeout_seconds"})
COMMAND_SETTINGS = {
    "serve": frozenset(Settings.model_fields),
    "worker": frozenset(Settings.model_fields) - SERVER_ONLY_SETTINGS,
    "migrate": MIGRATE_SETTINGS,
}


def _click_type(field: FieldInfo) -> tuple[click.ParamType[Any], str]:
    """The click type of a settings field and its metavar (INTEGER, FLOAT, PATH, TEXT)."""
    bounds = {
        name: getattr(meta, name)
        for meta in field.metadata
        for name in ("ge", "gt", "le", "lt")
        if getattr(meta, name, None) is not None
    }
    low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le", bounds.get("lt"))
    ranged = {"min_open": "gt" in bounds, "max_open": "lt" in bounds}
    if field.annotation is int:
        kind = click.IntRange(low, high, **ranged) if bounds else click.INT
        return kind, "INTEGER"
    if field.annotation is float:
        return (click.FloatRange(low, high, **ranged) if bounds else click.FLOAT), "FLOAT"
    if field.annotation is Path:
        return click.Path(path_type=Path, file_okay=False), "PATH"
    if get_origin(field.annotation) is Literal:
        choices = [str(c) for c in get_args(field.annotation)]
        return click.Choice(choices), "[" + "|".join(choices) + "]"
    return click.STRING, "TEXT"


def _settings_options(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One flag per setting of ``command``, each also read from ``HOOKWIRE_<NAME>``."""
    names = COMMAND_SETTINGS[command]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for name, field in reversed(list(Settings.model_fields.items())):
            if name not in names:
                continue
            flag = "--" + name.replace("_", "-")
            envvar = "HOOKWIRE_" + name.upper()
            if field.annotation is bool:
                option = click.option(
                    f"{flag}/--no-{flag[2:]}",
                    name,
                    default=None,
                    envvar=envvar,
                    show_envvar=True,
                    help=f"{field.description} [default: {_shown_default(field.default)}]",
                )
            else:
                kind, metavar = _click_type(field)
                option = click.option(
                    flag,
                    name,
                    type=kind,
                    metavar="SECONDS,..." if name == "retry_schedule" else metavar,
                    default=None,
                    envvar=envvar,
                    show_envvar=True,
                    help=f"{field.description} [default: {_shown_default(field.default)}]",
                )
            func = option(func)
        return click.option(
            "--verbose",
            is_flag=True,
            default=False,
            help="On a start-up failure, show the traceback as well.",
        )(func)

    return decorate


def _shown_default(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    return "(none)" if value in (None, "") else str(value)


def _build_settings(options: dict[str, Any]) -> Settings:
    given = {k: v for k, v in options.items() if v is not None and k in Settings.model_fields}
    try:
        return Settings(**given)
    except Exception as exc:  # pydantic's message names the bad field and value
        raise click.UsageError(str(exc)) from None


def _with_settings(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Build the command's Settings from its flags; start-up failures become one line."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @_settings_options(command)
        @functools.wraps(func)
        def wrapper(verbose: bool, **options: Any) -> Any:
            own = {k: v for k, v in options.items() if k not in Settings.model_fields}
            settings = _build_settings(options)
            try:
                return func(settings, **own)
            except NotReady as exc:
                if verbose:
                    raise
                raise click.ClickException(str(exc)) from None
            except (Exception, KeyboardInterrupt) as exc:
                if verbose or isinstance(exc, click.ClickException | KeyboardInterrupt):
                    raise
                raise click.ClickException(
                    f"{command} failed: {type(exc).__name__}: {exc} (run with --verbose for "
                    "the traceback)"
                ) from None

        return wrapper

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="hookwire")
def main() -> None:
    """hookwire: self-hosted webhook delivery with signed POSTs, retries and event logs."""


@main.command()
@_with_settings("serve")
def serve(settings: Settings) -> None:
    """Run the API, the dashboard and the delivery worker in one process.

    Creates the SQLite database (or migrates PostgreSQL) on first start.
    """
    import uvicorn

    from hookwire.app import create_app
    from hookwire.bootstrap import prepare_to_serve

    configure_logging(settings.log_format)
    sock = _bind(settings.host, settings.port)
    asyncio.run(prepare_to_serve(settings))
    app = create_app(settings)
    _exit_cleanly_on_stop_signals()
    say(
        f"hookwire {__version__} on http://{_shown_host(settings.host)}:"
        f"{sock.getsockname()[1]}/ (database: {_describe_db(settings)})"
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        log_config=uvicorn_log_config(settings.log_format),
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 1,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    """Take the server's port now, so that a busy port is a clear error before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle's algorithm off
    # (TCP_NODELAY) only on sockets that say they are TCP, and with it on each
    # small answer on a kept-alive connection waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise NotReady(
                f"port {port} on {host} is in use: stop what listens there, or choose "
                "another port with --port (HOOKWIRE_PORT)"
            ) from None
        raise NotReady(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _shown_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


@main.command()
@click.option(
    "--create",
    is_flag=True,
    default=False,
    help="Create the SQLite database (and secret key) when there is none yet.",
)
@_with_settings("migrate")
def migrate(settings: Settings, create: bool) -> None:
    """Bring the database's schema up to date and exit."""
    from hookwire.bootstrap import open_ready

    async def run() -> None:
        storage = await open_ready(settings, create=create, migrate=True)
        await storage.close()

    asyncio.run(run())
    click.echo(f"database is up to date ({_describe_db(settings)})")


@main.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="HOOKWIRE_LISTEN_HOST",
    show_envvar=True,
    help="Address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9000,
    show_default=True,
    envvar="HOOKWIRE_LISTEN_PORT",
    show_envvar=True,
    help="Port to listen on (0: any free port, printed at start).",
)
@click.option(
    "--token",
    default=None,
    envvar="HOOKWIRE_LISTEN_TOKEN",
    show_envvar=True,
    help="The webhook's token; each delivery's signature is checked against it.",
)
@click.option(
    "--status",
    type=click.IntRange(100, 599),
    default=200,
    show_default=True,
    envvar="HOOKWIRE_LISTEN_STATUS",
    show_envvar=True,
    help="HTTP status to answer every delivery with.",
)
def listen(host: str, port: int, token: str | None, status: int) -> None:
    """Receive deliveries locally: print each one and check its signature."""
    from hookwire.listen import run_listen

    run_listen(host, port, token, status)


@main.command()
@_with_settings("worker")
def worker(settings: Settings) -> None:
    """Run delivery workers only (any number, on any hosts, against one PostgreSQL).

    SIGTERM stops claiming, lets in-flight requests finish within the shutdown
    grace, records their outcomes and gives back what was not sent.
    """
    from hookwire.bootstrap import run_worker_process

    configure_logging(settings.log_format)
    say(f"hookwire {__version__} worker (database: {_describe_db(settings)})")
    asyncio.run(run_worker_process(settings))


@main.command()
@click.option(
    "--url",
    default="http://127.0.0.1:8080",
    show_default=True,
    envvar="HOOKWIRE_URL",
    show_envvar=True,
    help="The running hookwire service.",
)
@click.option(
    "--admin-key",
    required=True,
    envvar="HOOKWIRE_ADMIN_KEY",
    show_envvar=True,
    help="The admin API key (printed by `hookwire serve` on first start).",
)
@click.option(
    "--receiver-url",
    default="http://127.0.0.1:9000/webhook",
    show_default=True,
    envvar="HOOKWIRE_DEMO_RECEIVER_URL",
    show_envvar=True,
    help="Where the demo webhook delivers: a `hookwire listen` by default.",
)
@click.option(
    "--token",
    default=None,
    envvar="HOOKWIRE_DEMO_TOKEN",
    show_envvar=True,
    help="The demo webhook's token (give `hookwire listen` the same); generated when omitted.",
)
def demo(url: str, admin_key: str, receiver_url: str, token: str | None) -> None:
    """Create a tenant, a webhook to a local listener and a few licensing events."""
    from hookwire.demo import DemoError, describe, run_demo

    try:
        result = asyncio.run(run_demo(url, admin_key, receiver_url, token))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(describe(result, url))


# The API's commands (events send, webhooks, logs), through hookwire.client.
for _command in API_COMMANDS:
    main.add_command(_command)


def _exit_cleanly_on_stop_signals() -> None:
    """Make SIGTERM/SIGINT end the process with status 0 after a graceful shutdown.

    uvicorn handles the signal (finishing requests, running the lifespan's
    shutdown) and then re-raises it to the handler that was installed before
    it started; without this, a clean stop would look like a crash (-15).
    """

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def _describe_db(settings: Settings) -> str:
    url = settings.resolved_database_url
    if "@" in url:  # hide credentials
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url
