"""SQLiteStore: the default `Store`, one database file through aiosqlite.

Writes go through one writer connection (sqlite_writer.Writer) that groups
concurrent writes into few commits; reads use a few reader connections,
which WAL lets run beside the writer. Every read is a single statement, so
it sees one consistent snapshot without an explicit transaction.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Sequence

import aiosqlite

from ..domain.errors import Unavailable
from ..domain.models import (
    AgentRecord,
    CompactedHistory,
    ItemRecord,
    NewItem,
    RunRecord,
    SessionKey,
    SessionRecord,
    SessionStats,
    Usage,
)
from . import sqlite_compaction, sqlite_history, sqlite_resources
from .base import SessionCursor, SessionPageEntry, SessionQuery
from .sqlite_queries import (
    SESSION_KEY_SQL,
    key_params,
    list_agents_sql,
    list_items_sql,
    list_runs_sql,
    list_sessions_sql,
)
from .sqlite_rows import (
    AGENT_COLUMNS,
    RUN_COLUMNS,
    SESSION_COLUMNS,
    agent_from_row,
    item_from_row,
    run_from_row,
    session_from_row,
)
from .sqlite_schema import configure, migrate
from .sqlite_sql import fetch_all, fetch_one, session_not_found
from .sqlite_writer import Writer


def _closed() -> Unavailable:
    return Unavailable("the store is not open", reason="STORE_CLOSED")


class SQLiteStore:
    """A `Store` in one SQLite file.

    Example:
        store = SQLiteStore("agentsessions.db")
        await store.open()
        try:
            agent = await store.create_agent(AgentRecord("default", "a1", "Helper"), None)
        finally:
            await store.close()
    """

    def __init__(self, path: str, *, readers: int = 2, cache_kib: int = 2000) -> None:
        self.path = path
        self._reader_count = max(readers, 1)
        self._cache_kib = cache_kib
        self._writer_conn: aiosqlite.Connection | None = None
        self._writer: Writer | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._next_reader = itertools.count()

    async def open(self) -> None:
        """Connects and migrates the schema to the current version."""
        # isolation_level=None: the store issues BEGIN/COMMIT itself.
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await configure(conn, writer=True, cache_kib=self._cache_kib)
            await migrate(conn)
            for _ in range(self._reader_count):
                reader = await aiosqlite.connect(self.path, isolation_level=None)
                self._readers.append(reader)
                reader.row_factory = sqlite3.Row
                await configure(reader, writer=False, cache_kib=self._cache_kib)
        except BaseException:
            for reader in self._readers:
                await reader.close()
            self._readers.clear()
            await conn.close()
            raise
        self._writer_conn = conn
        self._writer = Writer(conn)
        self._writer.start()

    async def close(self) -> None:
        """Waits for writes in flight and releases connections."""
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        for reader in self._readers:
            await reader.close()
        self._readers.clear()
        if self._writer_conn is not None:
            await self._writer_conn.close()
            self._writer_conn = None

    def _reader(self) -> aiosqlite.Connection:
        if not self._readers:
            raise _closed()
        return self._readers[next(self._next_reader) % len(self._readers)]

    def _write(self) -> Writer:
        if self._writer is None:
            raise _closed()
        return self._writer

    # Agents ---------------------------------------------------------------

    async def create_agent(self, agent: AgentRecord, request_id: str | None) -> AgentRecord:
        return await self._write().submit(
            lambda conn: sqlite_resources.create_agent(conn, agent, request_id)
        )

    async def get_agent(self, tenant: str, agent_id: str) -> AgentRecord | None:
        row = await fetch_one(
            self._reader(),
            f"SELECT {AGENT_COLUMNS} FROM agents WHERE tenant = ? AND agent_id = ?",
            (tenant, agent_id),
        )
        return agent_from_row(row) if row is not None else None

    async def get_agents(self, tenant: str, agent_ids: Sequence[str]) -> list[AgentRecord]:
        if not agent_ids:
            return []
        # One JSON parameter instead of a variable number of placeholders.
        rows = await fetch_all(
            self._reader(),
            f"""
            SELECT {AGENT_COLUMNS}
              FROM agents
             WHERE tenant = ? AND agent_id IN (SELECT value FROM json_each(?))
            """,
            (tenant, json.dumps(list(agent_ids))),
        )
        return [agent_from_row(row) for row in rows]

    async def list_agents(
        self, tenant: str, *, after: tuple[int, str] | None, limit: int
    ) -> list[AgentRecord]:
        rows = await fetch_all(self._reader(), *list_agents_sql(tenant, after, limit))
        return [agent_from_row(row) for row in rows]

    async def update_agent(self, agent: AgentRecord, *, expected_etag: str | None) -> AgentRecord:
        return await self._write().submit(
            lambda conn: sqlite_resources.update_agent(conn, agent, expected_etag)
        )

    async def delete_agent(
        self, tenant: str, agent_id: str, *, force: bool, expected_etag: str | None
    ) -> None:
        await self._write().submit(
            lambda conn: sqlite_resources.delete_agent(conn, tenant, agent_id, force, expected_etag)
        )

    # Sessions -------------------------------------------------------------

    async def create_session(self, session: SessionRecord, request_id: str | None) -> SessionRecord:
        return await self._write().submit(
            lambda conn: sqlite_resources.create_session(conn, session, request_id)
        )

    async def get_session(self, key: SessionKey) -> SessionRecord | None:
        row = await fetch_one(
            self._reader(),
            f"SELECT {SESSION_COLUMNS} FROM sessions AS s WHERE {SESSION_KEY_SQL}",
            key_params(key),
        )
        return session_from_row(row) if row is not None else None

    async def list_sessions(self, query: SessionQuery) -> list[SessionPageEntry]:
        sql, params = list_sessions_sql(query)
        rows = await fetch_all(self._reader(), sql, params)
        column = query.order.field
        return [
            SessionPageEntry(session_from_row(row), SessionCursor(value=row[column], row=row["pk"]))
            for row in rows
        ]

    async def update_session(
        self, session: SessionRecord, *, expected_etag: str | None
    ) -> SessionRecord:
        return await self._write().submit(
            lambda conn: sqlite_resources.update_session(conn, session, expected_etag)
        )

    async def delete_session(self, key: SessionKey, *, expected_etag: str | None) -> None:
        await self._write().submit(
            lambda conn: sqlite_resources.delete_session(conn, key, expected_etag)
        )

    async def delete_sessions(self, keys: Sequence[SessionKey]) -> None:
        batch = list(keys)
        await self._write().submit(lambda conn: sqlite_compaction.delete_sessions(conn, batch))

    # Items ----------------------------------------------------------------

    async def add_items(
        self, key: SessionKey, items: Sequence[NewItem], *, run_id: str = ""
    ) -> list[ItemRecord]:
        batch = list(items)  # the caller may change its list while the write waits
        return await self._write().submit(
            lambda conn: sqlite_history.add_items(conn, key, batch, run_id)
        )

    async def list_items(
        self,
        key: SessionKey,
        *,
        after_sequence: int = 0,
        newest_count: int = 0,
        limit: int | None = None,
    ) -> list[ItemRecord]:
        sql, params = list_items_sql(key, after_sequence, newest_count, limit)
        rows = await fetch_all(self._reader(), sql, params)
        if not rows:
            raise session_not_found(key)
        items = [item_from_row(row) for row in rows if row["sequence"] is not None]
        return items if limit is None else items[: max(limit, 0)]

    async def pop_item(self, key: SessionKey) -> ItemRecord | None:
        return await self._write().submit(lambda conn: sqlite_history.pop_item(conn, key))

    async def clear_items(self, key: SessionKey) -> int:
        return await self._write().submit(lambda conn: sqlite_history.clear_items(conn, key))

    async def compact_items(
        self,
        key: SessionKey,
        *,
        through_sequence: int,
        summary: NewItem | None,
        expected_item_count: int,
        usage: Usage | None = None,
    ) -> CompactedHistory:
        return await self._write().submit(
            lambda conn: sqlite_compaction.compact_items(
                conn, key, through_sequence, summary, expected_item_count, usage or Usage()
            )
        )

    # Runs -----------------------------------------------------------------

    async def start_run(self, run: RunRecord) -> RunRecord:
        return await self._write().submit(lambda conn: sqlite_history.start_run(conn, run))

    async def finish_run(self, run: RunRecord) -> SessionStats:
        return await self._write().submit(lambda conn: sqlite_history.finish_run(conn, run))

    async def get_run(self, key: SessionKey, run_id: str) -> RunRecord | None:
        row = await fetch_one(
            self._reader(),
            f"""
            SELECT {RUN_COLUMNS}
              FROM sessions AS s
              JOIN runs AS r ON r.session_pk = s.pk
             WHERE {SESSION_KEY_SQL} AND r.run_id = :run_id
            """,
            {**key_params(key), "run_id": run_id},
        )
        return run_from_row(key, row) if row is not None else None

    async def list_runs(
        self, key: SessionKey, *, after: tuple[int, str] | None, limit: int
    ) -> list[RunRecord]:
        rows = await fetch_all(self._reader(), *list_runs_sql(key, after, limit))
        return [run_from_row(key, row) for row in rows]
