"""Many-row rewrites inside the writer's transaction: compaction, deleting several sessions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ..domain.errors import InvalidArgument
from ..domain.models import CompactedHistory, ItemRecord, NewItem, SessionKey, Usage, now_us
from ..domain.resource_errors import history_changed
from .sqlite_history import FUNCTION_CALL, MESSAGE, session_row
from .sqlite_rows import SESSION_COLUMNS, session_from_row
from .sqlite_sql import execute, fetch_all, fetch_one, session_not_found


def compact_items(
    conn: sqlite3.Connection,
    key: SessionKey,
    through_sequence: int,
    summary: NewItem | None,
    expected_history_version: int,
    usage: Usage,
) -> CompactedHistory:
    session = session_row(conn, key, "pk, item_count, history_version")
    pk, item_count = session["pk"], session["item_count"]
    # A version, not a count: a pop followed by an add leaves the count as it was.
    if session["history_version"] != expected_history_version:
        raise history_changed(key)
    if not 1 <= through_sequence <= item_count:
        raise InvalidArgument.field(
            "through_sequence", f"must be within 1..{item_count}, got {through_sequence}"
        )
    now = now_us()
    removed = execute(
        conn, "DELETE FROM items WHERE session_pk = ? AND sequence <= ?", (pk, through_sequence)
    )
    # The kept items move down to follow the summary. Two passes through negative
    # numbers, so that no row ever takes a sequence another still holds.
    shift = through_sequence - (1 if summary is not None else 0)
    if shift:
        execute(conn, "UPDATE items SET sequence = -sequence WHERE session_pk = ?", (pk,))
        execute(
            conn,
            "UPDATE items SET sequence = -sequence - ? WHERE session_pk = ? AND sequence < 0",
            (shift, pk),
        )
    stored: ItemRecord | None = None
    if summary is not None:
        stored = ItemRecord(1, summary.item_json, summary.type, summary.role, summary.text, "", now)
        execute(
            conn,
            """
            INSERT INTO items (
                session_pk, sequence, tenant, type, role, text, item_json, run_id, create_time)
            VALUES (?, 1, ?, ?, ?, ?, ?, '', ?)
            """,
            (pk, key.tenant, stored.type, stored.role, stored.text, stored.item_json, now),
        )
    row = fetch_one(
        conn,
        f"""
        UPDATE sessions
           SET item_count = (SELECT count(*) FROM items WHERE session_pk = :pk),
               message_count = (
                   SELECT count(*) FROM items WHERE session_pk = :pk AND type = :message),
               function_call_count = (
                   SELECT count(*) FROM items WHERE session_pk = :pk AND type = :function_call),
               input_tokens = input_tokens + :input_tokens,
               output_tokens = output_tokens + :output_tokens,
               total_tokens = total_tokens + :total_tokens,
               last_activity_time = max(last_activity_time, :now),
               history_version = history_version + 1
         WHERE pk = :pk
        RETURNING {SESSION_COLUMNS}
        """,
        {
            "pk": pk,
            "message": MESSAGE,
            "function_call": FUNCTION_CALL,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "now": now,
        },
    )
    assert row is not None  # the session was read in this transaction
    return CompactedHistory(session_from_row(row), removed, stored, usage)


def delete_sessions(conn: sqlite3.Connection, keys: Sequence[SessionKey]) -> None:
    if not keys:
        return
    # One JSON parameter instead of a variable number of placeholders.
    wanted = json.dumps([[k.tenant, k.agent_id, k.session_id] for k in keys])
    rows = fetch_all(
        conn,
        """
        SELECT s.pk, s.tenant, s.agent_id, s.session_id
          FROM json_each(:wanted) AS w
          JOIN sessions AS s
            ON s.tenant = json_extract(w.value, '$[0]')
           AND s.agent_id = json_extract(w.value, '$[1]')
           AND s.session_id = json_extract(w.value, '$[2]')
        """,
        {"wanted": wanted},
    )
    found = {SessionKey(r["tenant"], r["agent_id"], r["session_id"]): r["pk"] for r in rows}
    for key in keys:
        if key not in found:
            raise session_not_found(key)
    # Items, runs and create requests go with them (ON DELETE CASCADE).
    execute(
        conn,
        "DELETE FROM sessions WHERE pk IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(set(found.values()))),),
    )
