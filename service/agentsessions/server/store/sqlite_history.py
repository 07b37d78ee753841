"""Write operations on a session's items; each runs inside the writer's transaction.

Sequences stay dense: the next one is always `sessions.item_count + 1`, and
the stats columns change in the same transaction as the items they count.
Every write that changes the items bumps `sessions.history_version`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ..domain.models import ItemRecord, Lease, NewItem, SessionKey, now_us
from ..domain.resource_errors import lease_lost
from .base import AddedItems, ItemsRequest
from .sqlite_rows import item_from_row
from .sqlite_sql import execute, fetch_one, session_not_found

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


# The lease columns of a session row (see sqlite_runs).
LEASE_COLUMNS = "pk, lease_run_id, lease_owner, lease_expire_time, lease_token"


def check_fence(row: sqlite3.Row, key: SessionKey, lease: Lease) -> None:
    """Raises Aborted (LEASE_LOST) unless `row` (with LEASE_COLUMNS) is held by `lease`:
    a run or operation whose lease was taken over can no longer write."""
    held = row["lease_owner"] is not None and (row["lease_run_id"] or "") == lease.run_id
    if not held or row["lease_token"] != lease.token:
        raise lease_lost(key, lease.run_id)


def add_items(
    conn: sqlite3.Connection,
    key: SessionKey,
    items: Sequence[NewItem],
    run_id: str,
    fence: Lease | None = None,
) -> list[ItemRecord]:
    """Appends `items`; with a `fence`, only while that lease holds the session."""
    session = session_row(conn, key, f"item_count, {LEASE_COLUMNS}")
    if fence is not None:
        check_fence(session, key, fence)
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
               last_activity_time = max(last_activity_time, ?),
               history_version = history_version + 1
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


def add_items_once(
    conn: sqlite3.Connection, key: SessionKey, items: Sequence[NewItem], request: ItemsRequest
) -> AddedItems:
    """Appends `items` unless the session has a request with `request.request_id`."""
    session = session_row(conn, key, "pk")
    pk = session["pk"]
    seen = fetch_one(
        conn,
        """
        SELECT request_hash, first_sequence, items, create_time
          FROM add_requests
         WHERE session_pk = ? AND request_id = ?
        """,
        (pk, request.request_id),
    )
    if seen is not None:
        first, created = seen["first_sequence"], seen["create_time"]
        recorded = [
            ItemRecord(first + offset, "", type_, role, "", "", created)
            for offset, (type_, role) in enumerate(json.loads(seen["items"]))
        ]
        return AddedItems(recorded, seen["request_hash"], replayed=True)
    records = add_items(conn, key, items, "")
    execute(
        conn,
        "DELETE FROM add_requests WHERE session_pk = ? AND create_time < ?",
        (pk, request.forget_before_us),
    )
    execute(
        conn,
        """
        INSERT INTO add_requests (
            session_pk, request_id, request_hash, first_sequence, items, create_time)
        VALUES (?, ?, ?, ?, ?, ?)
        """,
        (
            pk,
            request.request_id,
            request.request_hash,
            records[0].sequence if records else 0,
            json.dumps([[r.type, r.role] for r in records]),
            records[0].create_time_us if records else now_us(),
        ),
    )
    return AddedItems(records, request.request_hash, replayed=False)


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
               last_activity_time = max(last_activity_time, ?),
               history_version = history_version + 1
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
               last_activity_time = max(last_activity_time, ?),
               history_version = history_version + 1
         WHERE pk = ?
        """,
        (now_us(), session["pk"]),
    )
    return removed
