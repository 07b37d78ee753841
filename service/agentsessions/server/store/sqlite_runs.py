"""Runs, session leases and run event logs in SQLite; each write runs inside the writer's batch.

A session's lease lives in its row (lease_run_id, lease_owner, lease_expire_time, lease_token).
`lease_token` only grows: every write of a holder names the token it was given, and a write
with another token is refused (LEASE_LOST), so a holder that lost its lease cannot write.
What a lease or an expiry means is the runtime's business; these functions run statements.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence

from ..domain.errors import FailedPrecondition, InvalidArgument
from ..domain.models import (
    FinishedRun,
    Lease,
    LoggedEvent,
    NewItem,
    RunRecord,
    RunStart,
    RunState,
    SessionKey,
    SessionStats,
    now_us,
)
from ..domain.resource_errors import lease_lost, run_already_exists, run_metadata, run_not_found
from .sqlite_events import insert_events
from .sqlite_history import LEASE_COLUMNS, add_items, check_fence, session_row
from .sqlite_queries import SESSION_KEY_SQL, key_params
from .sqlite_rows import RUN_COLUMNS, STATS_COLUMNS, run_from_row, stats_from_row
from .sqlite_sql import execute, fetch_all, fetch_one, session_name

# Builds a run's terminal event from the run as recorded, the session's stats and the
# event's sequence; called inside the finishing transaction, so the event is exactly one.
TerminalEncoder = Callable[[RunRecord, SessionStats, int], bytes]


def _run_name(key: SessionKey, run_id: str) -> str:
    return f"{session_name(key)}/runs/{run_id}"


def _lease_of(key: SessionKey, row: sqlite3.Row) -> Lease | None:
    if row["lease_owner"] is None:
        return None
    return Lease(
        key=key,
        run_id=row["lease_run_id"] or "",
        owner=row["lease_owner"],
        token=row["lease_token"],
        expire_time_us=row["lease_expire_time"],
    )


def _run_row(conn: sqlite3.Connection, session_pk: int, run_id: str) -> sqlite3.Row | None:
    return fetch_one(
        conn,
        f"SELECT {RUN_COLUMNS} FROM runs AS r WHERE r.session_pk = ? AND r.run_id = ?",
        (session_pk, run_id),
    )


def joined_run(conn: sqlite3.Connection, session: sqlite3.Row, run: RunRecord) -> RunRecord | None:
    """The session's run of `run.request_id`, when it has one."""
    if not run.request_id:
        return None
    row = fetch_one(
        conn,
        f"SELECT {RUN_COLUMNS} FROM runs AS r WHERE r.session_pk = ? AND r.request_id = ?",
        (session["pk"], run.request_id),
    )
    return run_from_row(run.key, row) if row is not None else None


def insert_run(
    conn: sqlite3.Connection, session: sqlite3.Row, run: RunRecord, queued_input: str | None = None
) -> RunRecord:
    """Records a new run (RUNNING, or QUEUED with its request) and counts it in the session's
    stats; AlreadyExists for a run id the session has."""
    stored = dataclasses.replace(
        run,
        start_time_us=run.start_time_us or now_us(),
        end_time_us=None,
        error=None,
        last_sequence=0,
        cancel_mode=None,
        cancel_reason="",
        events_expire_time_us=None,
    )
    inserted = execute(
        conn,
        """
        INSERT INTO runs (
            session_pk, run_id, tenant, state, start_time, last_agent_id,
            request_id, request_hash, on_disconnect, owner, queued_input)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (session_pk, run_id) DO NOTHING
        """,
        (
            session["pk"],
            stored.run_id,
            run.key.tenant,
            int(stored.state),
            stored.start_time_us,
            stored.last_agent_id,
            stored.request_id or None,
            stored.request_hash,
            int(stored.on_disconnect),
            stored.owner,
            queued_input,
        ),
    )
    if not inserted:
        raise run_already_exists(run.key, run.run_id)
    execute(
        conn,
        """
        UPDATE sessions
           SET run_count = run_count + 1,
               last_activity_time = max(last_activity_time, ?)
         WHERE pk = ?
        """,
        (stored.start_time_us, session["pk"]),
    )
    return stored


def start_run(conn: sqlite3.Connection, run: RunRecord, lease_expire_time_us: int) -> RunStart:
    """Takes the session's lease for `run` and records it RUNNING; or reports the run of the
    same request_id, or the lease of whoever holds the session."""
    session = session_row(conn, run.key, LEASE_COLUMNS)
    joined = joined_run(conn, session, run)
    if joined is not None:
        return RunStart(joined, joined=True)
    holder = _lease_of(run.key, session)
    if holder is not None:
        return RunStart(None, busy=holder)
    stored = insert_run(conn, session, dataclasses.replace(run, state=RunState.RUNNING))
    lease = take_lease(conn, run.key, session, run.run_id, run.owner, lease_expire_time_us)
    return RunStart(stored, lease=lease)


