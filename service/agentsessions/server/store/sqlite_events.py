"""Run event logs in SQLite: appends by the run holding the session, paged reads, retention.

A run's events are rows of `run_events`, keyed by (session, run, sequence). Expiry first marks
the run (`events_deleted` 1: readers get EVENTS_EXPIRED from then on) and then deletes its rows
in bounded steps, so a reader never sees part of a log as if it were whole.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..domain.errors import InvalidArgument
from ..domain.models import EventPage, ItemRecord, Lease, LoggedEvent, NewItem, SessionKey, now_us
from .base import ItemEventsEncoder
from .sqlite_history import LEASE_COLUMNS, add_items, check_fence, session_row
from .sqlite_queries import SESSION_KEY_SQL, key_params
from .sqlite_rows import RUN_COLUMNS, run_from_row
from .sqlite_sql import execute, fetch_all, fetch_one

# events_deleted: 0 kept, 1 expired (readers get EVENTS_EXPIRED) and being deleted, 2 gone.
EVENTS_KEPT, EVENTS_EXPIRING, EVENTS_GONE = 0, 1, 2


def append_events(conn: sqlite3.Connection, lease: Lease, events: Sequence[LoggedEvent]) -> None:
    """Appends events of the lease's run; refused (LEASE_LOST) once the lease is gone."""
    session = session_row(conn, lease.key, LEASE_COLUMNS)
    check_fence(session, lease.key, lease)
    if not lease.run_id:
        raise InvalidArgument.field("lease", "only a run's lease writes run events")
    if not events:
        return
    insert_events(conn, session["pk"], lease.run_id, events)
    execute(
        conn,
        "UPDATE runs SET last_sequence = ? WHERE session_pk = ? AND run_id = ?",
        (events[-1].sequence, session["pk"], lease.run_id),
    )


def add_items_with_events(
    conn: sqlite3.Connection,
    lease: Lease,
    items: Sequence[NewItem],
    pending: Sequence[LoggedEvent],
    encode: ItemEventsEncoder,
) -> tuple[list[ItemRecord], list[LoggedEvent]]:
    """Stores a run's items and appends its pending events and those `encode` makes of the
    records: a reader never sees an item's event without the item, nor misses one."""
    records = add_items(conn, lease.key, items, lease.run_id, fence=lease)
    events = [*pending, *encode(records)]
    append_events(conn, lease, events)
    return records, events


def insert_events(
    conn: sqlite3.Connection, session_pk: int, run_id: str, events: Sequence[LoggedEvent]
) -> None:
    now = now_us()
    conn.executemany(
        """
        INSERT INTO run_events (session_pk, run_id, sequence, terminal, body, create_time)
        VALUES (?, ?, ?, 0, ?, ?)
        """,
        [(session_pk, run_id, e.sequence, e.body, now) for e in events],
    )


def read_events(
    conn: sqlite3.Connection,
    key: SessionKey,
    run_id: str,
    after_sequence: int,
    limit: int,
    max_bytes: int,
) -> EventPage | None:
    """The run and its events after `after_sequence`: at most `limit` events and about
    `max_bytes` of them (always one, if there is one). One snapshot for both reads."""
    conn.execute("BEGIN")
    try:
        row = fetch_one(
            conn,
            f"""
            SELECT {RUN_COLUMNS}, r.session_pk, r.events_deleted
              FROM sessions AS s
              JOIN runs AS r ON r.session_pk = s.pk
             WHERE {SESSION_KEY_SQL} AND r.run_id = :run_id
            """,
            {**key_params(key), "run_id": run_id},
        )
        if row is None:
            return None
        run = run_from_row(key, row)
        # Past its expiry a log is gone for readers, whether or not the sweep deleted it yet.
        expiry = run.events_expire_time_us
        if row["events_deleted"] != EVENTS_KEPT or (expiry is not None and expiry <= now_us()):
            return EventPage(run, [], expired=after_sequence < run.last_sequence)
        events: list[LoggedEvent] = []
        size = 0
        cursor = conn.execute(
            """
            SELECT sequence, terminal, body
              FROM run_events
             WHERE session_pk = ? AND run_id = ? AND sequence > ?
             ORDER BY sequence
             LIMIT ?
            """,
            (row["session_pk"], run_id, after_sequence, limit),
        )
        try:
            for sequence, terminal, body in cursor:
                events.append(LoggedEvent(sequence, bool(terminal), bytes(body)))
                size += len(body)
                if size >= max_bytes:
                    break
        finally:
            cursor.close()
    finally:
        conn.execute("COMMIT")
    gap = bool(events) and events[0].sequence != after_sequence + 1
    missing = not events and after_sequence < run.last_sequence
    return EventPage(run, events, expired=gap or missing)


def expire_events(conn: sqlite3.Connection, now: int, runs: int, events: int) -> int:
    """One step of the retention sweep: marks up to `runs` runs whose events expired (readers
    see EVENTS_EXPIRED from then on) and deletes up to `events` of their events. Returns how
    many events it deleted."""
    execute(
        conn,
        """
        UPDATE runs SET events_deleted = ?
         WHERE rowid IN (
            SELECT rowid FROM runs INDEXED BY runs_by_events_expire_time
             WHERE events_deleted = 0 AND events_expire_time IS NOT NULL
               AND events_expire_time <= ?
             LIMIT ?)
        """,
        (EVENTS_EXPIRING, now, runs),
    )
    expiring = fetch_all(
        conn,
        """
        SELECT session_pk, run_id FROM runs INDEXED BY runs_expiring_events
         WHERE events_deleted = 1
         LIMIT ?
        """,
        (runs,),
    )
    deleted = 0
    for row in expiring:
        budget = events - deleted
        if budget <= 0:
            break
        removed = execute(
            conn,
            """
            DELETE FROM run_events
             WHERE rowid IN (
                SELECT rowid FROM run_events WHERE session_pk = ? AND run_id = ? LIMIT ?)
            """,
            (row["session_pk"], row["run_id"], budget),
        )
        deleted += removed
        if removed < budget:
            execute(
                conn,
                "UPDATE runs SET events_deleted = ? WHERE session_pk = ? AND run_id = ?",
                (EVENTS_GONE, row["session_pk"], row["run_id"]),
            )
    return deleted
