"""SQLite schema migration 2 (leases, event logs) over a database written at version 1."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agentsessions.server.domain.models import (
    LoggedEvent,
    RunError,
    RunState,
    SessionKey,
    Usage,
)
from agentsessions.server.store import SQLiteStore
from agentsessions.server.store.sqlite_schema import LATEST_VERSION, MIGRATIONS
from store.store_records import finish, start

KEY = SessionKey("tenant-a", "helper", "s1")


def version_1_database(path: Path) -> None:
    """A file as version 1 left it: an agent, a session, a finished and a running run."""
    first = MIGRATIONS[0]
    assert first.version == 1
    with sqlite3.connect(path) as conn:
        conn.execute(
            """
            CREATE TABLE schema_migrations (
                version      INTEGER PRIMARY KEY,
                name         TEXT    NOT NULL,
                applied_time INTEGER NOT NULL
            )
            """
        )
        for statement in first.statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_time) VALUES (1, ?, 1)",
            (first.name,),
        )
        conn.execute(
            """
            INSERT INTO agents (
                tenant, agent_id, display_name, description, instructions, model, tools,
                handoffs, history_max_items, create_time, update_time, etag)
            VALUES ('tenant-a', 'helper', 'Helper', '', '', 'echo', '[]', '[]', 0, 10, 10, 'e1')
            """
        )
        conn.execute(
            """
            INSERT INTO sessions (
                pk, tenant, agent_id, session_id, display_name, state, labels, create_time,
                update_time, last_activity_time, total_tokens, run_count, etag)
            VALUES (1, 'tenant-a', 'helper', 's1', 'S1', 1, '{}', 20, 20, 900, 12, 2, 'e2')
            """
        )
        conn.execute(
            """
            INSERT INTO runs (
                session_pk, run_id, tenant, state, requests, input_tokens, output_tokens,
                total_tokens, start_time, end_time, last_agent_id)
            VALUES (1, 'done', 'tenant-a', 2, 1, 10, 2, 12, 500, 600, 'helper'),
                   (1, 'cut', 'tenant-a', 1, 0, 0, 0, 0, 800, NULL, 'helper')
            """
        )
    # The connection's context manager commits but does not close.
    conn.close()


def events_deleted(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT run_id, events_deleted FROM runs").fetchall()
    conn.close()
    return dict(rows)


async def test_version_1_runs_are_over_and_have_no_events_after_migration(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v1.db"
    version_1_database(path)
    store = SQLiteStore(str(path))
    await store.open()
    try:
        with sqlite3.connect(path) as conn:
            versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
        conn.close()
        assert versions == list(range(1, LATEST_VERSION + 1)) and LATEST_VERSION >= 2

        cut = await store.get_run(KEY, "cut")
        assert cut is not None
        assert cut.state == RunState.FAILED
        assert cut.error is not None
        assert (cut.error.code, cut.error.reason) == (14, "RUN_INTERRUPTED")
        assert cut.end_time_us == cut.start_time_us == 800
        assert (cut.last_sequence, cut.cancel_mode, cut.owner, cut.request_id) == (0, None, "", "")

        done = await store.get_run(KEY, "done")
        assert done is not None
        assert (done.state, done.error, done.start_time_us, done.end_time_us) == (
            RunState.COMPLETED,
            None,
            500,
            600,
        )
        assert done.usage == Usage(requests=1, input_tokens=10, output_tokens=2, total_tokens=12)

        # Their logs are marked gone: readers of them get nothing, and the sweep finishes them.
        assert events_deleted(path) == {"done": 1, "cut": 1}
        page = await store.read_run_events(
            KEY, "cut", after_sequence=0, limit=10, max_bytes=1 << 20
        )
        assert page is not None and page.events == [] and page.run == cut
        assert await store.expire_run_events(0, runs=10, events=100) == 0
        assert events_deleted(path) == {"done": 2, "cut": 2}

        # The session is free, and its first lease and run work as on a new database.
        session = await store.get_session(KEY)
        assert session is not None and session.stats.run_count == 2
        assert await store.list_leases(limit=10) == []
        run, lease = await start(store, KEY, "after")
        await store.append_run_events(lease, [LoggedEvent(1, False, b"e")])
        await finish(store, run, lease)
        page = await store.read_run_events(
            KEY, "after", after_sequence=0, limit=10, max_bytes=1 << 20
        )
        assert page is not None and [(e.sequence, e.terminal) for e in page.events] == [
            (1, False),
            (2, True),
        ]
        assert events_deleted(path)["after"] == 0
    finally:
        await store.close()


async def test_a_run_error_survives_migration(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    version_1_database(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            """
            INSERT INTO runs (
                session_pk, run_id, tenant, state, error_code, error_message, error_reason,
                start_time, end_time, last_agent_id)
            VALUES (1, 'failed', 'tenant-a', 3, 8, 'quota', 'MODEL_QUOTA', 700, 750, 'helper')
            """
        )
    conn.close()
    store = SQLiteStore(str(path))
    await store.open()
    try:
        failed = await store.get_run(KEY, "failed")
        assert failed is not None
        assert (failed.state, failed.error, failed.end_time_us) == (
            RunState.FAILED,
            RunError(8, "quota", "MODEL_QUOTA"),
            750,
        )
    finally:
        await store.close()
