"""SQLite backend specifics: pragmas, migrations, query plans, other processes, crash durability."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest
from agentsessions.server.domain.models import RunState, SessionKey, SessionState
from agentsessions.server.store import SQLiteStore
from agentsessions.server.store.base import (
    RunCursor,
    RunFilter,
    RunQuery,
    SessionCursor,
    SessionFilter,
    SessionOrder,
    SessionQuery,
)
from agentsessions.server.store.sqlite_queries import (
    list_agents_sql,
    list_items_sql,
    list_runs_sql,
    list_sessions_sql,
    run_scan_end_sql,
)
from agentsessions.server.store.sqlite_schema import LATEST_VERSION, SchemaTooNew
from store.store_records import message, seeded

KEY = SessionKey("tenant-a", "helper", "s1")


@pytest.fixture
async def db_path(tmp_path: Path) -> Path:
    """A migrated, empty database file."""
    path = tmp_path / "store.db"
    store = SQLiteStore(str(path))
    await store.open()
    await store.close()
    return path


def query_plan(path: Path, sql: str, params: object) -> str:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()  # type: ignore[arg-type]
    return "\n".join(row[3] for row in rows)


def test_file_is_in_wal_mode_at_the_latest_schema_version(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == list(range(1, LATEST_VERSION + 1))


async def test_reopening_applies_no_migration_twice(db_path: Path) -> None:
    store = SQLiteStore(str(db_path))
    await store.open()
    await store.close()
    with sqlite3.connect(db_path) as conn:
        assert (
            conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == LATEST_VERSION
        )


async def test_a_newer_schema_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_time) VALUES (?, 'future', 0)",
            (LATEST_VERSION + 1,),
        )
    store = SQLiteStore(str(db_path))
    with pytest.raises(SchemaTooNew):
        await store.open()


@pytest.mark.parametrize("field", ["last_activity_time", "create_time", "update_time"])
@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("agent_id", [None, "helper"])
def test_session_lists_walk_an_index_in_order(
    db_path: Path, field: str, descending: bool, agent_id: str | None
) -> None:
    cursors = [None, SessionCursor(value=5, row=3)]
    filters = [
        SessionFilter(),
        SessionFilter(state=SessionState.ACTIVE, labels={"a": "b"}, display_name_contains="x"),
    ]
    index = f"sessions_by_agent_{field}" if agent_id else f"sessions_by_{field}"
    for after in cursors:
        for conditions in filters:
            query = SessionQuery(
                tenant="t",
                agent_id=agent_id,
                filter=conditions,
                order=SessionOrder(field, descending),  # type: ignore[arg-type]
                after=after,
            )
            plan = query_plan(db_path, *list_sessions_sql(query))
            assert f"SEARCH sessions USING INDEX {index} (" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
            if after is not None:
                # The scan starts at the cursor rather than filtering from the top.
                assert f"{field}{'<' if descending else '>'}?" in plan, plan


def test_items_runs_and_agents_lists_walk_an_index(db_path: Path) -> None:
    plans = {
        "items": query_plan(db_path, *list_items_sql(KEY, 0, 0, None)),
        "newest items": query_plan(db_path, *list_items_sql(KEY, 3, 5, 10)),
        "runs": query_plan(
            db_path,
            *list_runs_sql(
                RunQuery(KEY.tenant, KEY.agent_id, KEY.session_id, after=RunCursor(1, "r", 0))
            ),
        ),
        "agents": query_plan(db_path, *list_agents_sql("t", (1, "a"), 10)),
    }
    for name, plan in plans.items():
        assert "TEMP B-TREE" not in plan, (name, plan)
        assert " SCAN " not in f" {plan}", (name, plan)
    assert "(session_pk=? AND sequence>?)" in plans["newest items"]
    assert "runs_by_start_time (session_pk=? AND start_time<?)" in plans["runs"]
    assert "agents_by_create_time (tenant=? AND create_time>?)" in plans["agents"]


@pytest.mark.parametrize("state", [None, RunState.REQUIRES_APPROVAL])
@pytest.mark.parametrize("agent_id", [None, "helper"])
def test_run_lists_across_sessions_walk_a_tenant_index(
    db_path: Path, state: RunState | None, agent_id: str | None
) -> None:
    """agents/-/sessions/- (and agents/A/sessions/-) with `state = REQUIRES_APPROVAL` is
    a range of an index of (tenant, state): the waiting runs, not every run."""
    index = "runs_by_tenant_start_time (tenant=?"
    if state is not None:
        index = "runs_by_tenant_state (tenant=? AND state=?"
    for after in (None, RunCursor(5, "r", 3)):
        for until in (None, RunCursor(1, "q", 2)):
            query = RunQuery("t", agent_id, filter=RunFilter(state), after=after, until=until)
            plan = query_plan(db_path, *list_runs_sql(query))
            assert plan.startswith(f"SEARCH r USING INDEX {index}"), plan
            assert "SEARCH s USING INTEGER PRIMARY KEY" in plan, plan
            assert "TEMP B-TREE" not in plan and " SCAN " not in f" {plan}", plan
            if after is not None:
                assert "start_time<?" in plan, plan
        end = query_plan(
            db_path, *run_scan_end_sql(RunQuery("t", agent_id, filter=RunFilter(state)), 9)
        )
        assert end.startswith(f"SEARCH r USING COVERING INDEX {index}"), end
        assert "\n" not in end, end  # the index alone: no session row read


async def test_two_stores_on_one_file_share_one_dense_history(db_path: Path) -> None:
    # Two store objects stand for two processes: SQLite's file lock and
    # busy_timeout order their transactions.
    first, second = SQLiteStore(str(db_path)), SQLiteStore(str(db_path))
    await first.open()
    await second.open()
    try:
        (key,) = await seeded(first, "s1")
        await asyncio.gather(
            *(
                (first if n % 2 else second).add_items(key, [message(f"m{n}"), message("x")])
                for n in range(40)
            )
        )
        items = await second.list_items(key)
        assert [i.sequence for i in items] == list(range(1, 81))
    finally:
        await first.close()
        await second.close()


async def test_a_cancelled_caller_still_gets_its_write_committed(db_path: Path) -> None:
    store = SQLiteStore(str(db_path))
    await store.open()
    try:
        (key,) = await seeded(store, "s1")
        call = asyncio.create_task(store.add_items(key, [message("a"), message("b")]))
        await asyncio.sleep(0)  # the write is queued
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # Settled before the cancellation surfaced, not some time later.
        assert [i.text for i in await store.list_items(key)] == ["a", "b"]
    finally:
        await store.close()


WRITER_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from agentsessions.server.domain.models import AgentRecord, NewItem, SessionRecord, SessionKey
    from agentsessions.server.store import SQLiteStore

    async def main():
        store = SQLiteStore(sys.argv[1])
        await store.open()
        await store.create_agent(AgentRecord("t", "a", "A"), None)
        await store.create_session(SessionRecord("t", "a", "s", "S"), None)
        key = SessionKey("t", "a", "s")
        n = 0
        while True:
            n += 1
            await store.add_items(key, [NewItem(json.dumps({"n": n}), "message", text=str(n))])
            print(n, flush=True)

    asyncio.run(main())
    """
)


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER_SCRIPT, str(path), stdout=asyncio.subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    acknowledged = 0
    try:
        while acknowledged < 50:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert line, "the writer process exited early"
            acknowledged = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    store = SQLiteStore(str(path))
    await store.open()
    try:
        items = await store.list_items(SessionKey("t", "a", "s"))
    finally:
        await store.close()
    assert len(items) >= acknowledged
    assert [i.sequence for i in items] == list(range(1, len(items) + 1))
    assert [i.text for i in items] == [str(n) for n in range(1, len(items) + 1)]
