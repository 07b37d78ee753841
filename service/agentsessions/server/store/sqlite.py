"""SQLiteStore: the default `Store`, one database file through the standard `sqlite3` module.

Writes go through one writer connection on its own thread (sqlite_writer.Writer)
that groups concurrent writes into few commits, one hand-off per batch; reads
use a few reader connections on their own threads (sqlite_readers.Readers),
one hand-off per read, which WAL lets run beside the writer. Every read is a
single statement, so it sees one consistent snapshot without an explicit
transaction. aiosqlite is not used: it hands every statement step to its
thread and back, and those hand-offs cost more CPU than the statements.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ..domain.errors import Unavailable
from ..domain.models import (
    AgentRecord,
    ApprovalDecision,
    CancelMode,
    CompactedHistory,
    EventPage,
    FinishedRun,
    ItemRecord,
    Lease,
    LoggedEvent,
    NewItem,
    Promoted,
    Resumed,
    RunRecord,
    RunStart,
    RunState,
    SessionKey,
    SessionRecord,
    Usage,
)
from ..domain.paging import agent_bytes
from . import (
    sqlite_approvals,
    sqlite_compaction,
    sqlite_events,
    sqlite_history,
    sqlite_queue,
    sqlite_reads,
    sqlite_resources,
    sqlite_runs,
)
from .base import (
    AddedItems,
    ItemEventsEncoder,
    ItemsRequest,
    QueuedEncoder,
    RunCursor,
    RunPageEntry,
    RunQuery,
    RunScan,
    SessionPageEntry,
    SessionQuery,
    SessionScan,
    TerminalEncoder,
)
from .sqlite_errors import StorageLog, storage_error
from .sqlite_queries import (
    SESSION_KEY_SQL,
    key_params,
    list_agents_sql,
)
from .sqlite_readers import Readers
from .sqlite_rows import (
    AGENT_COLUMNS,
    RUN_COLUMNS,
    SESSION_COLUMNS,
    agent_from_row,
    run_from_row,
    session_from_row,
)
from .sqlite_schema import configure, migrate
from .sqlite_writer import Writer

T = TypeVar("T")


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
        self._writer_conn: sqlite3.Connection | None = None
        self._writer: Writer | None = None
        self._readers: Readers | None = None
        self._read_log = StorageLog("reads")

    async def open(self) -> None:
        """Connects and migrates the schema to the current version."""
        # isolation_level=None: the writer issues BEGIN/COMMIT itself. The connection
        # lives on the writer's thread, so it is opened and set up there.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        writer = Writer(conn)

        def setup(conn: sqlite3.Connection) -> None:
            configure(conn, writer=True, cache_kib=self._cache_kib)
            migrate(conn)

        try:
            await writer.call(setup)
        except BaseException:
            await writer.close()
            conn.close()
            raise
        readers = Readers(self.path, count=self._reader_count, cache_kib=self._cache_kib)
        readers.open()
        self._writer_conn = conn
        self._writer = writer
        self._readers = readers
        writer.start()

    async def close(self) -> None:
        """Waits for writes in flight and releases connections."""
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        readers, self._readers = self._readers, None
        conn, self._writer_conn = self._writer_conn, None

        def release() -> None:
            if readers is not None:
                readers.close()
            if conn is not None:
                conn.close()

        await asyncio.to_thread(release)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._readers is None:
            raise _closed()
        return await self._storage_errors(self._readers.run(fn))

    async def _scan(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A list scan, on threads of its own (see sqlite_readers)."""
        if self._readers is None:
            raise _closed()
        return await self._storage_errors(self._readers.run_scan(fn))

    async def _read_point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read of one row by its key (see sqlite_readers.Readers.run_point)."""
        if self._readers is None:
            raise _closed()
        return await self._storage_errors(self._readers.run_point(fn))

    async def _storage_errors(self, read: Awaitable[T]) -> T:
        """`read`'s result; an I/O error or a damaged file is STORAGE_ERROR, not INTERNAL."""
        try:
            result = await read
        except sqlite3.Error as exc:
            error = storage_error(exc)
            if error is None:
                raise
            self._read_log.failed(exc, error)
            raise error from exc
        self._read_log.succeeded()
        return result

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
        return await self._read_point(
            sqlite_reads.one(
                f"SELECT {AGENT_COLUMNS} FROM agents WHERE tenant = ? AND agent_id = ?",
                (tenant, agent_id),
                agent_from_row,
            )
        )

    async def get_agents(self, tenant: str, agent_ids: Sequence[str]) -> list[AgentRecord]:
        if not agent_ids:
            return []
        # One JSON parameter instead of a variable number of placeholders.
        return await self._read(
            sqlite_reads.every(
                f"""
                SELECT {AGENT_COLUMNS}
                  FROM agents
                 WHERE tenant = ? AND agent_id IN (SELECT value FROM json_each(?))
                """,
                (tenant, json.dumps(list(agent_ids))),
                agent_from_row,
            )
        )

    async def list_agents(
        self,
        tenant: str,
        *,
        after: tuple[int, str] | None,
        limit: int,
        max_bytes: int | None = None,
    ) -> list[AgentRecord]:
        return await self._read(
            sqlite_reads.page(
                *list_agents_sql(tenant, after, limit),
                agent_from_row,
                limit=limit,
                max_bytes=max_bytes,
                size_of=agent_bytes,
            )
        )

    async def update_agent(
        self, tenant: str, agent_id: str, change: Callable[[AgentRecord], AgentRecord]
    ) -> AgentRecord | None:
        return await self._write().submit(
            lambda conn: sqlite_resources.update_agent(conn, tenant, agent_id, change)
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
        return await self._read_point(
            sqlite_reads.one(
                f"SELECT {SESSION_COLUMNS} FROM sessions AS s WHERE {SESSION_KEY_SQL}",
                key_params(key),
                session_from_row,
            )
        )

    async def list_sessions(self, query: SessionQuery) -> list[SessionPageEntry]:
        return await self._scan(sqlite_reads.session_page(query))

    async def scan_sessions(self, query: SessionQuery, rows: int) -> SessionScan:
        return await self._scan(sqlite_reads.session_scan(query, rows))

    async def update_session(
        self, key: SessionKey, change: Callable[[SessionRecord], SessionRecord]
    ) -> SessionRecord | None:
        return await self._write().submit(
            lambda conn: sqlite_resources.update_session(conn, key, change)
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
        self,
        key: SessionKey,
        items: Sequence[NewItem],
        *,
        run_id: str = "",
        fence: Lease | None = None,
    ) -> list[ItemRecord]:
        batch = list(items)  # the caller may change its list while the write waits
        return await self._write().submit(
            lambda conn: sqlite_history.add_items(conn, key, batch, run_id, fence)
        )

    async def add_items_once(
        self, key: SessionKey, items: Sequence[NewItem], request: ItemsRequest
    ) -> AddedItems:
        batch = list(items)
        return await self._write().submit(
            lambda conn: sqlite_history.add_items_once(conn, key, batch, request)
        )

    async def list_items(
        self,
        key: SessionKey,
        *,
        after_sequence: int = 0,
        newest_count: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> list[ItemRecord]:
        return await self._read(
            sqlite_reads.items_page(key, after_sequence, newest_count, limit, max_bytes)
        )

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
        expected_history_version: int,
        usage: Usage | None = None,
    ) -> CompactedHistory:
        return await self._write().submit(
            lambda conn: sqlite_compaction.compact_items(
                conn, key, through_sequence, summary, expected_history_version, usage or Usage()
            )
        )

    async def get_history_version(self, key: SessionKey) -> int | None:
        return await self._read_point(
            sqlite_reads.one(
                f"SELECT history_version FROM sessions AS s WHERE {SESSION_KEY_SQL}",
                key_params(key),
                lambda row: int(row["history_version"]),
            )
        )

    # Runs -----------------------------------------------------------------

    async def start_run(self, run: RunRecord, *, lease_expire_time_us: int) -> RunStart:
        # Relaxed: the caller hears of the run only through its events, after its input items
        # are stored by a synced commit, which syncs this one with it.
        return await self._write().submit(
            lambda conn: sqlite_runs.start_run(conn, run, lease_expire_time_us), relaxed=True
        )

    async def finish_run(
        self,
        run: RunRecord,
        *,
        lease: Lease,
        terminal: TerminalEncoder,
        events: Sequence[LoggedEvent] = (),
        items: Sequence[NewItem] = (),
    ) -> FinishedRun:
        batch, stored = list(events), list(items)
        return await self._write().submit(
            lambda conn: sqlite_runs.finish_run(conn, run, lease, terminal, batch, stored)
        )

    async def get_lease(self, key: SessionKey) -> Lease | None:
        return await self._read_point(lambda conn: sqlite_runs.get_lease(conn, key))

    async def pause_run(
        self, run: RunRecord, *, lease: Lease, run_state: bytes, events: Sequence[LoggedEvent]
    ) -> RunRecord:
        batch = list(events)
        return await self._write().submit(
            lambda conn: sqlite_approvals.pause_run(conn, run, lease, run_state, batch)
        )

    async def decide_approvals(
        self,
        key: SessionKey,
        run_id: str,
        decisions: Sequence[ApprovalDecision],
        *,
        request_id: str,
        decided_by: str,
        owner: str,
        lease_expire_time_us: int,
    ) -> Resumed:
        return await self._write().submit(
            lambda conn: sqlite_approvals.decide(
                conn,
                key,
                run_id,
                list(decisions),
                request_id=request_id,
                decided_by=decided_by,
                owner=owner,
                lease_expire_time_us=lease_expire_time_us,
            )
        )

    async def get_run(self, key: SessionKey, run_id: str) -> RunRecord | None:
        read_run = sqlite_reads.one(
            f"""
            SELECT {RUN_COLUMNS}
              FROM sessions AS s
              JOIN runs AS r ON r.session_pk = s.pk
             WHERE {SESSION_KEY_SQL} AND r.run_id = :run_id
            """,
            {**key_params(key), "run_id": run_id},
            lambda row: run_from_row(key, row),
        )

        def read(conn: sqlite3.Connection) -> RunRecord | None:
            run = read_run(conn)
            if run is None or run.state != RunState.QUEUED:
                return run
            position = sqlite_queue.queue_position(conn, key, run_id)
            return dataclasses.replace(run, queue_position=position)

        return await self._read_point(read)

    async def enqueue_run(
        self,
        run: RunRecord,
        queued_input: str,
        *,
        max_queued: int,
        lease_expire_time_us: int,
        announce: QueuedEncoder,
    ) -> RunStart:
        return await self._write().submit(
            lambda conn: sqlite_queue.enqueue_run(
                conn,
                run,
                queued_input,
                max_queued=max_queued,
                lease_expire_time_us=lease_expire_time_us,
                announce=announce,
            )
        )

    async def promote_next(
        self, key: SessionKey, *, owner: str, lease_expire_time_us: int
    ) -> Promoted | None:
        return await self._write().submit(
            lambda conn: sqlite_queue.promote_next(conn, key, owner, lease_expire_time_us)
        )

    async def cancel_queued(
        self,
        key: SessionKey,
        run_id: str,
        *,
        reason: str,
        events_expire_time_us: int,
        terminal: TerminalEncoder,
    ) -> RunRecord | None:
        return await self._write().submit(
            lambda conn: sqlite_queue.cancel_queued(
                conn, key, run_id, reason, events_expire_time_us, terminal
            )
        )

    async def queued_sessions(self, *, limit: int) -> list[SessionKey]:
        return await self._read(lambda conn: sqlite_queue.queued_sessions(conn, limit))

    async def list_runs(
        self,
        key: SessionKey,
        *,
        after: tuple[int, str] | None,
        limit: int,
        max_bytes: int | None = None,
    ) -> list[RunRecord]:
        # Within one session the cursor's session row plays no part.
        query = RunQuery(
            key.tenant,
            key.agent_id,
            key.session_id,
            after=None if after is None else RunCursor(after[0], after[1], 0),
            limit=limit,
            max_bytes=max_bytes,
        )
        return [entry.run for entry in await self.find_runs(query)]

    async def find_runs(self, query: RunQuery) -> list[RunPageEntry]:
        return await self._read(sqlite_reads.run_page(query))

    async def scan_runs(self, query: RunQuery, rows: int) -> RunScan:
        return await self._scan(sqlite_reads.run_scan(query, rows))

    async def request_cancel(
        self, key: SessionKey, run_id: str, mode: CancelMode, reason: str
    ) -> RunRecord | None:
        return await self._write().submit(
            lambda conn: sqlite_runs.request_cancel(conn, key, run_id, int(mode), reason)
        )

    async def cancel_requests(self, owner: str) -> list[RunRecord]:
        return await self._read(lambda conn: sqlite_runs.cancel_requests(conn, owner))

    # Leases ---------------------------------------------------------------

    async def acquire_lease(
        self, key: SessionKey, *, owner: str, expire_time_us: int
    ) -> tuple[Lease | None, Lease | None]:
        return await self._write().submit(
            lambda conn: sqlite_runs.acquire_lease(conn, key, owner, expire_time_us)
        )

    async def release_lease(self, lease: Lease) -> bool:
        return await self._write().submit(lambda conn: sqlite_runs.release_lease(conn, lease))

    async def renew_leases(self, owner: str, expire_time_us: int) -> int:
        return await self._write().submit(
            lambda conn: sqlite_runs.renew_leases(conn, owner, expire_time_us)
        )

    async def list_leases(self, *, limit: int) -> list[Lease]:
        return await self._read(lambda conn: sqlite_runs.list_leases(conn, limit))

    # Run events -----------------------------------------------------------

    async def append_run_events(self, lease: Lease, events: Sequence[LoggedEvent]) -> None:
        batch = list(events)
        # Relaxed: a power loss may drop a running run's newest events, never silently (a
        # resume past them is OUT_OF_RANGE); the run's items and end are fully synced.
        await self._write().submit(
            lambda conn: sqlite_events.append_events(conn, lease, batch), relaxed=True
        )

    async def add_run_items(
        self,
        lease: Lease,
        items: Sequence[NewItem],
        *,
        pending: Sequence[LoggedEvent],
        encode: ItemEventsEncoder,
    ) -> tuple[list[ItemRecord], list[LoggedEvent]]:
        batch = list(items)
        return await self._write().submit(
            lambda conn: sqlite_events.add_items_with_events(conn, lease, batch, pending, encode)
        )

    async def read_run_events(
        self, key: SessionKey, run_id: str, *, after_sequence: int, limit: int, max_bytes: int
    ) -> EventPage | None:
        return await self._read(
            lambda conn: sqlite_events.read_events(
                conn, key, run_id, after_sequence, limit, max_bytes
            )
        )

    async def expire_run_events(self, now_us: int, *, runs: int, events: int) -> int:
        return await self._write().submit(
            lambda conn: sqlite_events.expire_events(conn, now_us, runs, events)
        )

    def data_version(self) -> int:
        if self._readers is None:
            raise _closed()
        return self._readers.data_version()
