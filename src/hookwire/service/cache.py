"""What the hot paths read again and again, kept in this process and kept correct.

Accepting an event needs the caller's key, the tenant and the event type: three
database reads that almost never change between two requests. They are kept
here, and dropped

- at once in this process, when it commits a change (storage's change signals);
- on other processes when they hear the change notice (PostgreSQL NOTIFY,
  within milliseconds); and everything at once when a process (re)connects its
  LISTEN connection, since notices sent while it was away are gone;
- and in any case after ``MAX_AGE_SECONDS``, the bound a revoked key or a
  deleted tenant can outlive its change on another process if every notice
  were lost. Only things that exist are kept: a key or name that is not found
  is looked up again on every request, so creating one takes effect at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

MAX_AGE_SECONDS = 5.0
MAX_ENTRIES = 10_000

K = TypeVar("K")
V = TypeVar("V")


class ReadCache(Generic[K, V]):
    """Values read from the database, each kept for at most ``max_age`` seconds.

    Bounded: past ``max_entries`` the least recently stored entry goes first.
    """

    def __init__(self, max_age: float = MAX_AGE_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self._max_age = max_age
        self._max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._loading: dict[K, asyncio.Future[V | None]] = {}
        self._generation = 0

    def get(self, key: K) -> V | None:
        """The value stored for ``key`` while it is fresh, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if time.monotonic() - stored_at > self._max_age:
            del self._entries[key]
            return None
        return value

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The fresh value for ``key``, else ``load()``'s, kept unless it is None.

        Concurrent callers missing the same key share one ``load()``: fifty
        requests arriving together cost one database read, not fifty. A load
        that overlaps a drop or clear is returned but not kept.
        """
        value = self.get(key)
        if value is not None:
            return value
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        generation = self._generation
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters, if any, raise it themselves
            raise
        finally:
            del self._loading[key]
        future.set_result(value)
        if value is not None and generation == self._generation:
            self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        """Keep ``value``, read from the database just now."""
        self._entries[key] = (time.monotonic(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def update(self, key: K, value: V) -> None:
        """Replace a kept value by one this process derived from it, keeping its age."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries[key] = (entry[0], value)

    def drop(self, key: K) -> None:
        self._generation += 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
