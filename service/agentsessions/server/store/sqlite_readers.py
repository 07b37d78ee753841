"""Reader connections: plain `sqlite3` connections, each owned by one thread of a small pool.

A read is one synchronous function (the query and the conversion of its rows
to records) run on a reader thread: one hand-off to that thread and back per
read, where an async driver pays one per statement step (execute, fetch,
close). WAL lets these connections read beside the writer.
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

    def __init__(self, path: str, *, count: int, cache_kib: int) -> None:
        self._path = path
        self._cache_kib = cache_kib
        self._count = max(count, 1)
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def open(self) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=self._count,
            thread_name_prefix="sqlite-reader",
            initializer=self._connect,
        )

    def _connect(self) -> None:
        # isolation_level=None: every read is a single statement, its own snapshot.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        configure(conn, writer=False, cache_kib=self._cache_kib)
        self._local.conn = conn
        with self._lock:
            self._opened.append(conn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection = self._local.conn
        return fn(conn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `fn` on a reader thread with that thread's connection."""
        if self._pool is None:
            raise Unavailable("the store is not open", reason="STORE_CLOSED")
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn)

    def close(self) -> None:
        """Waits for reads in flight, then closes every connection (blocking; call in a thread)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
