"""AddItems end to end: a reply that cannot fail after the commit, and request_id retries."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import pytest
from agentsessions.v1 import session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from status_details import details_of

INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def new_session(sessions, name: str = "h") -> str:
    created = await sessions.CreateSession(
        ss.CreateSessionRequest(
            parent="agents/default", session=session_pb2.Session(display_name=name)
        )
    )
    return created.name


def message(content: str, role: str = "user") -> session_pb2.Item:
    return session_pb2.Item(item_json=json.dumps({"role": role, "content": content}))


async def item_count(sessions, parent: str) -> int:
    session = await sessions.GetSession(ss.GetSessionRequest(name=parent))
    return session.stats.item_count


async def test_items_whose_echo_would_pass_the_message_limit_are_stored_and_acknowledged(
    sessions,
) -> None:
    # 3.5 MB of request under the 4 MiB limit; echoing item_json and text would make the
    # reply twice that, and it used to fail (RESOURCE_EXHAUSTED) after the commit.
    parent = await new_session(sessions)
    batch = [message(str(n) * 700_000) for n in range(5)]
    assert batch[0].ByteSize() > 700_000
    added = await sessions.AddItems(ss.AddItemsRequest(parent=parent, items=batch))
    assert [(i.sequence, i.name, i.type, i.role) for i in added.items] == [
        (n, f"{parent}/items/{n}", "message", "user") for n in range(1, 6)
    ]
    assert all(i.item_json == "" and i.text == "" for i in added.items)
    assert added.ByteSize() < 2_000
    assert await item_count(sessions, parent) == 5
    stored = await sessions.ListItems(ss.ListItemsRequest(parent=parent, page_size=1))
    assert stored.items[0].item_json == batch[0].item_json


async def test_a_retry_with_the_same_request_id_returns_the_first_reply(sessions) -> None:
    parent = await new_session(sessions)
    request_id = str(uuid.uuid4())
    request = ss.AddItemsRequest(
        parent=parent, items=[message("a"), message("b", "assistant")], request_id=request_id
    )
    first = await sessions.AddItems(request)
    assert [(i.sequence, i.role) for i in first.items] == [(1, "user"), (2, "assistant")]
    assert await sessions.AddItems(request) == first
    assert await item_count(sessions, parent) == 2

    # Still the first reply after the history moved on; without an id, every call appends.
    await sessions.AddItems(ss.AddItemsRequest(parent=parent, items=[message("c")]))
    await sessions.AddItems(ss.AddItemsRequest(parent=parent, items=[message("c")]))
    await sessions.PopItem(ss.PopItemRequest(parent=parent))
    assert await sessions.AddItems(request) == first
    assert await item_count(sessions, parent) == 3

    # An id belongs to one session: under another it is a new request.
    other = await new_session(sessions, "other")
    again = await sessions.AddItems(
        ss.AddItemsRequest(parent=other, items=request.items, request_id=request_id)
    )
    assert [i.name for i in again.items] == [f"{other}/items/1", f"{other}/items/2"]


async def test_concurrent_calls_with_one_request_id_store_once(sessions) -> None:
    parent = await new_session(sessions)
    request = ss.AddItemsRequest(
        parent=parent, items=[message("once")], request_id=str(uuid.uuid4())
    )
    replies = await asyncio.gather(*(sessions.AddItems(request) for _ in range(8)))
    assert all(reply == replies[0] for reply in replies)
    assert await item_count(sessions, parent) == 1


async def test_the_same_request_id_with_other_items_is_rejected(sessions) -> None:
    parent = await new_session(sessions)
    request_id = str(uuid.uuid4())
    await sessions.AddItems(
        ss.AddItemsRequest(parent=parent, items=[message("a")], request_id=request_id)
    )
    for items in ([message("b")], [message("a"), message("a")]):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sessions.AddItems(
                ss.AddItemsRequest(parent=parent, items=items, request_id=request_id)
            )
        details = details_of(caught.value)
        assert (details.code, details.reason) == (INVALID, "REQUEST_ID_REUSED")
        assert details.violated_fields == ["request_id"]
    assert await item_count(sessions, parent) == 1


async def test_a_request_id_that_is_not_a_uuid_is_rejected(sessions) -> None:
    parent = await new_session(sessions)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.AddItems(
            ss.AddItemsRequest(parent=parent, items=[message("a")], request_id="x" * 10_000)
        )
    details = details_of(caught.value)
    assert (details.code, details.reason) == (INVALID, "INVALID_REQUEST_ID")
    assert details.violated_fields == ["request_id"]
    assert len(caught.value.details() or "") < 1_000
    assert await item_count(sessions, parent) == 0
