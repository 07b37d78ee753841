"""A full disk or a failing file through a real server: writes fail with STORAGE_FULL or
STORAGE_ERROR (never INTERNAL), reads keep working, nothing acknowledged is lost, and writes
work again once there is room.

The full disk is SQLite's page limit on the writer's connection (`PRAGMA max_page_count`),
which fails a write exactly as a full disk does (SQLITE_FULL) without needing one. The I/O
error is a real one: a server process whose file size limit (RLIMIT_FSIZE) is lowered while
it runs, so the kernel refuses to grow the database's files.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentsessions.server.store.sqlite import SQLiteStore
from agentsessions.v1 import events_pb2, session_pb2, session_service_pb2_grpc
from agentsessions.v1 import session_service_pb2 as ss
from grpc_health.v1 import health_pb2, health_pb2_grpc
from server_process import ServerProcess
from status_details import details_of

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("AGENTSESSIONS_TEST_ADDRESS")),
    reason="limits the storage of a server it starts",
)

Stub = session_service_pb2_grpc.SessionServiceStub
PAD = "x" * 16_000  # a few pages per item, so the files must grow
ATTEMPTS = 200  # writes tried before the limit must have been reached
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


class CappedStore(SQLiteStore):
    """The SQLite store with a page limit that a test sets and lifts."""

    async def limit_pages(self, extra: int | None) -> None:
        """Caps the database at its size now plus `extra` pages; None lifts the cap."""

        def apply(conn: sqlite3.Connection) -> None:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            limit = pages + extra if extra is not None else 2**31
            conn.execute(f"PRAGMA max_page_count = {limit}")

        await self._write().call(apply)


def batch(tag: str, size: int = 3) -> list[session_pb2.Item]:
    return [
        session_pb2.Item(item_json=json.dumps({"role": "user", "content": f"{tag}/{i} {PAD}"}))
        for i in range(size)
    ]


async def new_session(stub: Stub, session_id: str) -> str:
    created = await stub.CreateSession(
        ss.CreateSessionRequest(
            parent="agents/default",
            session_id=session_id,
            session=session_pb2.Session(display_name=session_id),
        )
    )
    return str(created.name)


async def all_texts(stub: Stub, parent: str) -> list[str]:
    texts: list[str] = []
    token = ""
    while True:
        page = await stub.ListItems(ss.ListItemsRequest(parent=parent, page_token=token))
        texts += [item.text.split(" ", 1)[0] for item in page.items]
        token = page.next_page_token
        if not token:
            return texts


async def write_until_refused(stub: Stub, parent: str, acked: list[str]) -> grpc.aio.AioRpcError:
    """AddItems of new batches until one fails; returns that failure."""
    for attempt in range(ATTEMPTS):
        items = batch(f"b{attempt}")
        try:
            await stub.AddItems(ss.AddItemsRequest(parent=parent, items=items), timeout=30)
        except grpc.aio.AioRpcError as error:
            return error
        acked += [f"b{attempt}/{i}" for i in range(len(items))]
    raise AssertionError(f"{ATTEMPTS} batches stored past the storage limit")


async def assert_reads_work(channel: grpc.aio.Channel, parent: str, acked: list[str]) -> None:
    stub = Stub(channel)
    session = await stub.GetSession(ss.GetSessionRequest(name=parent))
    assert session.stats.item_count == len(acked)
    assert await all_texts(stub, parent) == acked, "every acknowledged item, and no other"
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def integrity(db: Path) -> str:
    with closing(sqlite3.connect(str(db))) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


async def test_full_storage_refuses_writes_keeps_reads_and_recovers(
    server_factory: Callable[..., Any], tmp_path: Path
) -> None:
    db = tmp_path / "full.db"
    store = CappedStore(str(db))
    server = await server_factory(db=str(db), store=store)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = Stub(channel)
        parent = await new_session(stub, "full")
        acked: list[str] = []
        await stub.AddItems(ss.AddItemsRequest(parent=parent, items=batch("first")))
        acked += [f"first/{i}" for i in range(3)]
        await store.limit_pages(40)

        error = await write_until_refused(stub, parent, acked)
        details = details_of(error)
        assert (details.code, details.reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "STORAGE_FULL",
        ), details.message
        # Still full: a retry is refused the same way.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AddItems(ss.AddItemsRequest(parent=parent, items=batch("retry")))
        assert details_of(caught.value).reason == "STORAGE_FULL"
        await assert_reads_work(channel, parent, acked)

        await store.limit_pages(None)
        await stub.AddItems(ss.AddItemsRequest(parent=parent, items=batch("after")))
        acked += [f"after/{i}" for i in range(3)]
        await assert_reads_work(channel, parent, acked)
    assert integrity(db) == "ok"


def limit_file_size(pid: int, limit: int) -> None:
    """Lowers (or raises) the largest file `pid` may write, leaving its hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))


