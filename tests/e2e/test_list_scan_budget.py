"""Filtered lists examine a bounded number of rows per call, on readers of their own."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest
from agentsessions.server.domain import sessions as session_rules
from agentsessions.v1 import session_pb2, session_service_pb2_grpc
from agentsessions.v1 import session_service_pb2 as ss

SCAN_ROWS = 40
SESSION_COUNT = 300


@pytest.fixture
def small_scan_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_rules, "SCAN_ROWS", SCAN_ROWS)


async def create_sessions(sessions, count: int) -> list[str]:
    names = []
    for n in range(count):
        created = await sessions.CreateSession(
            ss.CreateSessionRequest(
                parent="agents/default",
                session=session_pb2.Session(
                    display_name=f"s{n}", labels={"team": "red" if n % 7 == 0 else "blue"}
                ),
            )
        )
        names.append(created.name)
    return names


async def walk(sessions, filter_text: str, page_size: int = 0) -> tuple[list[str], int]:
    """Every session the filter lists, and how many calls it took."""
    listed: list[str] = []
    token = ""
    calls = 0
    while True:
        page = await sessions.ListSessions(
            ss.ListSessionsRequest(
                parent="agents/-", filter=filter_text, page_size=page_size, page_token=token
            )
        )
        calls += 1
        listed += [s.name for s in page.sessions]
        token = page.next_page_token
        if not token:
            return listed, calls


async def test_a_filter_that_matches_nothing_returns_a_token_per_budget(
    sessions, small_scan_budget: None
) -> None:
    await create_sessions(sessions, SESSION_COUNT)

    first = await sessions.ListSessions(
        ss.ListSessionsRequest(parent="agents/-", filter='labels.team = "green"')
    )
    assert list(first.sessions) == []
    assert first.next_page_token  # it stopped after its budget instead of walking them all

    listed, calls = await walk(sessions, 'labels.team = "green"')
    assert listed == []
    # One call per budget of rows (the last one finds fewer than a budget left).
    assert calls == SESSION_COUNT // SCAN_ROWS + 1


async def test_a_sparse_filter_lists_every_match_once_in_order(
    sessions, small_scan_budget: None
) -> None:
    names = await create_sessions(sessions, SESSION_COUNT)
    red = [name for n, name in enumerate(names) if n % 7 == 0]

    for page_size in (0, 3):
        listed, calls = await walk(sessions, 'labels.team = "red"', page_size)
        assert listed == red[::-1]  # newest activity first
        assert calls > SESSION_COUNT // SCAN_ROWS

    # A filter that matches every row fills its pages before its budget ends.
    listed, calls = await walk(sessions, 'display_name : "s"', 30)
    assert listed == names[::-1]
    assert calls == SESSION_COUNT // 30


async def test_history_reads_are_served_while_every_scan_reader_is_busy(
    server_factory, small_scan_budget: None
) -> None:
    server = await server_factory()
    # Scans are held inside the scan threads until released: ListItems must still answer.
    readers = server.store._readers
    original = readers.run_scan
    entered = threading.Semaphore(0)
    release = threading.Event()

    async def held(fn):
        def run(conn):
            entered.release()
            release.wait(30)
            return fn(conn)

        return await original(run)

    readers.run_scan = held
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        sessions = session_service_pb2_grpc.SessionServiceStub(channel)
        (parent,) = await create_sessions(sessions, 1)
        await sessions.AddItems(
            ss.AddItemsRequest(
                parent=parent, items=[session_pb2.Item(item_json='{"role":"user","content":"hi"}')]
            )
        )
        scans = [asyncio.ensure_future(walk(sessions, 'labels.team = "green"')) for _ in range(4)]
        try:
            assert await asyncio.to_thread(entered.acquire, True, 30)
            for _ in range(20):
                page = await asyncio.wait_for(
                    sessions.ListItems(ss.ListItemsRequest(parent=parent)), 30
                )
                assert [i.text for i in page.items] == ["hi"]
            assert not any(scan.done() for scan in scans)
        finally:
            release.set()
        for listed, _ in await asyncio.gather(*scans):
            assert listed == []
