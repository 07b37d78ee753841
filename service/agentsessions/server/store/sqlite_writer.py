"""The single SQLite writer: a queue of write operations grouped into few commits.

SQLite allows one writer at a time, so every write goes through one plain
`sqlite3` connection owned by one thread (a single-thread executor), fed by
one task. Operations that queue up while a commit is in flight run together
in the next transaction, each inside its own SAVEPOINT: an operation that
fails rolls back alone, and the batch pays for one fsync. Operations are
synchronous functions over the connection, and the whole batch (BEGIN
IMMEDIATE, every operation in its SAVEPOINT, COMMIT) is one call on the
writer's thread: one hand-off per batch, where an async driver such as
aiosqlite would pay a hand-off for every statement.
A result is handed back only after COMMIT returned, so an acknowledged write
is durable; a caller that is cancelled still waits for its write to settle,
so it never leaves a partial batch behind.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..domain.errors import Unavailable
from .sqlite_errors import StorageLog, storage_error

T = TypeVar("T")
WriteOp = Callable[[sqlite3.Connection], T]
Outcome = tuple[bool, Any]  # (succeeded, result or exception)

_log = logging.getLogger(__name__)

# Bounds how long one transaction holds the write lock.
MAX_BATCH = 64


class _Pending:
    __slots__ = ("future", "op", "relaxed")

    def __init__(self, op: WriteOp[Any], future: asyncio.Future[Any], relaxed: bool) -> None:
        self.op = op
        self.future = future
        self.relaxed = relaxed


class Writer:
    """Runs write operations on `conn`, one transaction per batch, on the writer's thread.

    `conn` must allow use from another thread (`check_same_thread=False`) and be in
    autocommit mode (`isolation_level=None`): the writer issues BEGIN and COMMIT itself.
    The caller keeps ownership of `conn` and closes it after `close()`.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.commits = 0  # transactions committed, for tests and metrics
        self._storage_log = StorageLog("writes")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sqlite-writer")

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `fn(conn)` on the writer's thread outside any batch (setup, migrations)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, self._conn)

    async def submit(self, op: WriteOp[T], *, relaxed: bool = False) -> T:
        """Runs `op` in a write transaction and returns its result once committed.

        A `relaxed` write survives a crash of the process but not a power loss until the next
        write that is not relaxed (its commit syncs the log, earlier frames included): for
        data whose loss a reader detects, such as a running run's newest events. A batch of
        relaxed writes only commits without syncing the log.
        """
        if self._closing or self._task is None or self._task.done():
            raise Unavailable("the store is closed", reason="STORE_CLOSED")
        future = _Settling(loop=asyncio.get_running_loop())
        self._queue.put_nowait(_Pending(op, future, relaxed))
        result: T = await future
        return result

    async def close(self) -> None:
        """Finishes every queued operation, then stops."""
        self._closing = True
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None
        self._thread.shutdown(wait=False)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[_Pending] = []
        try:
            stopping = False
            while not stopping:
                first = await self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < MAX_BATCH and not self._queue.empty():
                    following = self._queue.get_nowait()
                    if following is None:
                        stopping = True
                        break
                    batch.append(following)
                ops = [pending.op for pending in batch]
                relaxed = all(pending.relaxed for pending in batch)
                try:
                    outcomes = await loop.run_in_executor(
                        self._thread, _commit, self._conn, ops, relaxed
                    )
                except Exception as exc:
                    # A full disk or an I/O error fails every write of the batch with a
                    # domain error; the store keeps serving, and reads are unaffected.
                    error = storage_error(exc)
                    if error is None:
                        _log.exception("sqlite write batch failed")
                    else:
                        self._storage_log.failed(exc, error)
                    for pending in batch:
                        _fail(pending.future, error or exc)
                    continue
                self.commits += 1
                self._storage_log.succeeded()
                for pending, (ok, value) in zip(batch, outcomes, strict=True):
                    if not ok:
                        _fail(pending.future, value)
                    elif not pending.future.done():
                        pending.future.set_result(value)
            batch = []
        finally:
            # Empty after a normal stop; if this task is cancelled, nothing may wait forever.
            self._closing = True
            closed = Unavailable("the store is closed", reason="STORE_CLOSED")
            while not self._queue.empty():
                queued = self._queue.get_nowait()
                if queued is not None:
                    batch.append(queued)
            for pending in batch:
                _fail(pending.future, closed)


def _commit(
    conn: sqlite3.Connection, ops: list[WriteOp[Any]], relaxed: bool = False
) -> list[Outcome]:
    """One transaction for `ops`, each in its own SAVEPOINT; runs on the writer's thread."""
    if relaxed:
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: no sync at this commit
    try:
        return _transaction(conn, ops)
    finally:
        if relaxed:
            conn.execute("PRAGMA synchronous = FULL")


def _transaction(conn: sqlite3.Connection, ops: list[WriteOp[Any]]) -> list[Outcome]:
    # Fails when another process held the write lock beyond busy_timeout (STORE_BUSY, worth
    # a retry) or the file cannot be written: _run turns either into its domain error.
    conn.execute("BEGIN IMMEDIATE")
    try:
        outcomes: list[Outcome] = []
        for op in ops:
            conn.execute("SAVEPOINT op")
            try:
                result = op(conn)
            except Exception as exc:
                if not conn.in_transaction:
                    # SQLite ended the transaction itself (I/O error, disk
                    # full): the writes of earlier operations are gone too.
                    raise
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                outcomes.append((False, storage_error(exc) or exc))
            else:
                conn.execute("RELEASE op")
                outcomes.append((True, result))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except Exception:
                _log.exception("sqlite rollback failed")
        raise
    return outcomes


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
        # Mark it retrieved: a cancelled caller never reads it, and asyncio would log it.
        future.exception()


class _Settling(asyncio.Future[Any]):
    """A write's outcome, which its caller cannot cancel.

    The awaiting task's `cancel()` finds the future refusing and marks the task
    instead, so the task wakes once the write settled and then raises
    CancelledError: the caller waits for its write without the cost of
    `asyncio.wait` or `shield` on every call.
    """

    def cancel(self, msg: Any | None = None) -> bool:
        return False
