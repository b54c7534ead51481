"""Wake-ups and change notices between processes: PostgreSQL LISTEN/NOTIFY.

Two channels. ``hookwire_deliveries`` says "new deliveries are due" (accepted
events, resends, recoveries). ``hookwire_changes`` carries ``<kind>:<id>``
payloads, e.g. ``webhook:wh_…``, sent in the transaction that changed the
thing, so that other processes drop what they cached of it. Within one
process the same happens through :class:`hookwire.storage.coordination.Signals`;
SQLite has nothing else.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger("hookwire.storage")

DELIVERIES_CHANNEL = "hookwire_deliveries"
CHANGES_CHANNEL = "hookwire_changes"
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0


def _set_event(event: asyncio.Event, *_args: object) -> None:
    event.set()


async def listen(
    dsn: str,
    on_deliveries: Callable[[], None],
    on_change: Callable[[str, str], None],
    on_connect: Callable[[], None],
) -> None:
    """Call ``on_deliveries`` and ``on_change(kind, id)`` on every notice, until cancelled.

    Uses its own connection (a pooled one would be handed to other work) and
    reconnects when it is lost; after each (re)connection ``on_connect`` is
    called, since notices sent while disconnected are gone: the caller must
    assume anything may have changed.
    """

    def changed(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        kind, _, ident = payload.partition(":")
        if ident:
            on_change(kind, ident)

    delay = RECONNECT_MIN_SECONDS
    while True:
        connection = None
        try:
            connection = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS)
            lost = asyncio.Event()
            connection.add_termination_listener(functools.partial(_set_event, lost))
            await connection.add_listener(DELIVERIES_CHANNEL, lambda *_args: on_deliveries())
            await connection.add_listener(CHANGES_CHANNEL, changed)
            delay = RECONNECT_MIN_SECONDS
            on_connect()
            await lost.wait()
            log.warning("the LISTEN connection to PostgreSQL was lost; reconnecting")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning(
                "cannot LISTEN on PostgreSQL (%s); retrying in %.1f s", type(exc).__name__, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)
        finally:
            if connection is not None and not connection.is_closed():
                await connection.close(timeout=CONNECT_TIMEOUT_SECONDS)
