"""Small SQLite helpers shared by the store modules: one-row fetches, names, and the
domain's not-found errors under the names the store modules import."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from ..domain.models import SessionKey
from ..domain.resource_errors import agent_not_found as agent_not_found
from ..domain.resource_errors import session_not_found as session_not_found

Params = Sequence[Any] | Mapping[str, Any]


def fetch_one(conn: sqlite3.Connection, sql: str, params: Params = ()) -> sqlite3.Row | None:
    # fetchall, not fetchone: it runs the statement to its end, so a RETURNING
    # statement is finished (not left open) before the next one.
    rows = conn.execute(sql, params).fetchall()
    return rows[0] if rows else None


def fetch_all(conn: sqlite3.Connection, sql: str, params: Params = ()) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()


def execute(conn: sqlite3.Connection, sql: str, params: Params = ()) -> int:
    """Runs one statement; returns the number of rows it changed."""
    return conn.execute(sql, params).rowcount


def agent_name(agent_id: str) -> str:
    return f"agents/{agent_id}"


def session_name(key: SessionKey) -> str:
    return f"agents/{key.agent_id}/sessions/{key.session_id}"
