"""Write operations on a session's items and runs; each runs inside the writer's transaction.

Sequences stay dense: the next one is always `sessions.item_count + 1`, and
the stats columns change in the same transaction as the items they count.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence

from ..domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from ..domain.models import (
    ItemRecord,
    NewItem,
    RunRecord,
    RunState,
    SessionKey,
    SessionStats,
    now_us,
)
from .sqlite_rows import STATS_COLUMNS, item_from_row, stats_from_row
from .sqlite_sql import execute, fetch_one, session_name, session_not_found

MESSAGE = "message"
FUNCTION_CALL = "function_call"


def session_row(conn: sqlite3.Connection, key: SessionKey, columns: str) -> sqlite3.Row:
    row = fetch_one(
        conn,
        f"SELECT {columns} FROM sessions WHERE tenant = ? AND agent_id = ? AND session_id = ?",
        (key.tenant, key.agent_id, key.session_id),
    )
    if row is None:
        raise session_not_found(key)
    return row


def add_items(
    conn: sqlite3.Connection, key: SessionKey, items: Sequence[NewItem], run_id: str
) -> list[ItemRecord]:
    session = session_row(conn, key, "pk, item_count")
    if not items:
        return []
    now = now_us()
    pk = session["pk"]
    first = session["item_count"] + 1
    records = [
        ItemRecord(
            sequence=first + offset,
            item_json=item.item_json,
            type=item.type,
            role=item.role,
            text=item.text,
            run_id=run_id,
            create_time_us=now,
        )
        for offset, item in enumerate(items)
    ]
    conn.executemany(
        """
        INSERT INTO items (
            session_pk, sequence, tenant, type, role, text, item_json, run_id, create_time)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            (pk, r.sequence, key.tenant, r.type, r.role, r.text, r.item_json, r.run_id, now)
            for r in records
        ],
    )
    execute(
        conn,
        """
        UPDATE sessions
           SET item_count = item_count + ?,
               message_count = message_count + ?,
               function_call_count = function_call_count + ?,
               last_activity_time = max(last_activity_time, ?)
         WHERE pk = ?
        """,
        (
            len(records),
            sum(r.type == MESSAGE for r in records),
            sum(r.type == FUNCTION_CALL for r in records),
            now,
            pk,
        ),
    )
    return records


def pop_item(conn: sqlite3.Connection, key: SessionKey) -> ItemRecord | None:
    session = session_row(conn, key, "pk")
    row = fetch_one(
        conn,
        """
        DELETE FROM items
         WHERE session_pk = :pk
           AND sequence = (SELECT max(sequence) FROM items WHERE session_pk = :pk)
        RETURNING sequence, item_json, type, role, text, run_id, create_time
        """,
        {"pk": session["pk"]},
    )
    if row is None:
        return None
    item = item_from_row(row)
    execute(
        conn,
        """
        UPDATE sessions
           SET item_count = item_count - 1,
               message_count = message_count - ?,
               function_call_count = function_call_count - ?,
               last_activity_time = max(last_activity_time, ?)
         WHERE pk = ?
        """,
        (int(item.type == MESSAGE), int(item.type == FUNCTION_CALL), now_us(), session["pk"]),
    )
    return item


def clear_items(conn: sqlite3.Connection, key: SessionKey) -> int:
    session = session_row(conn, key, "pk")
    removed = execute(conn, "DELETE FROM items WHERE session_pk = ?", (session["pk"],))
    execute(
        conn,
        """
        UPDATE sessions
           SET item_count = 0,
               message_count = 0,
               function_call_count = 0,
               last_activity_time = max(last_activity_time, ?)
         WHERE pk = ?
        """,
        (now_us(), session["pk"]),
    )
    return removed


def start_run(conn: sqlite3.Connection, run: RunRecord) -> RunRecord:
    session = session_row(conn, run.key, "pk")
    stored = dataclasses.replace(
        run,
        state=RunState.RUNNING,
        start_time_us=run.start_time_us or now_us(),
        end_time_us=None,
        error=None,
    )
    inserted = execute(
        conn,
        """
        INSERT INTO runs (session_pk, run_id, tenant, state, start_time, last_agent_id)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (session_pk, run_id) DO NOTHING
        """,
        (
            session["pk"],
            stored.run_id,
            run.key.tenant,
            int(RunState.RUNNING),
            stored.start_time_us,
            stored.last_agent_id,
        ),
    )
    if not inserted:
        raise AlreadyExists(
            f"{session_name(run.key)}/runs/{run.run_id} already exists",
            reason="RUN_ALREADY_EXISTS",
            metadata=_run_metadata(run),
        )
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


def finish_run(conn: sqlite3.Connection, run: RunRecord) -> SessionStats:
    if run.state == RunState.RUNNING:
        raise InvalidArgument.field("state", "a finished run needs an end state")
    session = session_row(conn, run.key, "pk")
    end_time = run.end_time_us or now_us()
    error = run.error
    changed = execute(
        conn,
        """
        UPDATE runs
           SET state = ?,
               requests = ?,
               input_tokens = ?,
               output_tokens = ?,
               total_tokens = ?,
               error_code = ?,
               error_message = ?,
               error_reason = ?,
               end_time = max(?, start_time),
               last_agent_id = ?
         WHERE session_pk = ? AND run_id = ? AND state = ?
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
            run.last_agent_id,
            session["pk"],
            run.run_id,
            int(RunState.RUNNING),
        ),
    )
    if not changed:
        exists = fetch_one(
            conn,
            "SELECT 1 FROM runs WHERE session_pk = ? AND run_id = ?",
            (session["pk"], run.run_id),
        )
        name = f"{session_name(run.key)}/runs/{run.run_id}"
        metadata = _run_metadata(run)
        if exists is None:
            raise NotFound(f"{name} does not exist", reason="RUN_NOT_FOUND", metadata=metadata)
        raise FailedPrecondition(
            f"{name} has already finished", reason="RUN_ALREADY_FINISHED", metadata=metadata
        )
    stats = fetch_one(
        conn,
        f"""
        UPDATE sessions
           SET input_tokens = input_tokens + ?,
               output_tokens = output_tokens + ?,
               total_tokens = total_tokens + ?,
               last_activity_time = max(last_activity_time, ?)
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
    assert stats is not None  # the session was read in this transaction
    return stats_from_row(stats)


def _run_metadata(run: RunRecord) -> dict[str, str]:
    return {"agent_id": run.key.agent_id, "session_id": run.key.session_id, "run_id": run.run_id}
