"""Retention: what is purged and what stays, on both databases; PostgreSQL's day partitions."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine

from hookwire.config import Settings
from hookwire.crypto import TokenCipher
from hookwire.delivery.maintenance import Maintenance
from hookwire.errors import NotFound
from hookwire.records import DashboardSession, Event
from hookwire.storage import Storage, create_engine
from hookwire.storage.log_partitions import LOG_PARTITION_DAYS_AHEAD, log_partition_name
from hookwire.storage.migrate import alembic_config, migrate
from hookwire.storage.retention import RETENTION_LOCK_ID, PurgeReport, retention_cutoff
from hookwire.storage.tables import UTCDateTime, deliveries, log_entries
from tests.conftest import (
    SECRET_KEY,
    _pg_admin,
    _pg_url_for,
    insert_old_event,
    insert_old_webhook,
    upgrade_to,
)
from tests.test_storage import WEBHOOK

# The fake clock: "now" for every run, and times relative to it.
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
RETENTION_DAYS = 30
CUTOFF = datetime(2024, 2, 9, tzinfo=UTC)  # the start of the day 30 days before NOW
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=5)
BATCH_ROWS = 3
# A day far from the real one, so PostgreSQL has no partition for it until maintenance runs.
FAR_DAY = datetime(2031, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "days", "cutoff"),
    [
        (NOW, 30, CUTOFF),
        (datetime(2024, 3, 10, 0, 0, tzinfo=UTC), 1, datetime(2024, 3, 9, tzinfo=UTC)),
        (datetime(2024, 3, 10, 23, 59, tzinfo=UTC), 1, datetime(2024, 3, 9, tzinfo=UTC)),
        # Measured in UTC days, whatever the zone of the clock's answer.
        (
            datetime(2024, 3, 10, 1, 0, tzinfo=UTC).astimezone(ZoneInfo("America/New_York")),
            2,
            datetime(2024, 3, 8, tzinfo=UTC),
        ),
    ],
)
def test_the_cutoff_is_the_start_of_a_utc_day(now: datetime, days: int, cutoff: datetime) -> None:
    assert retention_cutoff(now, days) == cutoff


# --- helpers ----------------------------------------------------------------------


async def _event(storage: Storage, at: datetime, event_type: str = "license.created") -> Event:
    event, _ = await storage.accept_event("acme", None, event_type, b"{}", at)
    return event


async def _finish(storage: Storage, event: Event, at: datetime, state: str = "succeeded") -> None:
    """Every delivery of ``event`` reached ``state`` at ``at``."""
    async with storage.write() as conn:
        await conn.execute(
            deliveries.update()
            .where(deliveries.c.event_id == event.id)
            .values(state=state, next_attempt_at=None, updated_at=at)
        )


async def _log(storage: Storage, event: Event, at: datetime) -> list[str]:
    """One log entry at ``at`` for every delivery of ``event``; their ids."""
    rows: list[dict[str, Any]] = [
        {
            "id": f"log_{uuid.uuid4().hex}",
            "tenant_id": d.tenant_id,
            "delivery_id": d.id,
            "webhook_id": d.webhook_id,
            "event_id": d.event_id,
            "event_type": d.event_type,
            "attempt": 1,
            "trigger": "scheduled",
            "sent_at": at,
            "received_at": at,
            "duration_ms": 1,
            "status_code": 503,
            "success": False,
            "retry_reason": None,
            "error": None,
            "request_headers": {},
            "response_headers": None,
            "response_body": None,
            "created_at": at,
        }
        for d in event.deliveries
    ]
    async with storage.write() as conn:
        await conn.execute(log_entries.insert(), rows)
    return [str(row["id"]) for row in rows]


async def _ids(storage: Storage, table: sa.Table) -> set[str]:
    async with storage.read() as conn:
        return set(await conn.scalars(sa.select(table.c.id)))


@pytest.fixture
def deletes(storage: Storage) -> Iterator[list[tuple[str, int]]]:
    """Every DELETE statement's table and row count, as the driver reports them."""
    seen: list[tuple[str, int]] = []

    def record(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("DELETE FROM"):
            seen.append((statement.split()[2], cursor.rowcount))

    sa_event.listen(storage.engine.sync_engine, "after_cursor_execute", record)
    yield seen
    sa_event.remove(storage.engine.sync_engine, "after_cursor_execute", record)


# --- what is purged, on both databases ----------------------------------------


async def test_old_finished_deliveries_events_and_log_entries_are_purged_in_small_batches(
    storage: Storage, deletes: list[tuple[str, int]]
) -> None:
    await storage.create_tenant("Acme", "acme")
    for name in ("one", "two"):  # every event goes to both
        await storage.create_webhook("acme", {**WEBHOOK, "name": name})
    gone_events: list[Event] = []
    gone_logs: list[str] = []
    for state in ("succeeded", "failed", "skipped", "succeeded"):  # every finished state
        event = await _event(storage, OLD)
        await _finish(storage, event, OLD + timedelta(hours=1), state)
        gone_logs += await _log(storage, event, OLD + timedelta(hours=1))
        gone_events.append(event)
    gone_events.append(await _event(storage, OLD, "license.deleted"))  # went nowhere
    # Older than the cutoff by a minute; the next one is 30.25 days old, but the
    # cutoff falls on a day boundary, so it stays until its day has passed.
    just_past = await _event(storage, CUTOFF - timedelta(minutes=1))
    await _finish(storage, just_past, CUTOFF - timedelta(minutes=1))
    gone_logs += await _log(storage, just_past, CUTOFF - timedelta(minutes=1))
    gone_events.append(just_past)
    same_day = await _event(storage, CUTOFF + timedelta(hours=6))
    await _finish(storage, same_day, CUTOFF + timedelta(hours=6))
    kept_logs = await _log(storage, same_day, CUTOFF + timedelta(hours=6))

    # Still pending after the whole retention: it stays with its event and with
    # the other (finished) delivery of that event; its old log entries go.
    old_pending = await _event(storage, OLD)
    async with storage.write() as conn:
        await conn.execute(
            deliveries.update()
            .where(deliveries.c.id == old_pending.deliveries[1].id)
            .values(state="failed", next_attempt_at=None, updated_at=OLD)
        )
    gone_logs += await _log(storage, old_pending, OLD + timedelta(hours=1))
    # Old, but resent and finished again recently: it stays, with its recent entries.
    resent = await _event(storage, OLD)
    gone_logs += await _log(storage, resent, OLD + timedelta(hours=1))
    await _finish(storage, resent, RECENT)
    kept_logs += await _log(storage, resent, RECENT)
    recent = [await _event(storage, RECENT) for _ in range(2)]
    for event in recent:
        await _finish(storage, event, RECENT + timedelta(hours=1), "failed")
        kept_logs += await _log(storage, event, RECENT + timedelta(hours=1))
    recent_pending = await _event(storage, RECENT)
    kept_events = [same_day, old_pending, resent, *recent, recent_pending]
    before = {table.name: await _ids(storage, table) for table in (deliveries, log_entries)}

    report = await storage.maintain_retention(NOW, RETENTION_DAYS, batch_rows=BATCH_ROWS)

    assert (report.events, report.deliveries, report.log_entries) == (6, 10, len(gone_logs))
    assert report.finished and report.purged and not report.skipped
    remaining = {d.id for e in kept_events for d in e.deliveries}
    assert await _ids(storage, deliveries) == remaining
    assert await _ids(storage, log_entries) == set(kept_logs)
    assert before["log_entries"] == set(kept_logs) | set(gone_logs)
    for event in kept_events:
        assert (await storage.get_event("acme", event.id)).deliveries
    for event in gone_events:
        with pytest.raises(NotFound):
            await storage.get_event("acme", event.id)
    # Small batches: no statement deleted more than a batch of rows, and each
    # table took several. (An event goes with its deliveries, two each here.)
    by_table = {name: [n for table, n in deletes if table == name] for name, _ in deletes}
    assert max(by_table["log_entries"]) == BATCH_ROWS and len(by_table["log_entries"]) >= 5
    assert max(by_table["deliveries"]) <= BATCH_ROWS and len(by_table["deliveries"]) >= 5
    assert max(by_table["events"]) <= BATCH_ROWS and len(by_table["events"]) >= 5

    again = await storage.maintain_retention(NOW, RETENTION_DAYS, batch_rows=BATCH_ROWS)
    assert again == PurgeReport()
    assert await _ids(storage, deliveries) == remaining


async def test_an_event_with_more_deliveries_than_a_batch_goes_whole(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    for name in ("one", "two", "three"):
        await storage.create_webhook("acme", {**WEBHOOK, "name": name})
    events = [await _event(storage, OLD) for _ in range(2)]
    for event in events:
        await _finish(storage, event, OLD)

    report = await storage.maintain_retention(NOW, RETENTION_DAYS, batch_rows=2)

    assert (report.events, report.deliveries) == (2, 6)
    assert await _ids(storage, deliveries) == set()


async def test_events_kept_for_pending_deliveries_do_not_stall_the_purge(
    storage: Storage,
) -> None:
    await storage.create_tenant("Acme", "acme")
    await storage.create_webhook("acme", WEBHOOK)
    # More kept events than a batch, older than the ones that may go.
    pending = [await _event(storage, OLD - timedelta(hours=1)) for _ in range(BATCH_ROWS + 1)]
    done = [await _event(storage, OLD) for _ in range(2)]
    for event in done:
        await _finish(storage, event, OLD)

    report = await storage.maintain_retention(NOW, RETENTION_DAYS, batch_rows=BATCH_ROWS)

    assert report.finished and report.events == 2
    assert await _ids(storage, deliveries) == {e.deliveries[0].id for e in pending}


async def test_the_time_budget_leaves_the_rest_for_the_next_run(storage: Storage) -> None:
    await storage.create_tenant("Acme", "acme")
    for _ in range(4):
        await _event(storage, OLD, "license.deleted")

    spent = await storage.maintain_retention(NOW, RETENTION_DAYS, budget_seconds=0)
    assert not spent.finished and spent.events == 0
    assert (await storage.list_events("acme", limit=10, cursor=None)).items

    report = await storage.maintain_retention(NOW, RETENTION_DAYS, batch_rows=BATCH_ROWS)
    assert report.finished and report.events == 4


async def test_expired_dashboard_sessions_are_purged(storage: Storage) -> None:
    expiries = {
        f"{n:064x}": NOW - timedelta(hours=n)
        for n in range(4)  # 0: expires right now
    }
    expiries["f" * 64] = NOW + timedelta(seconds=1)
    for id_hash, expires_at in expiries.items():
        await storage.create_dashboard_session(
            DashboardSession(
                id_hash=id_hash,
                kind="key",
                api_key_id=None,
                tenant_id=None,
                is_admin=True,
                admin_key_fingerprint="fingerprint",
                csrf_token="csrf",
                created_at=NOW - timedelta(days=1),
                expires_at=expires_at,
            )
        )

    report = await storage.maintain_retention(NOW, RETENTION_DAYS, batch_rows=BATCH_ROWS)

    assert report.dashboard_sessions == 4
    assert await storage.find_dashboard_session("f" * 64) is not None
    for id_hash in list(expiries)[:4]:
        assert await storage.find_dashboard_session(id_hash) is None


# --- the periodic task ------------------------------------------------------------


async def test_maintenance_runs_at_start_then_every_interval_until_stopped(
    storage: Storage, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await storage.create_tenant("Acme", "acme")
    await _event(storage, OLD, "license.deleted")
    ran_twice = asyncio.Event()
    calls: list[datetime] = []

    def clock() -> datetime:  # a day later at every run
        calls.append(NOW + timedelta(days=len(calls)))
        if len(calls) == 2:
            ran_twice.set()
        return calls[-1]

    stop = asyncio.Event()
    maintenance = Maintenance(storage, settings, interval_seconds=0.001, clock=clock)
    with caplog.at_level(logging.INFO, logger="hookwire.maintenance"):
        task = asyncio.create_task(maintenance.run(stop))
        await asyncio.wait_for(ran_twice.wait(), 10)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert len(calls) >= 2
    # Something was purged only on the first run: one summary line.
    assert [r.getMessage() for r in caplog.records] == ["retention purged 1 events"]


async def test_maintenance_that_fails_logs_a_warning_and_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: connecting is refused at once.
    settings = Settings(database_url="postgresql://hookwire@127.0.0.1:1/none", data_dir=tmp_path)
    unreachable = Storage(create_engine(settings.resolved_database_url), TokenCipher(SECRET_KEY))
    stop = asyncio.Event()
    stop.set()  # run once, then return
    try:
        with caplog.at_level(logging.INFO, logger="hookwire.maintenance"):
            await Maintenance(unreachable, settings).run(stop)
    finally:
        await unreachable.close()
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage().startswith(
        "retention maintenance failed (the database is unavailable ("
    )
    assert "SELECT" not in record.getMessage() and "DELETE" not in record.getMessage()


# --- PostgreSQL's day partitions ----------------------------------------------------


@pytest.fixture
async def pg_storage(pg_database: str) -> AsyncIterator[Storage]:
    """A newly migrated PostgreSQL database of its own: these tests add and drop partitions."""
    name = f"hookwire_ret_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    store = Storage(
        create_engine("postgresql+asyncpg://" + _pg_url_for(name).split("://", 1)[1]),
        TokenCipher(SECRET_KEY),
    )
    try:
        await migrate(store.engine)
        await store.create_tenant("Acme", "acme")
        await store.create_webhook("acme", WEBHOOK)
        yield store
    finally:
        await store.close()
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _partitions(storage: Storage) -> set[str]:
    async with storage.read() as conn:
        rows = await conn.scalars(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'log_entries'::regclass"
            )
        )
        return set(rows)


async def _placement(storage: Storage) -> dict[str, str]:
    """Each log entry's id and the partition that holds it."""
    async with storage.read() as conn:
        rows = await conn.execute(sa.text("SELECT id, tableoid::regclass::text FROM log_entries"))
        return {row[0]: row[1] for row in rows}


def _days(start: datetime, count: int) -> set[str]:
    return {log_partition_name(start.date() + timedelta(days=n)) for n in range(count)}


async def test_log_entries_land_in_their_days_partition_and_old_days_are_dropped(
    pg_storage: Storage,
) -> None:
    storage = pg_storage
    migrated = await _partitions(storage) - {"log_entries_default"}
    created = await storage.maintain_retention(FAR_DAY, RETENTION_DAYS)
    assert set(created.log_partitions_created) == _days(FAR_DAY, LOG_PARTITION_DAYS_AHEAD + 1)
    # The migration made the real today's partitions: years before FAR_DAY's cutoff.
    assert set(created.log_partitions_dropped) == migrated
    event = await _event(storage, FAR_DAY)
    by_day = {n: await _log(storage, event, FAR_DAY + timedelta(days=n)) for n in range(3)}
    placement = await _placement(storage)
    for n, ids in by_day.items():
        day = log_partition_name(FAR_DAY.date() + timedelta(days=n))
        assert {placement[i] for i in ids} == {day}

    later = FAR_DAY + timedelta(days=RETENTION_DAYS + 1)  # the cutoff: FAR_DAY's next midnight
    report = await storage.maintain_retention(later, RETENTION_DAYS)

    assert report.log_partitions_dropped == (log_partition_name(FAR_DAY.date()),)
    expected = _days(FAR_DAY + timedelta(days=1), LOG_PARTITION_DAYS_AHEAD) | _days(
        later, LOG_PARTITION_DAYS_AHEAD + 1
    )
    assert await _partitions(storage) == expected | {"log_entries_default"}
    assert set(await _placement(storage)) == set(by_day[1]) | set(by_day[2])
    assert report.log_entries == 0  # whole days went; nothing was deleted row by row
    # The pending delivery whose entries were dropped is still there.
    assert (await storage.get_event("acme", event.id)).deliveries[0].state == "pending"


async def test_a_days_rows_in_the_default_partition_move_into_its_new_partition(
    pg_storage: Storage,
) -> None:
    storage = pg_storage
    event = await _event(storage, FAR_DAY)
    ids = await _log(storage, event, FAR_DAY) + await _log(storage, event, FAR_DAY)
    beyond = await _log(storage, event, FAR_DAY + timedelta(days=10))
    assert set((await _placement(storage)).values()) == {"log_entries_default"}

    report = await storage.maintain_retention(FAR_DAY, RETENTION_DAYS)

    assert report.log_entries_moved == 2
    placement = await _placement(storage)
    assert {placement[i] for i in ids} == {log_partition_name(FAR_DAY.date())}
    assert placement[beyond[0]] == "log_entries_default"  # no partition for that day yet
    logs = await storage.list_delivery_logs("acme", event.deliveries[0].id)
    assert {entry.id for entry in logs} == set(ids) | set(beyond)


async def test_a_partition_waits_for_a_busy_log_table_instead_of_blocking_it(
    pg_storage: Storage,
) -> None:
    storage = pg_storage
    async with storage.engine.connect() as reader:
        await reader.execute(sa.text("SELECT count(*) FROM log_entries"))  # holds its lock
        report = await storage.maintain_retention(FAR_DAY, RETENTION_DAYS)
        assert not report.finished and report.log_partitions_created == ()
        await reader.rollback()
    report = await storage.maintain_retention(FAR_DAY, RETENTION_DAYS)
    assert report.finished and log_partition_name(FAR_DAY.date()) in report.log_partitions_created


async def test_a_delivery_locked_by_someone_else_is_left_for_the_next_run(
    pg_storage: Storage,
) -> None:
    storage = pg_storage
    event = await _event(storage, OLD)
    await _finish(storage, event, OLD)
    async with storage.engine.connect() as other:  # a resend, say, still in its transaction
        mine = deliveries.c.id == event.deliveries[0].id
        await other.execute(deliveries.select().where(mine).with_for_update())
        report = await storage.maintain_retention(NOW, RETENTION_DAYS)
        assert not report.finished and report.events == 0
        await other.rollback()
    assert (await storage.maintain_retention(NOW, RETENTION_DAYS)).events == 1


async def test_one_process_maintains_at_a_time(pg_storage: Storage) -> None:
    storage = pg_storage
    await _event(storage, OLD, "license.deleted")
    async with storage.engine.connect() as other:
        await other.execute(sa.select(sa.func.pg_advisory_lock(RETENTION_LOCK_ID)))
        report = await storage.maintain_retention(NOW, RETENTION_DAYS)
        assert report.skipped and not report.purged
        await other.execute(sa.select(sa.func.pg_advisory_unlock(RETENTION_LOCK_ID)))
        await other.commit()
    assert (await storage.maintain_retention(NOW, RETENTION_DAYS)).events == 1


# --- the migration ------------------------------------------------------------------


async def _downgrade_to(engine: AsyncEngine, revision: str) -> None:
    def run(connection: sa.Connection) -> None:
        command.downgrade(alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


def _pk(connection: sa.Connection) -> list[str]:
    return list(sa.inspect(connection).get_pk_constraint("log_entries")["constrained_columns"])


async def test_the_migration_keeps_existing_log_entries(blank_engine: AsyncEngine) -> None:
    engine = blank_engine
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    await upgrade_to(engine, "0003")
    at = sa.bindparam("at", now, type_=UTCDateTime())
    async with engine.begin() as conn:
        token = TokenCipher(SECRET_KEY).encrypt("tok-0123456789")
        await insert_old_webhook(conn, now, {"token": token})
        await insert_old_event(conn, now)
        await conn.execute(
            sa.text(
                "INSERT INTO deliveries (id, tenant_id, event_id, webhook_id, event_type, state, "
                "attempts, next_attempt_at, next_trigger, created_at, updated_at) VALUES "
                "('dlv_1', 'acme', 'evt_1', 'wh_1', 'license.created', 'pending', 3, :at, "
                "'scheduled', :at, :at)"
            ).bindparams(at)
        )
        ages = {"log_old": -60, "log_today": 0, "log_tomorrow": 1}
        for log_id, days in ages.items():
            await conn.execute(
                sa.text(
                    "INSERT INTO log_entries (id, tenant_id, delivery_id, webhook_id, event_id, "
                    "event_type, attempt, trigger, success, request_headers, error, created_at) "
                    "VALUES (:id, 'acme', 'dlv_1', 'wh_1', 'evt_1', 'license.created', 1, "
                    "'scheduled', false, '{}', :error, :created_at)"
                ).bindparams(sa.bindparam("created_at", type_=UTCDateTime())),
                {"id": log_id, "error": f"error {log_id}", "created_at": now + timedelta(days)},
            )

    await migrate(engine)

    if datetime.now(UTC).date() != today:
        pytest.skip("midnight passed during the migration; the partitions' names moved")
    storage = Storage(engine, TokenCipher(SECRET_KEY))
    entries = await storage.list_delivery_logs("acme", "dlv_1")
    assert [(e.id, e.error) for e in entries] == [(i, f"error {i}") for i in ages]
    async with engine.connect() as conn:
        assert await conn.run_sync(_pk) == ["created_at", "id"]
    if engine.dialect.name == "postgresql":
        assert await _placement(storage) == {
            "log_old": f"log_entries_before_{today:%Y%m%d}",
            "log_today": log_partition_name(today),
            "log_tomorrow": log_partition_name(today + timedelta(days=1)),
        }
    # The migration partition is purged row by row until it is wholly past.
    report = await storage.maintain_retention(now, RETENTION_DAYS)
    assert report.log_entries == 1 and report.events == 0
    assert [e.id for e in await storage.list_delivery_logs("acme", "dlv_1")] == [
        "log_today",
        "log_tomorrow",
    ]
    # The foreign key still holds: a delivery takes its log entries along.
    async with storage.write() as conn:
        await conn.execute(deliveries.delete().where(deliveries.c.id == "dlv_1"))
        left = await conn.scalar(sa.select(sa.func.count()).select_from(log_entries))
    assert left == 0


async def test_the_migration_can_be_undone_with_the_log_entries(
    blank_engine: AsyncEngine,
) -> None:
    engine = blank_engine
    await migrate(engine)
    storage = Storage(engine, TokenCipher(SECRET_KEY))
    await storage.create_tenant("Acme", "acme")
    await storage.create_webhook("acme", WEBHOOK)
    event = await _event(storage, datetime.now(UTC))
    ids = set(await _log(storage, event, datetime.now(UTC) - timedelta(days=3)))
    ids |= set(await _log(storage, event, datetime.now(UTC)))

    await _downgrade_to(engine, "0003")
    async with engine.connect() as conn:
        assert await conn.run_sync(_pk) == ["id"]
        assert set(await conn.scalars(sa.text("SELECT id FROM log_entries"))) == ids
    await migrate(engine)

    assert await _ids(storage, log_entries) == ids
    async with engine.connect() as conn:
        assert await conn.run_sync(_pk) == ["created_at", "id"]