def take_lease(
    conn: sqlite3.Connection,
    key: SessionKey,
    session: sqlite3.Row,
    run_id: str,
    owner: str,
    expire_time_us: int,
) -> Lease:
    # Past every token this session had, and past any a deleted session of the same name
    # handed out (those were taken earlier): a stale holder never matches a new one.
    token = max(session["lease_token"] + 1, now_us())
    execute(
        conn,
        """
        UPDATE sessions
           SET lease_run_id = ?, lease_owner = ?, lease_expire_time = ?, lease_token = ?
         WHERE pk = ?
        """,
        (run_id, owner, expire_time_us, token, session["pk"]),
    )
    return Lease(key, run_id, owner, token, expire_time_us)


def acquire_lease(
    conn: sqlite3.Connection, key: SessionKey, owner: str, expire_time_us: int
) -> tuple[Lease | None, Lease | None]:
    """Takes the session for an operation that is not a run: (lease, None), or (None, holder)."""
    session = session_row(conn, key, LEASE_COLUMNS)
    holder = _lease_of(key, session)
    if holder is not None:
        return None, holder
    return take_lease(conn, key, session, "", owner, expire_time_us), None


def get_lease(conn: sqlite3.Connection, key: SessionKey) -> Lease | None:
    row = fetch_one(
        conn,
        f"SELECT {LEASE_COLUMNS} FROM sessions AS s WHERE {SESSION_KEY_SQL}",
        key_params(key),
    )
    return _lease_of(key, row) if row is not None else None


def release_lease(conn: sqlite3.Connection, lease: Lease) -> bool:
    """Frees the session if `lease` still holds it; whether it did."""
    return bool(
        execute(
            conn,
            """
            UPDATE sessions
               SET lease_run_id = NULL, lease_owner = NULL, lease_expire_time = NULL
             WHERE tenant = ? AND agent_id = ? AND session_id = ?
               AND lease_token = ? AND lease_owner IS NOT NULL
            """,
            (lease.key.tenant, lease.key.agent_id, lease.key.session_id, lease.token),
        )
    )


def renew_leases(conn: sqlite3.Connection, owner: str, expire_time_us: int) -> int:
    return execute(
        conn,
        "UPDATE sessions SET lease_expire_time = ? WHERE lease_owner = ?",
        (expire_time_us, owner),
    )


def list_leases(conn: sqlite3.Connection, limit: int) -> list[Lease]:
    """Held leases, the soonest to expire first."""
    rows = fetch_all(
        conn,
        f"""
        SELECT tenant, agent_id, session_id, {LEASE_COLUMNS}
          FROM sessions INDEXED BY sessions_by_lease_expire_time
         WHERE lease_owner IS NOT NULL
         ORDER BY lease_expire_time
         LIMIT ?
        """,
        (limit,),
    )
    leases = []
    for row in rows:
        lease = _lease_of(SessionKey(row["tenant"], row["agent_id"], row["session_id"]), row)
        if lease is not None:
            leases.append(lease)
    return leases


