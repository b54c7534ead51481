"""The ``hookwire`` command: serve, worker, migrate, listen, demo."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Callable
from typing import Any

import click

from hookwire import __version__
from hookwire.config import Settings


def _settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add one flag per Settings field, each also read from ``HOOKWIRE_<NAME>``."""
    for name, field in reversed(list(Settings.model_fields.items())):
        flag = "--" + name.replace("_", "-")
        envvar = "HOOKWIRE_" + name.upper()
        annotation = field.annotation
        if annotation is bool:
            option = click.option(
                f"{flag}/--no-{flag[2:]}",
                name,
                default=None,
                envvar=envvar,
                show_envvar=True,
                help=field.description,
            )
        else:
            option = click.option(
                flag,
                name,
                default=None,
                envvar=envvar,
                show_envvar=True,
                help=f"{field.description} [default: {_shown_default(field.default)}]",
            )
        func = option(func)
    return func


def _shown_default(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    return "(none)" if value in (None, "") else str(value)


def _build_settings(options: dict[str, Any]) -> Settings:
    given = {k: v for k, v in options.items() if v is not None and k in Settings.model_fields}
    try:
        return Settings(**given)
    except Exception as exc:  # pydantic's message names the bad field and value
        raise click.UsageError(str(exc)) from None


def _with_settings(func: Callable[..., Any]) -> Callable[..., Any]:
    @_settings_options
    @functools.wraps(func)
    def wrapper(**options: Any) -> Any:
        own = {k: v for k, v in options.items() if k not in Settings.model_fields}
        return func(_build_settings(options), **own)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="hookwire")
def main() -> None:
    """hookwire: self-hosted webhook delivery with signed POSTs, retries and event logs."""


@main.command()
@_with_settings
def serve(settings: Settings) -> None:
    """Run the API, the dashboard and the delivery worker in one process."""
    import uvicorn

    from hookwire.app import create_app

    app = create_app(settings)
    _exit_cleanly_on_stop_signals()
    print(
        f"hookwire {__version__} on http://{settings.host}:{settings.port}/ "
        f"(database: {_describe_db(settings)})",
        flush=True,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 1,
    )


@main.command()
@_with_settings
def migrate(settings: Settings) -> None:
    """Apply the database migrations and exit."""
    from hookwire.bootstrap import migrate_storage, open_storage

    async def run() -> None:
        storage = open_storage(settings)
        try:
            await migrate_storage(storage)
        finally:
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
@_with_settings
def worker(settings: Settings) -> None:
    """Run delivery workers only (any number, on any hosts, against one PostgreSQL).

    SIGTERM stops claiming, lets in-flight requests finish within the shutdown
    grace, records their outcomes and gives back what was not sent.
    """
    from hookwire.bootstrap import run_worker_process

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    print(f"hookwire {__version__} worker (database: {_describe_db(settings)})", flush=True)
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
