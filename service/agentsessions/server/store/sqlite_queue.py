"""A session's queue of runs in SQLite (SendMessage with busy_policy ENQUEUE).

A queued run is a row in state QUEUED with its request, owned by no process: whichever process
sees its session free starts the head of the queue (`promote_next`), taking the session's lease
for it in the same transaction, so queued runs start one at a time, in the order they were
queued (rowid), and a process that dies leaves nothing stranded.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable

from ..domain.errors import ResourceExhausted
from ..domain.models import (
    CancelMode,
    Promoted,
    RunRecord,
    RunStart,
    RunState,
    SessionKey,
    now_us,
)
from ..domain.names import session_name
from .base import TerminalEncoder
from .sqlite_history import LEASE_COLUMNS, session_row
from .sqlite_rows import RUN_COLUMNS, STATS_COLUMNS, run_from_row, stats_from_row
from .sqlite_runs import insert_run, joined_run, queue_length, start_run, take_lease
from .sqlite_sql import execute, fetch_all, fetch_one

# Builds a queued run's first event from the run as recorded and its place in the queue.
QueuedEncoder = Callable[[RunRecord, int], bytes]
QUEUED = int(RunState.QUEUED)
# A literal, not a parameter: only then may SQLite use the partial index runs_queued.
IS_QUEUED = f"state = {QUEUED}"


def enqueue_run(
    conn: sqlite3.Connection,
    run: RunRecord,
    queued_input: str,
    *,
    max_queued: int,
    lease_expire_time_us: int,
    announce: QueuedEncoder,
) -> RunStart:
    """Starts `run` when its session is free and nothing is queued; otherwise queues it
    (with its first event, `announce(run, position)`), or joins the run of its request_id.
    ResourceExhausted (QUEUE_FULL) when `max_queued` runs wait already."""
    session = session_row(conn, run.key, LEASE_COLUMNS)
    waiting = queue_length(conn, session["pk"])
    if waiting == 0:
        started = start_run(conn, run, lease_expire_time_us)
        if started.busy is None:
            return started
    else:
        joined = joined_run(conn, session, run)
        if joined is not None:
            return RunStart(joined, joined=True)
    if waiting >= max_queued:
        name = session_name(run.key)
        raise ResourceExhausted(
            f"{name} has {waiting} runs queued already, the most it may",
            reason="QUEUE_FULL",
            metadata={"session": name, "max_queued_runs": str(max_queued)},
        )
    queued = dataclasses.replace(run, state=RunState.QUEUED, owner="")
    stored = insert_run(conn, session, queued, queued_input)
    position = waiting + 1
    stored = dataclasses.replace(stored, last_sequence=1, queue_position=position)
    execute(
        conn,
        """
        INSERT INTO run_events (session_pk, run_id, sequence, terminal, body, create_time)
        VALUES (?, ?, 1, 0, ?, ?)
        """,
        (session["pk"], run.run_id, announce(stored, position), stored.start_time_us),
    )
    execute(
        conn,
        "UPDATE runs SET last_sequence = 1 WHERE session_pk = ? AND run_id = ?",
        (session["pk"], run.run_id),
    )
    return RunStart(stored, queued=True)


def promote_next(
    conn: sqlite3.Connection, key: SessionKey, owner: str, lease_expire_time_us: int
) -> Promoted | None:
    """When the session is free, starts the head of its queue under a lease of `owner`."""
    session = session_row(conn, key, LEASE_COLUMNS)
    if session["lease_owner"] is not None:
        return None
    head = fetch_one(
        conn,
        f"""
        SELECT run_id, queued_input FROM runs INDEXED BY runs_queued
         WHERE session_pk = ? AND {IS_QUEUED}
         ORDER BY rowid LIMIT 1
        """,
        (session["pk"],),
    )
    if head is None:
        return None
    row = fetch_one(
        conn,
        f"""
        UPDATE runs SET state = ?, start_time = ?, owner = ?, queued_input = NULL
         WHERE session_pk = ? AND run_id = ?
        RETURNING {RUN_COLUMNS.replace("r.", "")}
        """,
        (int(RunState.RUNNING), now_us(), owner, session["pk"], head["run_id"]),
    )
    assert row is not None  # read in this transaction
    lease = take_lease(conn, key, session, head["run_id"], owner, lease_expire_time_us)
    return Promoted(run_from_row(key, row), lease, head["queued_input"] or "{}")


def cancel_queued(
    conn: sqlite3.Connection,
    key: SessionKey,
    run_id: str,
    reason: str,
    events_expire_time_us: int,
    terminal: TerminalEncoder,
) -> RunRecord | None:
    """Ends a QUEUED run as CANCELLED with its terminal event; None when it is not queued."""
    session = session_row(conn, key, "pk")
    now = now_us()
    row = fetch_one(
        conn,
        f"""
        UPDATE runs
           SET state = ?, end_time = max(start_time, ?), cancel_mode = ?, cancel_reason = ?,
               events_expire_time = ?, last_sequence = last_sequence + 1, queued_input = NULL
         WHERE session_pk = ? AND run_id = ? AND state = ?
        RETURNING {RUN_COLUMNS.replace("r.", "")}
        """,
        (
            int(RunState.CANCELLED),
            now,
            int(CancelMode.IMMEDIATE),
            reason,
            events_expire_time_us,
            session["pk"],
            run_id,
            QUEUED,
        ),
    )
    if row is None:
        return None
    run = run_from_row(key, row)
    stats = fetch_one(conn, f"SELECT {STATS_COLUMNS} FROM sessions WHERE pk = ?", (session["pk"],))
    assert stats is not None
    execute(
        conn,
        """
        INSERT INTO run_events (session_pk, run_id, sequence, terminal, body, create_time)
        VALUES (?, ?, ?, 1, ?, ?)
        """,
        (
            session["pk"],
            run_id,
            run.last_sequence,
            terminal(run, stats_from_row(stats), run.last_sequence),
            now,
        ),
    )
    return run


def queued_sessions(conn: sqlite3.Connection, limit: int) -> list[SessionKey]:
    """Sessions with queued runs and nobody holding them: their queue's head may start."""
    rows = fetch_all(
        conn,
        f"""
        SELECT DISTINCT s.tenant, s.agent_id, s.session_id
          FROM runs AS r INDEXED BY runs_queued
          JOIN sessions AS s ON s.pk = r.session_pk
         WHERE r.{IS_QUEUED} AND s.lease_owner IS NULL
         LIMIT ?
        """,
        (limit,),
    )
    return [SessionKey(r["tenant"], r["agent_id"], r["session_id"]) for r in rows]


def queue_position(conn: sqlite3.Connection, key: SessionKey, run_id: str) -> int:
    """A QUEUED run's place in its session's queue, 1 for the next to start."""
    row = fetch_one(
        conn,
        f"""
        SELECT count(*) AS n FROM runs INDEXED BY runs_queued
         WHERE {IS_QUEUED} AND session_pk = (
                 SELECT pk FROM sessions WHERE tenant = ? AND agent_id = ? AND session_id = ?)
           AND rowid <= (
                 SELECT r.rowid FROM runs AS r JOIN sessions AS s ON s.pk = r.session_pk
                  WHERE s.tenant = ? AND s.agent_id = ? AND s.session_id = ? AND r.run_id = ?)
        """,
        (*_key(key), *_key(key), run_id),
    )
    return int(row["n"]) if row is not None else 0


def _key(key: SessionKey) -> tuple[str, str, str]:
    return key.tenant, key.agent_id, key.session_id
