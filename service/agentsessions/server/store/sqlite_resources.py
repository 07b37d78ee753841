"""Write operations on agents and sessions; each runs inside the writer's transaction."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable

from ..domain.errors import FailedPrecondition
from ..domain.models import AgentRecord, SessionKey, SessionRecord, SessionStats, now_us
from ..domain.resource_errors import (
    agent_already_exists,
    agent_etag_mismatch,
    agent_not_found,
    etag_differs,
    session_already_exists,
    session_etag_mismatch,
    session_not_found,
)
from .sqlite_rows import (
    AGENT_COLUMNS,
    SESSION_COLUMNS,
    agent_from_row,
    agent_params,
    labels_json,
    new_etag,
    session_from_row,
)
from .sqlite_sql import agent_name, execute, fetch_one

AGENTS_SCOPE = "agents"


def sessions_scope(agent_id: str) -> str:
    return f"agents/{agent_id}/sessions"


def create_agent(
    conn: sqlite3.Connection, agent: AgentRecord, request_id: str | None
) -> AgentRecord:
    if request_id:
        row = fetch_one(
            conn,
            f"""
            SELECT {AGENT_COLUMNS}
              FROM agents
             WHERE (tenant, agent_id) = (
                   SELECT tenant, agent_id
                     FROM create_requests
                    WHERE tenant = ? AND scope = ? AND request_id = ?)
            """,
            (agent.tenant, AGENTS_SCOPE, request_id),
        )
        if row is not None:
            return agent_from_row(row)
    created = agent.create_time_us or now_us()
    stored = dataclasses.replace(
        agent, create_time_us=created, update_time_us=created, etag=new_etag()
    )
    inserted = execute(
        conn,
        f"""
        INSERT INTO agents ({AGENT_COLUMNS})
        VALUES (:tenant, :agent_id, :display_name, :description, :instructions, :model,
                :temperature, :top_p, :max_output_tokens, :tools, :handoffs,
                :history_max_items, :create_time, :update_time, :etag,
                :approval_tools, :approval_timeout)
        ON CONFLICT (tenant, agent_id) DO NOTHING
        """,
        agent_params(stored),
    )
    if not inserted:
        raise agent_already_exists(agent.agent_id)
    if request_id:
        execute(
            conn,
            """
            INSERT INTO create_requests (
                tenant, scope, request_id, agent_id, session_pk, create_time)
            VALUES (?, ?, ?, ?, NULL, ?)
            """,
            (agent.tenant, AGENTS_SCOPE, request_id, agent.agent_id, created),
        )
    return stored


def update_agent(
    conn: sqlite3.Connection,
    tenant: str,
    agent_id: str,
    change: Callable[[AgentRecord], AgentRecord],
) -> AgentRecord | None:
    row = fetch_one(
        conn,
        f"SELECT {AGENT_COLUMNS} FROM agents WHERE tenant = ? AND agent_id = ?",
        (tenant, agent_id),
    )
    if row is None:
        return None
    current = agent_from_row(row)
    stored = dataclasses.replace(
        change(current), tenant=tenant, agent_id=agent_id, create_time_us=current.create_time_us
    )
    execute(
        conn,
        """
        UPDATE agents
           SET display_name = :display_name,
               description = :description,
               instructions = :instructions,
               model = :model,
               temperature = :temperature,
               top_p = :top_p,
               max_output_tokens = :max_output_tokens,
               tools = :tools,
               handoffs = :handoffs,
               history_max_items = :history_max_items,
               approval_tools = :approval_tools,
               approval_timeout = :approval_timeout,
               update_time = :update_time,
               etag = :etag
         WHERE tenant = :tenant AND agent_id = :agent_id
        """,
        agent_params(stored),
    )
    return stored


def delete_agent(
    conn: sqlite3.Connection,
    tenant: str,
    agent_id: str,
    force: bool,
    expected_etag: str | None,
) -> None:
    row = fetch_one(
        conn, "SELECT etag FROM agents WHERE tenant = ? AND agent_id = ?", (tenant, agent_id)
    )
    if row is None:
        raise agent_not_found(agent_id)
    if etag_differs(expected_etag, row["etag"]):
        raise agent_etag_mismatch(agent_id)
    if not force:
        busy = fetch_one(
            conn,
            "SELECT 1 FROM sessions WHERE tenant = ? AND agent_id = ? LIMIT 1",
            (tenant, agent_id),
        )
        if busy is not None:
            raise FailedPrecondition(
                f"{agent_name(agent_id)} has sessions; delete them first or set force",
                reason="AGENT_HAS_SESSIONS",
                metadata={"agent_id": agent_id},
            )
    # With force, the foreign keys cascade to sessions, items, runs and create requests.
    execute(conn, "DELETE FROM agents WHERE tenant = ? AND agent_id = ?", (tenant, agent_id))


def create_session(
    conn: sqlite3.Connection, session: SessionRecord, request_id: str | None
) -> SessionRecord:
    scope = sessions_scope(session.agent_id)
    if request_id:
        row = fetch_one(
            conn,
            f"""
            SELECT {SESSION_COLUMNS}
              FROM sessions
             WHERE pk = (
                   SELECT session_pk
                     FROM create_requests
                    WHERE tenant = ? AND scope = ? AND request_id = ?)
            """,
            (session.tenant, scope, request_id),
        )
        if row is not None:
            return session_from_row(row)
    agent = fetch_one(
        conn,
        "SELECT 1 FROM agents WHERE tenant = ? AND agent_id = ?",
        (session.tenant, session.agent_id),
    )
    if agent is None:
        raise agent_not_found(session.agent_id)
    created = session.create_time_us or now_us()
    stored = dataclasses.replace(
        session,
        create_time_us=created,
        update_time_us=created,
        last_activity_time_us=session.last_activity_time_us or created,
        stats=SessionStats(),
        etag=new_etag(),
    )
    row = fetch_one(
        conn,
        """
        INSERT INTO sessions (
            tenant, agent_id, session_id, display_name, state, labels,
            create_time, update_time, last_activity_time, expire_time, etag)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (tenant, agent_id, session_id) DO NOTHING
        RETURNING pk
        """,
        (
            stored.tenant,
            stored.agent_id,
            stored.session_id,
            stored.display_name,
            int(stored.state),
            labels_json(stored.labels),
            stored.create_time_us,
            stored.update_time_us,
            stored.last_activity_time_us,
            stored.expire_time_us,
            stored.etag,
        ),
    )
    if row is None:
        raise session_already_exists(
            SessionKey(session.tenant, session.agent_id, session.session_id)
        )
    if request_id:
        execute(
            conn,
            """
            INSERT INTO create_requests (
                tenant, scope, request_id, agent_id, session_pk, create_time)
            VALUES (?, ?, ?, ?, ?, ?)
            """,
            (stored.tenant, scope, request_id, stored.agent_id, row["pk"], created),
        )
    return stored


def update_session(
    conn: sqlite3.Connection, key: SessionKey, change: Callable[[SessionRecord], SessionRecord]
) -> SessionRecord | None:
    row = fetch_one(
        conn,
        f"""
        SELECT {SESSION_COLUMNS}
          FROM sessions
         WHERE tenant = ? AND agent_id = ? AND session_id = ?
        """,
        (key.tenant, key.agent_id, key.session_id),
    )
    if row is None:
        return None
    changed = change(session_from_row(row))
    updated = fetch_one(
        conn,
        f"""
        UPDATE sessions
           SET display_name = ?,
               state = ?,
               labels = ?,
               expire_time = ?,
               update_time = ?,
               etag = ?
         WHERE tenant = ? AND agent_id = ? AND session_id = ?
        RETURNING {SESSION_COLUMNS}
        """,
        (
            changed.display_name,
            int(changed.state),
            labels_json(changed.labels),
            changed.expire_time_us,
            changed.update_time_us,
            changed.etag,
            key.tenant,
            key.agent_id,
            key.session_id,
        ),
    )
    assert updated is not None  # the row was read in this transaction
    return session_from_row(updated)


def delete_session(conn: sqlite3.Connection, key: SessionKey, expected_etag: str | None) -> None:
    row = fetch_one(
        conn,
        "SELECT pk, etag FROM sessions WHERE tenant = ? AND agent_id = ? AND session_id = ?",
        (key.tenant, key.agent_id, key.session_id),
    )
    if row is None:
        raise session_not_found(key)
    if etag_differs(expected_etag, row["etag"]):
        raise session_etag_mismatch(key)
    # Items, runs and the create request go with it (ON DELETE CASCADE).
    execute(conn, "DELETE FROM sessions WHERE pk = ?", (row["pk"],))
