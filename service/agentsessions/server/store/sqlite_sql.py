"""Small SQLite helpers shared by the store modules: one-row fetches and the store's errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from ..domain.errors import Aborted, NotFound
from ..domain.models import SessionKey

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


def agent_not_found(agent_id: str) -> NotFound:
    return NotFound(
        f"{agent_name(agent_id)} does not exist",
        reason="AGENT_NOT_FOUND",
        metadata={"agent_id": agent_id},
    )


def session_not_found(key: SessionKey) -> NotFound:
    return NotFound(
        f"{session_name(key)} does not exist",
        reason="SESSION_NOT_FOUND",
        metadata={"agent_id": key.agent_id, "session_id": key.session_id},
    )


def etag_mismatch(name: str, metadata: Mapping[str, str]) -> Aborted:
    return Aborted(
        f"{name} was changed since it was read (etag mismatch); read it again",
        reason="ETAG_MISMATCH",
        metadata=metadata,
    )


def etag_differs(expected: str | None, current: str) -> bool:
    # An empty expected etag means "none given", as in an AIP request.
    return bool(expected) and expected != current
