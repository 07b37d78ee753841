"""SQLite schema migration 3 (history versions, AddItems request ids) over a version 2 file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from agentsessions.server.domain.errors import Aborted
from agentsessions.server.domain.models import SessionKey
from agentsessions.server.store import SQLiteStore
from agentsessions.server.store.base import ItemsRequest
from agentsessions.server.store.sqlite_schema import MIGRATIONS
from store.store_records import message, raises

KEY = SessionKey("tenant-a", "helper", "s1")


def version_2_database(path: Path) -> None:
    """A file as version 2 left it: an agent and a session with three items."""
    assert [m.version for m in MIGRATIONS[:2]] == [1, 2]
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
        for migration in MIGRATIONS[:2]:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_time) VALUES (?, ?, 1)",
                (migration.version, migration.name),
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
                update_time, last_activity_time, item_count, message_count, etag)
            VALUES (1, 'tenant-a', 'helper', 's1', 'S1', 1, '{}', 20, 20, 30, 3, 3, 'e2')
            """
        )
        for sequence in (1, 2, 3):
            item_json = json.dumps({"role": "user", "content": f"m{sequence}"})
            conn.execute(
                """
                INSERT INTO items (
                    session_pk, sequence, tenant, type, role, text, item_json, run_id,
                    create_time)
                VALUES (1, ?, 'tenant-a', 'message', 'user', ?, ?, '', 25)
                """,
                (sequence, f"m{sequence}", item_json),
            )
    conn.close()


async def test_version_2_histories_get_a_version_and_take_request_ids(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    version_2_database(path)
    store = SQLiteStore(str(path))
    await store.open()
    try:
        with sqlite3.connect(path) as conn:
            versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
        conn.close()
        assert versions[:3] == [1, 2, 3]

        assert await store.get_history_version(KEY) == 0
        added = await store.add_items_once(KEY, [message("m4")], ItemsRequest("r1", "h", 0))
        assert [i.sequence for i in added.items] == [4]
        assert await store.get_history_version(KEY) == 1
        await raises(
            Aborted,
            "HISTORY_CHANGED",
            store.compact_items(
                KEY, through_sequence=2, summary=message("S"), expected_history_version=0
            ),
        )
        done = await store.compact_items(
            KEY, through_sequence=2, summary=message("S"), expected_history_version=1
        )
        assert [i.text for i in await store.list_items(KEY)] == ["S", "m3", "m4"]
        assert done.session.stats.item_count == 3
        replayed = await store.add_items_once(KEY, [message("m4")], ItemsRequest("r1", "h", 0))
        assert replayed.replayed and [i.sequence for i in replayed.items] == [4]
    finally:
        await store.close()
