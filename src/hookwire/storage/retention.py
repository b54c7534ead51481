"""Retention: the event log, finished deliveries and their events are kept for a while, then purged.

Everything is measured against a cutoff, the start of the UTC day that lies
``retention_days`` before now, so data is kept between ``retention_days`` and
one day more. What is older than the cutoff goes:

- log entries, each by its own age, whatever the state of its delivery. A
  delivery still pending after the whole retention (a FIFO webhook stuck
  behind a failing delivery, workers stopped for weeks) keeps itself and its
  event, so it is still delivered, but the entries of its oldest attempts go
  like any others; its ``attempts`` count is kept, so later entries go on
  numbering from it.
- events whose deliveries are all finished (succeeded, failed, skipped,
  cancelled) and last changed before the cutoff, with those deliveries. The
  unit is the event: an event is never left with only part of its deliveries.
  A pending delivery, and a delivery in a state not known to be final, keeps
  its event and every delivery of it.

Expired dashboard sessions and portal sign-in links go too, at ``now`` rather
than at the cutoff.

On PostgreSQL the log is partitioned by day (see :mod:`.log_partitions`), and
purging first drops the partitions that end by the cutoff, which keeps the
disk and vacuum flat. Because the cutoff falls on a day boundary, no day
partition that remains holds an entry older than it, so the batched delete by
age that follows only touches the default and migration partitions (and is
the whole story on SQLite). It is also why a delivery goes only once the day
of its last change is wholly past: its log entries' partitions are gone by
then, and the delivery → log entry cascade finds nothing to delete row by row.

Every step runs in short transactions of about ``batch_rows`` rows, until
nothing old is left or the time budget is spent; what is left waits for the
next run. On PostgreSQL one process at a time maintains (a session advisory
lock; the others skip their run), and the purge never waits for a row lock.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hookwire.enums import DeliveryState
from hookwire.storage import tables as t
from hookwire.storage.base import as_storage_error
from hookwire.storage.dialects import DRIVER_ERRORS
from hookwire.storage.log_partitions import LogPartitionStore, unless_busy, utc_midnight

PURGE_BATCH_ROWS = 1_000
PURGE_TIME_BUDGET_SECONDS = 20.0
# Session advisory lock: one maintaining process at a time per database.
RETENTION_LOCK_ID = 0x68777270  # "hwrp"
FINISHED_STATES = tuple(state for state in DeliveryState if state.finished)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one maintenance run did.

    ``log_entries`` counts rows deleted one by one; rows of dropped partitions
    are not counted (the partitions are listed instead). ``finished`` is False
    when the time budget ran out or a lock could not be had in time: the next
    run carries on. ``skipped`` is True when another process was maintaining.
    """

    log_partitions_created: tuple[str, ...] = ()
    log_partitions_dropped: tuple[str, ...] = ()
    log_entries_moved: int = 0
    log_entries: int = 0
    deliveries: int = 0
    events: int = 0
    dashboard_sessions: int = 0
    portal_links: int = 0
    finished: bool = True
    skipped: bool = False

    @property
    def purged(self) -> bool:
        """True when anything was removed."""
        return bool(
            self.log_partitions_dropped
            or self.log_entries
            or self.deliveries
            or self.events
            or self.dashboard_sessions
            or self.portal_links
        )


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """The start of the UTC day ``retention_days`` before ``now``: older data is purged."""
    return utc_midnight((now.astimezone(UTC) - timedelta(days=retention_days)).date())


class _Run:
    """The counts of one run, and its deadline."""

    def __init__(self, budget_seconds: float) -> None:
        self.deadline = time.monotonic() + budget_seconds
        self.created: list[str] = []
        self.dropped: list[str] = []
        self.log_entries_moved = 0
        self.log_entries = 0
        self.deliveries = 0
        self.events = 0
        self.dashboard_sessions = 0
        self.portal_links = 0
        self.finished = True
        # Where the walk through old events has got to: (triggered_at, tenant_id, id).
        self.events_after: tuple[datetime, str, str] | None = None

    def out_of_time(self) -> bool:
        if time.monotonic() >= self.deadline:
            self.finished = False
        return not self.finished

    def report(self) -> PurgeReport:
        return PurgeReport(
            log_partitions_created=tuple(self.created),
            log_partitions_dropped=tuple(self.dropped),
            log_entries_moved=self.log_entries_moved,
            log_entries=self.log_entries,
            deliveries=self.deliveries,
            events=self.events,
            dashboard_sessions=self.dashboard_sessions,
            portal_links=self.portal_links,
            finished=self.finished,
        )


