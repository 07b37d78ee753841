"""Storage failures in the SQLite store become domain errors: a full disk STORAGE_FULL
(RESOURCE_EXHAUSTED), an I/O error or a read-only file STORAGE_ERROR (UNAVAILABLE), each
logged when it starts and when it ends; other SQLite errors stay faults of the service."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from agentsessions.server.domain.errors import ResourceExhausted, Unavailable
from agentsessions.server.store.sqlite_errors import storage_error
from agentsessions.server.store.sqlite_writer import Writer

BLOB = 8192  # two pages of 4 KiB: every insert needs new pages


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "w.db"


@pytest.fixture
def conn(db_file: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(str(db_file), isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, body BLOB)")
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


def insert(n: int):  # type: ignore[no-untyped-def]
    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (n, body) VALUES (?, zeroblob(?))", (n, BLOB))
        return n

    return op


def stored(db_file: Path) -> list[int]:
    with sqlite3.connect(str(db_file)) as reader:
        return [row[0] for row in reader.execute("SELECT n FROM t ORDER BY n")]


async def limit_pages(writer: Writer, extra: int | None) -> None:
    """Caps the database at its size now plus `extra` pages; None lifts the cap."""

    def apply(conn: sqlite3.Connection) -> None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + extra if extra is not None else 2**31}")

    await writer.call(apply)


async def test_a_full_database_fails_writes_with_storage_full_then_recovers(
    writer: Writer, db_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert await writer.submit(insert(1)) == 1
    await limit_pages(writer, 0)
    caplog.set_level(logging.WARNING, logger="agentsessions.store")
    for n in range(2, 6):
        with pytest.raises(ResourceExhausted) as caught:
            await writer.submit(insert(n))
        assert caught.value.reason == "STORAGE_FULL"
    failing = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failing) == 1, "one line when the failures start, not one per write"
    assert "STORAGE_FULL" in failing[0].getMessage()

    await limit_pages(writer, None)
    assert await writer.submit(insert(6)) == 6
    recovered = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(recovered) == 1 and "after 4 failures" in recovered[0].getMessage()
    assert stored(db_file) == [1, 6]


async def test_a_batch_that_fills_the_database_fails_whole(writer: Writer, db_file: Path) -> None:
    """SQLite rolls the whole transaction back on SQLITE_FULL: every write of the batch
    fails with STORAGE_FULL, none is acknowledged, and none of it is stored."""
    await writer.submit(insert(0))
    await limit_pages(writer, 5)  # room for two inserts, not for the whole batch

    results = await asyncio.gather(
        *(writer.submit(insert(n)) for n in range(1, 9)), return_exceptions=True
    )
    acknowledged = [r for r in results if isinstance(r, int)]
    failed = [r for r in results if not isinstance(r, int)]
    assert failed and all(
        isinstance(e, ResourceExhausted) and e.reason == "STORAGE_FULL" for e in failed
    )
    assert stored(db_file) == [0, *acknowledged]


async def test_a_read_only_file_fails_writes_with_storage_error(db_file: Path) -> None:
    setup = sqlite3.connect(str(db_file), isolation_level=None)
    setup.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, body BLOB)")
    setup.close()
    read_only = sqlite3.connect(
        f"file:{db_file}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )
    writer = Writer(read_only)
    writer.start()
    try:
        with pytest.raises(Unavailable) as caught:
            await writer.submit(insert(1))
        assert caught.value.reason == "STORAGE_ERROR"
    finally:
        await writer.close()
        read_only.close()


async def test_other_sqlite_errors_are_not_storage_errors(writer: Writer) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO missing VALUES (1)")

    with pytest.raises(sqlite3.OperationalError):
        await writer.submit(broken)
    assert await writer.submit(insert(1)) == 1


@pytest.mark.parametrize(
    ("code", "kind", "reason"),
    [
        (sqlite3.SQLITE_FULL, ResourceExhausted, "STORAGE_FULL"),
        (sqlite3.SQLITE_IOERR, Unavailable, "STORAGE_ERROR"),
        (sqlite3.SQLITE_IOERR | (4 << 8), Unavailable, "STORAGE_ERROR"),  # SQLITE_IOERR_FSYNC
        (sqlite3.SQLITE_READONLY, Unavailable, "STORAGE_ERROR"),
        (sqlite3.SQLITE_CORRUPT, Unavailable, "STORAGE_ERROR"),
        (sqlite3.SQLITE_BUSY, Unavailable, "STORE_BUSY"),
    ],
)
def test_result_codes(code: int, kind: type[Exception], reason: str) -> None:
    exc = sqlite3.OperationalError("from sqlite")
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    error = storage_error(exc)
    assert isinstance(error, kind) and error.reason == reason


def test_errors_that_are_not_storage_failures_stay_as_they_are() -> None:
    constraint = sqlite3.IntegrityError("UNIQUE constraint failed")
    constraint.sqlite_errorcode = sqlite3.SQLITE_CONSTRAINT  # type: ignore[attr-defined]
    assert storage_error(constraint) is None
    assert storage_error(ValueError("x")) is None
    assert storage_error(sqlite3.OperationalError("no code")) is None
