"""What storage coordinates within one process: notices to listeners, and group commit.

This is state, not SQL, kept apart from the statements: :class:`Signals` tells
in-process listeners (a worker in ``serve``) about new due deliveries and about
changes, once committed; :class:`GroupCommit` lets concurrent callers share one
transaction. Other processes hear the same through the dialect (NOTIFY).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Generic, Protocol, TypeVar


class Signals:
    """Listeners of this process, called after the commits that concern them."""

    def __init__(self) -> None:
        self._wakeup: list[Callable[[], None]] = []
        self._change: list[Callable[[str, str], None]] = []

    def add_wakeup_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever this process commits new due deliveries."""
        self._wakeup.append(callback)

    def remove_wakeup_listener(self, callback: Callable[[], None]) -> None:
        self._wakeup.remove(callback)

    def add_change_listener(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(kind, id)`` when this process commits a change (``"webhook"``, id)."""
        self._change.append(callback)

    def remove_change_listener(self, callback: Callable[[str, str], None]) -> None:
        self._change.remove(callback)

    def wake(self) -> None:
        """New deliveries are due (committed)."""
        for callback in list(self._wakeup):
            callback()

    def changed(self, kind: str, ids: Collection[str]) -> None:
        """``ids`` of ``kind`` changed (committed)."""
        for ident in ids:
            for callback in list(self._change):
                callback(kind, ident)


class Queued(Protocol):
    """A request of a group commit: done when its future is."""

    @property
    def future(self) -> asyncio.Future[Any]: ...


Q = TypeVar("Q", bound=Queued)


class GroupCommit(Generic[Q]):
    """Concurrent callers share transactions.

    The first caller to find no write in progress becomes the leader and
    writes every request queued so far (up to ``max_batch``) with one call of
    ``write_round``, which settles each request's future; then it wakes the
    others, and whoever is still waiting leads the next round. A request is
    answered only after the commit that holds it. Under load N transactions
    (and N chains of round trips) become one per round; a lone caller pays
    nothing extra.
    """

    def __init__(self, write_round: Callable[[list[Q]], Awaitable[None]], max_batch: int) -> None:
        self._write_round = write_round
        self._max_batch = max_batch
        self._queue: list[Q] = []
        self._leading = False
        self._round = asyncio.Condition()

    async def submit(self, request: Q) -> None:
        """Queue ``request``; return once a round has settled its future."""
        self._queue.append(request)
        while not request.future.done():
            if self._leading:
                async with self._round:
                    await self._round.wait_for(lambda: request.future.done() or not self._leading)
                continue
            self._leading = True
            batch = self._queue[: self._max_batch]
            del self._queue[: len(batch)]
            try:
                await self._write_round(batch)
            except BaseException:
                # The leader was cancelled mid-write and the transaction rolled
                # back: its own request is dropped with it (nobody will hear of
                # it), the others go back to the queue's front for the next leader.
                request.future.cancel()
                self._queue[:0] = [r for r in batch if not r.future.done()]
                raise
            finally:
                self._leading = False
                async with self._round:
                    self._round.notify_all()