class RetentionStore(LogPartitionStore):
    """Partition upkeep and the retention purge."""

    async def maintain_retention(
        self,
        now: datetime,
        retention_days: int,
        *,
        batch_rows: int = PURGE_BATCH_ROWS,
        budget_seconds: float = PURGE_TIME_BUDGET_SECONDS,
    ) -> PurgeReport:
        """Create the coming days' log partitions, then purge what is past the retention.

        See the module's docstring for what is kept and what goes.
        """
        run = _Run(budget_seconds)
        cutoff = retention_cutoff(now, retention_days)
        async with self._maintainer() as alone:
            if not alone:
                return PurgeReport(finished=False, skipped=True)
            if self.dialect.partitioned_log:
                run.created, run.log_entries_moved, made = await self._create_log_partitions(now)
                run.dropped, dropped = await self._drop_log_partitions(cutoff)
                run.finished = made and dropped
            # Each step deletes one batch and says whether more may be left, or
            # None when a row it needs is busy: the rest waits for the next run.
            steps: list[Callable[[AsyncConnection], Awaitable[bool | None]]] = [
                lambda conn: self._delete_old_log_entries(conn, cutoff, batch_rows, run),
                lambda conn: self._delete_old_events(conn, cutoff, batch_rows, run),
                lambda conn: self._delete_expired_sessions(conn, now, batch_rows, run),
                lambda conn: self._delete_expired_portal_links(conn, now, batch_rows, run),
            ]
            for step in steps:
                while not run.out_of_time():
                    async with self.write() as conn:
                        more = await step(conn)
                    if more is None:
                        run.finished = False
                    if not more:
                        break
        return run.report()

    @asynccontextmanager
    async def _maintainer(self) -> AsyncIterator[bool]:
        """Whether this process is the one maintaining (False: another one is at it)."""
        try:
            async with self.dialect.exclusively(RETENTION_LOCK_ID) as alone:
                yield alone
        except DRIVER_ERRORS as exc:
            raise as_storage_error(exc) from None

    # --- batches ------------------------------------------------------------

    @staticmethod
    async def _delete_old_log_entries(
        conn: AsyncConnection, cutoff: datetime, limit: int, run: _Run
    ) -> bool:
        # Served by the primary key (created_at, id). On PostgreSQL partition
        # pruning leaves only the default and migration partitions to look at.
        logs = t.log_entries
        oldest = (
            sa.select(logs.c.created_at, logs.c.id)
            .where(logs.c.created_at < cutoff)
            .order_by(logs.c.created_at)
            .limit(limit)
        )
        result = await conn.execute(
            logs.delete().where(sa.tuple_(logs.c.created_at, logs.c.id).in_(oldest))
        )
        run.log_entries += result.rowcount
        return bool(result.rowcount == limit)

    async def _delete_old_events(
        self, conn: AsyncConnection, cutoff: datetime, limit: int, run: _Run
    ) -> bool | None:
        """Delete the events, among the next ``limit`` older than the cutoff, that may go.

        An event goes, with its deliveries, when they are all finished and last
        changed before the cutoff. Events are walked by age from a cursor kept
        in ``run``, so each batch reads a bounded range of the index, and events
        kept for a pending delivery are read once per run, not once per batch.
        A batch takes about ``limit`` deliveries at most (and at least one
        event's). Returns whether more may be left; None when a delivery it
        needs is locked by someone else.
        """
        e, d = t.events, t.deliveries
        order = (e.c.triggered_at, e.c.tenant_id, e.c.id)
        page = sa.select(*order).where(e.c.triggered_at < cutoff).order_by(*order).limit(limit)
        if run.events_after is not None:
            after = [
                sa.literal(v, type_=c.type) for v, c in zip(run.events_after, order, strict=True)
            ]
            page = page.where(sa.tuple_(*order) > sa.tuple_(*after))
        scan = page.subquery()
        of_event = sa.and_(d.c.tenant_id == scan.c.tenant_id, d.c.event_id == scan.c.id)
        unfinished = sa.or_(d.c.state.not_in(FINISHED_STATES), d.c.updated_at >= cutoff)
        rows = (
            await conn.execute(
                sa.select(
                    scan,
                    sa.exists().where(of_event, unfinished).label("kept"),
                    sa.select(sa.func.count()).where(of_event).scalar_subquery().label("size"),
                ).order_by(*scan.c)
            )
        ).all()
        if not rows:
            return False
        run.events_after = (rows[-1].triggered_at, rows[-1].tenant_id, rows[-1].id)
        more = len(rows) == limit
        candidates = {(r.tenant_id, r.id): r for r in rows if not r.kept}
        if candidates and not self.dialect.single_writer:
            # With a single writer (SQLite) nothing more is needed: the write
            # transaction excludes every other writer, so what was read still holds.
            still = await self._still_purgeable(conn, list(candidates), cutoff)
            if still is None:
                return None
            candidates = {key: row for key, row in candidates.items() if key in still}
        doomed: list[tuple[str, str]] = []
        taken = 0
        for key, row in candidates.items():
            if doomed and taken + row.size > limit:
                # Enough deliveries for one transaction; the next batch goes on from here.
                last = candidates[doomed[-1]]
                run.events_after = (last.triggered_at, last.tenant_id, last.id)
                more = True
                break
            doomed.append(key)
            taken += row.size
        if doomed:
            run.deliveries += await self._delete_keys(conn, (d.c.tenant_id, d.c.event_id), doomed)
            run.events += await self._delete_keys(conn, (e.c.tenant_id, e.c.id), doomed)
        return more

    async def _still_purgeable(
        self, conn: AsyncConnection, candidates: list[tuple[str, str]], cutoff: datetime
    ) -> set[tuple[str, str]] | None:
        """The candidate events whose deliveries, now locked, are all still finished and old.

        Locking, then looking at what the rows are now, catches a delivery
        resent since they were first read: it is pending again and keeps its
        event. A resend after the lock waits for this transaction and finds
        nothing. Every delivery is locked (a condition on the state would pass
        over a row whose change the statement's snapshot does not show yet).
        NOWAIT: the purge never waits for a row, so it can never be part of a
        deadlock; None when a row is busy.
        """
        d = t.deliveries
        locked = await unless_busy(
            conn,
            sa.select(d.c.tenant_id, d.c.event_id, d.c.state, d.c.updated_at)
            .where(self.dialect.among_pairs((d.c.tenant_id, d.c.event_id), candidates))
            .with_for_update(nowait=True),
        )
        if locked is None:
            return None
        kept = {
            (r.tenant_id, r.event_id)
            for r in locked
            if r.state not in FINISHED_STATES or r.updated_at >= cutoff
        }
        return set(candidates) - kept

    async def _delete_keys(
        self,
        conn: AsyncConnection,
        columns: tuple[sa.Column[str], sa.Column[str]],
        keys: list[tuple[str, str]],
    ) -> int:
        """Delete the rows of ``columns``' table whose two columns hold one of ``keys``."""
        return await self.dialect.delete_pairs(conn, columns, keys)

    @staticmethod
    async def _delete_expired_sessions(
        conn: AsyncConnection, now: datetime, limit: int, run: _Run
    ) -> bool:
        # Served by ix_dashboard_sessions_expires_at.
        deleted = await _delete_expired(conn, t.dashboard_sessions, now, limit)
        run.dashboard_sessions += deleted
        return deleted == limit

    @staticmethod
    async def _delete_expired_portal_links(
        conn: AsyncConnection, now: datetime, limit: int, run: _Run
    ) -> bool:
        # Used or not: past its expiry a link signs no one in. ix_portal_links_expires_at.
        deleted = await _delete_expired(conn, t.portal_links, now, limit)
        run.portal_links += deleted
        return deleted == limit


async def _delete_expired(conn: AsyncConnection, table: sa.Table, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` rows of ``table`` (keyed by ``id_hash``) expired by ``now``."""
    expired = sa.select(table.c.id_hash).where(table.c.expires_at <= now).limit(limit)
    result = await conn.execute(table.delete().where(table.c.id_hash.in_(expired)))
    deleted: int = result.rowcount
    return deleted