def finish_run(
    conn: sqlite3.Connection,
    run: RunRecord,
    lease: Lease,
    terminal: TerminalEncoder,
    events: Sequence[LoggedEvent] = (),
    items: Sequence[NewItem] = (),
) -> FinishedRun:
    """Records the run's end, adds its usage to the session, appends its terminal event and
    frees the session: one transaction, so the run ends exactly once."""
    if run.state not in (RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED):
        raise InvalidArgument.field("state", "a finished run needs an end state")
    key = run.key
    session = session_row(conn, key, LEASE_COLUMNS)
    current = _run_row(conn, session["pk"], run.run_id)
    if current is None:
        raise run_not_found(key, run.run_id)
    if current["state"] not in (int(RunState.RUNNING), int(RunState.REQUIRES_APPROVAL)):
        raise FailedPrecondition(
            f"{_run_name(key, run.run_id)} has already finished",
            reason="RUN_ALREADY_FINISHED",
            metadata=run_metadata(key, run.run_id),
        )
    if lease.run_id != run.run_id:
        raise lease_lost(key, run.run_id)
    check_fence(session, key, lease)
    if items:
        add_items(conn, key, items, run.run_id, fence=lease)
    if events:
        insert_events(conn, session["pk"], run.run_id, events)
    end_time = max(run.end_time_us or now_us(), current["start_time"])
    error = run.error
    row = fetch_one(
        conn,
        f"""
        UPDATE runs
           SET state = ?, requests = ?, input_tokens = ?, output_tokens = ?, total_tokens = ?,
               error_code = ?, error_message = ?, error_reason = ?, end_time = ?,
               last_agent_id = ?, cancel_mode = coalesce(?, cancel_mode),
               cancel_reason = CASE WHEN ? = '' THEN cancel_reason ELSE ? END,
               events_expire_time = ?, last_sequence = ?, run_state = NULL
         WHERE session_pk = ? AND run_id = ?
        RETURNING {RUN_COLUMNS.replace("r.", "")}
        """,
        (
            int(run.state),
            run.usage.requests,
            run.usage.input_tokens,
            run.usage.output_tokens,
            run.usage.total_tokens,
            error.code if error else None,
            error.message if error else None,
            error.reason if error else None,
            end_time,
            run.last_agent_id or current["last_agent_id"],
            int(run.cancel_mode) if run.cancel_mode is not None else None,
            run.cancel_reason,
            run.cancel_reason,
            run.events_expire_time_us,
            (events[-1].sequence if events else current["last_sequence"]) + 1,
            session["pk"],
            run.run_id,
        ),
    )
    assert row is not None  # read in this transaction
    finished = run_from_row(key, row)
    stats_row = fetch_one(
        conn,
        f"""
        UPDATE sessions
           SET input_tokens = input_tokens + ?,
               output_tokens = output_tokens + ?,
               total_tokens = total_tokens + ?,
               last_activity_time = max(last_activity_time, ?),
               lease_run_id = NULL, lease_owner = NULL, lease_expire_time = NULL
         WHERE pk = ?
        RETURNING {STATS_COLUMNS}
        """,
        (
            run.usage.input_tokens,
            run.usage.output_tokens,
            run.usage.total_tokens,
            end_time,
            session["pk"],
        ),
    )
    assert stats_row is not None
    stats = stats_from_row(stats_row)
    sequence = finished.last_sequence
    body = terminal(finished, stats, sequence)
    execute(
        conn,
        """
        INSERT INTO run_events (session_pk, run_id, sequence, terminal, body, create_time)
        VALUES (?, ?, ?, 1, ?, ?)
        """,
        (session["pk"], run.run_id, sequence, body, end_time),
    )
    return FinishedRun(
        finished,
        stats,
        LoggedEvent(sequence, True, body),
        queued=queue_length(conn, session["pk"]),
    )


def queue_length(conn: sqlite3.Connection, session_pk: int) -> int:
    """Runs queued on the session (the state a literal: only then is runs_queued usable)."""
    row = fetch_one(
        conn,
        f"""
        SELECT count(*) AS n FROM runs INDEXED BY runs_queued
         WHERE session_pk = ? AND state = {int(RunState.QUEUED)}
        """,
        (session_pk,),
    )
    return int(row["n"]) if row is not None else 0


def request_cancel(
    conn: sqlite3.Connection, key: SessionKey, run_id: str, mode: int, reason: str
) -> RunRecord | None:
    """Asks a running run to stop: IMMEDIATE overrides AFTER_TURN, the first reason stays.
    Returns the run (unchanged once it has ended), or None when there is no such run."""
    session = fetch_one(
        conn, f"SELECT pk FROM sessions AS s WHERE {SESSION_KEY_SQL}", key_params(key)
    )
    if session is None:
        return None
    execute(
        conn,
        """
        UPDATE runs
           SET cancel_mode = CASE WHEN cancel_mode IS NULL OR ? = 1 THEN ? ELSE cancel_mode END,
               cancel_reason = CASE WHEN cancel_reason = '' THEN ? ELSE cancel_reason END
         WHERE session_pk = ? AND run_id = ? AND state = ?
        """,
        (mode, mode, reason, session["pk"], run_id, int(RunState.RUNNING)),
    )
    row = _run_row(conn, session["pk"], run_id)
    return run_from_row(key, row) if row is not None else None


def cancel_requests(conn: sqlite3.Connection, owner: str) -> list[RunRecord]:
    """Running runs of `owner` that were asked to stop."""
    rows = fetch_all(
        conn,
        f"""
        SELECT s.tenant, s.agent_id, s.session_id, {RUN_COLUMNS}
          FROM runs AS r INDEXED BY runs_running_by_owner
          JOIN sessions AS s ON s.pk = r.session_pk
         WHERE r.owner = ? AND r.state = 1 AND r.cancel_mode IS NOT NULL
        """,
        (owner,),
    )
    return [
        run_from_row(SessionKey(row["tenant"], row["agent_id"], row["session_id"]), row)
        for row in rows
    ]
