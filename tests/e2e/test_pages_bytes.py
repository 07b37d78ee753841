"""Pages bounded by bytes as well as count: short pages with a token, one large item alone."""

from __future__ import annotations

import json
import tracemalloc

import grpc
from agentsessions.server.domain.models import NewItem
from agentsessions.server.domain.names import session_key
from agentsessions.server.domain.paging import PAGE_BYTES
from agentsessions.v1 import agent_pb2, session_pb2, session_service_pb2_grpc
from agentsessions.v1 import session_service_pb2 as ss

# What a reply may carry beyond PAGE_BYTES: the estimate is per entry, the proto adds tags.
SLACK = 64 * 1024
ONE_MIB = 1024 * 1024


async def new_session(sessions, **fields) -> str:
    created = await sessions.CreateSession(
        ss.CreateSessionRequest(
            parent="agents/default", session=session_pb2.Session(display_name="h", **fields)
        )
    )
    return created.name


def content(n: int, size: int) -> str:
    return f"{n:06d}" + "x" * (size - 64)


def message(n: int, size: int) -> session_pb2.Item:
    # A message's text comes back twice: in its JSON and as `text`.
    body = {"role": "user", "content": content(n, size)}
    return session_pb2.Item(item_json=json.dumps(body))


def stored_message(n: int, size: int) -> NewItem:
    text = content(n, size)
    body = json.dumps({"role": "user", "content": text})
    return NewItem(item_json=body, type="message", role="user", text=text)


async def pages_of(sessions, parent: str, token: str = "", **fields) -> list[ss.ListItemsResponse]:
    pages = []
    while True:
        page = await sessions.ListItems(
            ss.ListItemsRequest(parent=parent, page_token=token, **fields)
        )
        pages.append(page)
        token = page.next_page_token
        if not token:
            return pages


def sequences(pages: list[ss.ListItemsResponse]) -> list[int]:
    return [item.sequence for page in pages for item in page.items]


async def test_a_page_ends_at_the_byte_budget_with_a_token(sessions) -> None:
    parent = await new_session(sessions)
    # 60 items of 50 KB, each ~100 KB in a reply: ~6 MB, which no single reply could carry.
    for start in range(0, 60, 20):
        batch = [message(n, 50_000) for n in range(start, start + 20)]
        await sessions.AddItems(ss.AddItemsRequest(parent=parent, items=batch))

    pages = await pages_of(sessions, parent, page_size=1000)

    assert sequences(pages) == list(range(1, 61))
    assert len(pages) >= 6
    assert all(page.ByteSize() <= PAGE_BYTES + SLACK for page in pages)
    # Short pages, not one item a page: each fills most of the budget.
    assert all(len(page.items) >= 8 for page in pages[:-1])


async def test_newest_count_pages_by_bytes_too(sessions) -> None:
    parent = await new_session(sessions)
    for start in range(0, 30, 10):
        batch = [message(n, 100_000) for n in range(start, start + 10)]
        await sessions.AddItems(ss.AddItemsRequest(parent=parent, items=batch))
    pages = await pages_of(sessions, parent, page_size=1000, newest_count=25)
    assert sequences(pages) == list(range(6, 31))
    assert len(pages) > 1


async def test_items_of_a_mebibyte_come_back_one_a_page(server_factory) -> None:
    """100 items of ~1 MiB: a page of 100 once built ~200 MB and failed RESOURCE_EXHAUSTED."""
    server = await server_factory()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        sessions = session_service_pb2_grpc.SessionServiceStub(channel)
        parent = await new_session(sessions)
        # Stored through the store, ten a transaction: what is tested is the reading.
        key = session_key(parent, "default")
        for start in range(0, 100, 10):
            batch = [stored_message(n, ONE_MIB - 256) for n in range(start, start + 10)]
            await server.store.add_items(key, batch)
        await read_mebibyte_items(sessions, parent)


async def read_mebibyte_items(sessions, parent: str) -> None:
    tracemalloc.start()
    try:
        first = await sessions.ListItems(ss.ListItemsRequest(parent=parent, page_size=100))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The server read the page's item and the one after it, not the 100 the page asked for.
    assert peak < 16 * ONE_MIB, peak
    assert [item.sequence for item in first.items] == [1]

    rest = await pages_of(sessions, parent, first.next_page_token, page_size=100)
    pages = [first, *rest]
    assert sequences(pages) == list(range(1, 101))
    assert all(len(page.items) == 1 for page in pages)
    assert json.loads(pages[-1].items[0].item_json)["content"].startswith("000099")


async def test_sessions_page_by_bytes(sessions) -> None:
    # The largest labels a session may have: about 8 KB each.
    labels = {f"key{n:02d}": "v" * 63 for n in range(64)}
    names = {await new_session(sessions, labels=labels) for _ in range(300)}

    listed: list[str] = []
    token = ""
    page_count = 0
    while True:
        page = await sessions.ListSessions(
            ss.ListSessionsRequest(parent="agents/default", page_size=1000, page_token=token)
        )
        assert page.ByteSize() <= PAGE_BYTES + SLACK
        listed += [s.name for s in page.sessions]
        page_count += 1
        token = page.next_page_token
        if not token:
            break
    assert sorted(listed) == sorted(names)
    assert page_count >= 2


async def test_agents_page_by_bytes(agents) -> None:
    for n in range(25):
        await agents.CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent_id=f"big-{n:02d}",
                agent=agent_pb2.Agent(display_name="big", instructions="i" * 100_000),
            )
        )
    listed: list[str] = []
    token = ""
    page_count = 0
    while True:
        page = await agents.ListAgents(
            agent_pb2.ListAgentsRequest(page_size=1000, page_token=token)
        )
        assert page.ByteSize() <= PAGE_BYTES + SLACK
        listed += [a.name for a in page.agents]
        page_count += 1
        token = page.next_page_token
        if not token:
            break
    assert {f"agents/big-{n:02d}" for n in range(25)} <= set(listed)
    assert len(listed) == len(set(listed))
    assert page_count >= 3
