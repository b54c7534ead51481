"""PostgreSQL LISTEN: wake the worker when another process accepts an event."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

import asyncpg

from hookwire.storage.events import NOTIFY_CHANNEL

log = logging.getLogger("hookwire.worker")

RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0


def _set_event(event: asyncio.Event, *_args: object) -> None:
    event.set()


async def listen_for_deliveries(dsn: str, on_notify: Callable[[], None]) -> None:
    """Call ``on_notify`` on every NOTIFY of new deliveries, until cancelled.

    Uses its own connection (a pooled one would be handed to other work) and
    reconnects when it is lost; after each (re)connection ``on_notify`` is
    called once, since notifications sent while disconnected are gone.
    """
    delay = RECONNECT_MIN_SECONDS
    while True:
        connection = None
        try:
            connection = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS)
            lost = asyncio.Event()
            connection.add_termination_listener(functools.partial(_set_event, lost))
            await connection.add_listener(NOTIFY_CHANNEL, lambda *_args: on_notify())
            delay = RECONNECT_MIN_SECONDS
            on_notify()
            await lost.wait()
            log.warning("the LISTEN connection to PostgreSQL was lost; reconnecting")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("cannot LISTEN on PostgreSQL (%s); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)
        finally:
            if connection is not None and not connection.is_closed():
                await connection.close(timeout=CONNECT_TIMEOUT_SECONDS)
