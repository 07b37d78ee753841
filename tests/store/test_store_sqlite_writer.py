"""The SQLite writer: grouped commits, per-operation rollback, and a clean stop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from agentsessions.server.domain.errors import DomainError, Unavailable
from agentsessions.server.store.sqlite_writer import MAX_BATCH, Writer


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "w.db"


@pytest.fixture
def conn(db_file: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(
        str(db_file), isolation_level=None, timeout=0, check_same_thread=False
    )
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
async def writer(conn: sqlite3.Connection) -> AsyncIterator[Writer]:
    w = Writer(conn)
    w.start()
    try:
        yield w
    finally:
        await w.close()


def insert(n: int, *, then_fail: bool = False):  # type: ignore[no-untyped-def]
    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (n) VALUES (?)", (n,))
        if then_fail:
            raise DomainError(f"op {n} fails after writing")
        return n

    return op


async def stored(conn: sqlite3.Connection) -> list[int]:
    return [row[0] for row in conn.execute("SELECT n FROM t ORDER BY n")]


async def test_concurrent_writes_share_commits(writer: Writer, conn: sqlite3.Connection) -> None:
    results = await asyncio.gather(*(writer.submit(insert(n)) for n in range(200)))
    assert results == list(range(200))
    assert await stored(conn) == list(range(200))
    # All 200 were queued before the first commit: ceil(200 / MAX_BATCH) batches.
    assert writer.commits == -(-200 // MAX_BATCH)


async def test_a_failing_operation_rolls_back_alone(
    writer: Writer, conn: sqlite3.Connection
) -> None:
    results = await asyncio.gather(
        writer.submit(insert(1)),
        writer.submit(insert(2, then_fail=True)),
        writer.submit(insert(3)),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], DomainError)
    assert await stored(conn) == [1, 3]
    assert writer.commits == 1


async def test_an_sqlite_error_fails_only_its_operation(
    writer: Writer, conn: sqlite3.Connection
) -> None:
    await writer.submit(insert(1))
    results = await asyncio.gather(
        writer.submit(insert(1)), writer.submit(insert(2)), return_exceptions=True
    )
    assert isinstance(results[0], sqlite3.IntegrityError)
    assert results[1] == 2
    assert await stored(conn) == [1, 2]


async def test_close_finishes_queued_writes_then_refuses(
    writer: Writer, conn: sqlite3.Connection
) -> None:
    pending = [asyncio.ensure_future(writer.submit(insert(n))) for n in range(10)]
    await asyncio.sleep(0)  # every submit has queued its operation
    await writer.close()
    assert await asyncio.gather(*pending) == list(range(10))
    with pytest.raises(Unavailable):
        await writer.submit(insert(99))
    assert await stored(conn) == list(range(10))


async def test_a_lock_held_elsewhere_fails_the_batch_as_retryable(
    writer: Writer, conn: sqlite3.Connection, db_file: Path
) -> None:
    # The fixture's connection waits 0 s for a lock (timeout=0), so it fails at once.
    other = sqlite3.connect(db_file, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(Unavailable) as caught:
            await writer.submit(insert(1))
        assert caught.value.reason == "STORE_BUSY"
        other.execute("ROLLBACK")
        assert await writer.submit(insert(2)) == 2
    finally:
        other.close()
    assert await stored(conn) == [2]
