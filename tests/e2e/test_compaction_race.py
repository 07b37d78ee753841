"""CompactSession against PopItem and AddItems between its read and its write: nothing lost."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from agentsessions.server.domain.models import ItemRecord, NewItem, SessionKey
from agentsessions.server.store import SQLiteStore
from agentsessions.v1 import session_pb2, session_service_pb2_grpc
from agentsessions.v1 import session_service_pb2 as ss
from status_details import details_of


class WriteDuringRead(SQLiteStore):
    """A store that runs `during` once, on the first history read after `arm`: the writes a
    caller of AddItems and PopItem makes while a compaction reads the history it replaces
    (those calls do not wait for the session's lock)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.during: Callable[[], Awaitable[None]] | None = None

    async def list_items(self, key: SessionKey, **kwargs: int | None) -> list[ItemRecord]:
        during, self.during = self.during, None
        if during is not None:
            await during()
        return await super().list_items(key, **kwargs)  # type: ignore[arg-type]


def message(text: str) -> NewItem:
    return NewItem(json.dumps({"role": "user", "content": text}), "message", "user", text)


@pytest.fixture
async def raced(server_factory, tmp_path: Path):
    store = WriteDuringRead(str(tmp_path / "raced.db"))
    server = await server_factory(store=store)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield store, session_service_pb2_grpc.SessionServiceStub(channel)


async def texts(sessions, parent: str) -> list[str]:
    listed = await sessions.ListItems(ss.ListItemsRequest(parent=parent))
    return [json.loads(i.item_json)["content"] for i in listed.items]


async def test_a_pop_then_an_add_during_the_read_refuses_the_compaction(raced) -> None:
    store, sessions = raced
    created = await sessions.CreateSession(
        ss.CreateSessionRequest(
            parent="agents/default", session=session_pb2.Session(display_name="race")
        )
    )
    parent = created.name
    batch = [
        session_pb2.Item(item_json=json.dumps({"role": "user", "content": f"m{n}"}))
        for n in range(1, 11)
    ]
    await sessions.AddItems(ss.AddItemsRequest(parent=parent, items=batch))
    key = SessionKey("default", "default", parent.rsplit("/", 1)[1])

    async def pop_three_add_three() -> None:
        # The count stays 10, but item 8, which the compaction replaces, is now new.
        for _ in range(3):
            await store.pop_item(key)
        await store.add_items(key, [message("a"), message("b"), message("c")])

    store.during = pop_three_add_three
    request = ss.CompactSessionRequest(name=parent, keep_newest_count=2, summary_text="old")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.CompactSession(request)
    details = details_of(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.ABORTED, "HISTORY_CHANGED")
    assert store.during is None  # the writes did happen during the compaction
    expected = [f"m{n}" for n in range(1, 8)] + ["a", "b", "c"]
    assert await texts(sessions, parent) == expected

    # Retried, it compacts the history as it is now.
    done = await sessions.CompactSession(request)
    assert done.removed_item_count == 8
    assert (await texts(sessions, parent))[1:] == ["b", "c"]