@pytest.mark.slow
async def test_io_errors_refuse_writes_keep_reads_and_recover(tmp_path: Path) -> None:
    """A real write error from the kernel (EFBIG past RLIMIT_FSIZE) is STORAGE_ERROR or
    STORAGE_FULL, depending on how much of the write the kernel took."""
    db = tmp_path / "io.db"
    with ServerProcess(db) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = Stub(channel)
            parent = await new_session(stub, "io")
            acked: list[str] = []
            await stub.AddItems(ss.AddItemsRequest(parent=parent, items=batch("first")))
            acked += [f"first/{i}" for i in range(3)]
            files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
            largest = max(path.stat().st_size for path in files if path.exists())
            limit_file_size(server.pid, largest + 64 * 1024)

            error = await write_until_refused(stub, parent, acked)
            details = details_of(error)
            assert details.code in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            ), details.message
            assert details.reason in ("STORAGE_ERROR", "STORAGE_FULL")
            await assert_reads_work(channel, parent, acked)

            limit_file_size(server.pid, resource.RLIM_INFINITY)
            await stub.AddItems(ss.AddItemsRequest(parent=parent, items=batch("after")))
            acked += [f"after/{i}" for i in range(3)]
            await assert_reads_work(channel, parent, acked)
        assert server.stop() == 0
    assert integrity(db) == "ok"
    # After a restart the same history is there: the failed writes left nothing behind.
    with ServerProcess(db) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            await assert_reads_work(channel, parent, acked)


async def test_a_turn_on_full_storage_ends_with_the_storage_error(
    server_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """SendMessage on a full store fails before its run starts, or its run ends run_failed
    with the storage's error (never INTERNAL, never a stream left waiting); once there is
    room the session takes a turn again."""
    db = tmp_path / "turn.db"
    store = CappedStore(str(db))
    server = await server_factory(db=str(db), store=store)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = Stub(channel)
        parent = await new_session(stub, "turn")
        # Full to within less than a batch: a run starts, and its later writes fail.
        await store.limit_pages(40)
        await write_until_refused(stub, parent, [])
        events: list[str] = []
        try:
            # A hang detector, not a timing assertion: a turn of the echo model takes
            # milliseconds, and one that never ends is the failure.
            async for event in stub.SendMessage(
                events_pb2.SendMessageRequest(session=parent, text=PAD), timeout=10
            ):
                events.append(str(event.WhichOneof("event")))
                if event.WhichOneof("event") == "run_failed":
                    error = event.run_failed.error
                    assert error.code in (UNAVAILABLE, RESOURCE_EXHAUSTED), error
        except grpc.aio.AioRpcError as error:
            assert error.code() != grpc.StatusCode.DEADLINE_EXCEEDED, f"stream hung: {events}"
            assert details_of(error).reason in ("STORAGE_FULL", "STORAGE_ERROR"), error
        else:
            assert events[-1] == "run_failed", events

        await store.limit_pages(None)
        replies = [
            event.WhichOneof("event")
            async for event in stub.SendMessage(
                events_pb2.SendMessageRequest(session=parent, text="again"), timeout=10
            )
        ]
        assert replies[-1] == "run_completed", replies
