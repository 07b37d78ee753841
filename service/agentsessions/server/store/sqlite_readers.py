"""Reader connections: plain `sqlite3` connections, on two small thread pools and on the loop.

A read is one synchronous function (the query and the conversion of its rows
to records). Most run on a reader thread: one hand-off to that thread and
back per read, where an async driver pays one per statement step (execute,
fetch, close). List scans (a filtered ListSessions walks up to its scan
budget of rows) run on threads of their own (`run_scan`), so however many
callers scan at once, they queue behind each other and never take the
threads that serve histories, which every agent turn reads.

A point read (one row by its key, a few pages) costs less than
that hand-off, so `run_point` runs it on the event loop's own connection,
which never waits for a lock: if SQLite reports one busy (WAL recovery, a
checkpoint restarting the log), the read goes to a reader thread instead,
where it may wait. WAL lets every reader run beside the writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..domain.errors import Unavailable
from .sqlite_schema import configure

T = TypeVar("T")


class Readers:
    """`count` reader threads over the database at `path`, each with its own connection."""

    def __init__(self, path: str, *, count: int, cache_kib: int, scan_count: int = 1) -> None:
        self._path = path
        self._cache_kib = cache_kib
        self._count = max(count, 1)
        self._scan_count = max(scan_count, 1)
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._scan_pool: ThreadPoolExecutor | None = None
        self._inline: sqlite3.Connection | None = None

    def open(self) -> None:
        inline = self._open_connection()
        # Never wait for a lock on the event loop's thread (see the module docstring).
        inline.execute("PRAGMA busy_timeout = 0")
        self._inline = inline
        self._pool = ThreadPoolExecutor(
            max_workers=self._count,
            thread_name_prefix="sqlite-reader",
            initializer=self._connect,
        )
        self._scan_pool = ThreadPoolExecutor(
            max_workers=self._scan_count,
            thread_name_prefix="sqlite-scan",
            initializer=self._connect,
        )

    def _open_connection(self) -> sqlite3.Connection:
        # isolation_level=None: every read is a single statement, its own snapshot.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        configure(conn, writer=False, cache_kib=self._cache_kib)
        with self._lock:
            self._opened.append(conn)
        return conn

    def _connect(self) -> None:
        self._local.conn = self._open_connection()

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection = self._local.conn
        return fn(conn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `fn` on a reader thread with that thread's connection."""
        if self._pool is None:
            raise Unavailable("the store is not open", reason="STORE_CLOSED")
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn)

    async def run_scan(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `fn`, a list scan, on a scan thread (see the module docstring)."""
        if self._scan_pool is None:
            raise Unavailable("the store is not open", reason="STORE_CLOSED")
        return await asyncio.get_running_loop().run_in_executor(self._scan_pool, self._call, fn)

    async def run_point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `fn`, a read of a few pages, on the event loop's connection when it can."""
        if self._inline is None:
            raise Unavailable("the store is not open", reason="STORE_CLOSED")
        try:
            return fn(self._inline)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
        return await self.run(fn)

    def data_version(self) -> int:
        """SQLite's data_version on the loop's connection: it changes when another
        connection (the writer, another process) commits. Reads shared memory only."""
        if self._inline is None:
            raise Unavailable("the store is not open", reason="STORE_CLOSED")
        value: int = self._inline.execute("PRAGMA data_version").fetchone()[0]
        return value

    def close(self) -> None:
        """Waits for reads in flight, then closes every connection (blocking; call in a thread)."""
        pools = [self._pool, self._scan_pool]
        self._pool = self._scan_pool = None
        self._inline = None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True)
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
