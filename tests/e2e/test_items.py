"""The history calls end to end: AddItems, ListItems, PopItem, ClearSession, runs listing."""

from __future__ import annotations

import json

import grpc
import pytest
from agentsessions.v1 import session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from status_details import details_of


async def new_session(sessions) -> str:
    created = await sessions.CreateSession(
        ss.CreateSessionRequest(
            parent="agents/default", session=session_pb2.Session(display_name="h")
        )
    )
    return created.name


def item(**fields) -> session_pb2.Item:
    return session_pb2.Item(item_json=json.dumps(fields, ensure_ascii=False))


async def all_items(sessions, parent: str, **fields) -> list[session_pb2.Item]:
    found: list[session_pb2.Item] = []
    token = ""
    while True:
        page = await sessions.ListItems(
            ss.ListItemsRequest(parent=parent, page_token=token, **fields)
        )
        found += page.items
        token = page.next_page_token
        if not token:
            return found


async def test_add_is_dense_and_round_trips(sessions) -> None:
    parent = await new_session(sessions)
    batch = [
        item(role="user", content="héllo 👋"),
        item(
            type="message",
            role="assistant",
            content=[{"type": "output_text", "text": "hi", "annotations": []}],
        ),
        item(type="function_call", name="clock", call_id="c1", arguments='{"tz": "UTC"}'),
        item(type="function_call_output", call_id="c1", output="12:00"),
    ]
    added = await sessions.AddItems(ss.AddItemsRequest(parent=parent, items=batch))
    assert [i.sequence for i in added.items] == [1, 2, 3, 4]
    assert [i.type for i in added.items] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
    ]
    assert [i.role for i in added.items] == ["user", "assistant", "", ""]
    assert added.items[0].name == f"{parent}/items/1"
    # The reply does not repeat the bodies: ListItems has them.
    assert [(i.item_json, i.text) for i in added.items] == [("", "")] * 4
    listed = await all_items(sessions, parent)
    assert [i.text for i in listed] == ["héllo 👋", "hi", "", ""]
    assert [json.loads(i.item_json) for i in listed] == [json.loads(i.item_json) for i in batch]
    more = await sessions.AddItems(
        ss.AddItemsRequest(parent=parent, items=[item(role="user", content="again")])
    )
    assert more.items[0].sequence == 5


async def test_list_newest_after_and_pages(sessions) -> None:
    parent = await new_session(sessions)
    await sessions.AddItems(
        ss.AddItemsRequest(
            parent=parent, items=[item(role="user", content=str(i)) for i in range(1, 26)]
        )
    )
    newest = await sessions.ListItems(ss.ListItemsRequest(parent=parent, newest_count=3))
    assert [i.text for i in newest.items] == ["23", "24", "25"]
    after = await sessions.ListItems(ss.ListItemsRequest(parent=parent, after_sequence=22))
    assert [i.sequence for i in after.items] == [23, 24, 25]
    paged = await all_items(sessions, parent, page_size=4)
    assert [i.sequence for i in paged] == list(range(1, 26))
    window = await all_items(sessions, parent, page_size=4, newest_count=10)
    assert [i.sequence for i in window] == list(range(16, 26))
    for fields, field in [
        ({"after_sequence": -1}, "after_sequence"),
        ({"newest_count": -2}, "newest_count"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sessions.ListItems(ss.ListItemsRequest(parent=parent, **fields))
        assert details_of(caught.value).violated_fields == [field]


async def test_add_rejects_bad_items_as_a_whole(sessions) -> None:
    parent = await new_session(sessions)
    for items, field in [
        (
            [item(role="user", content="ok"), session_pb2.Item(item_json="[1, 2]")],
            "items[1].item_json",
        ),
        ([session_pb2.Item(item_json="{not json")], "items[0].item_json"),
        ([session_pb2.Item(item_json='"text"')], "items[0].item_json"),
        ([], "items"),
        ([item(role="user", content="x" * (1024 * 1024))], "items[0].item_json"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sessions.AddItems(ss.AddItemsRequest(parent=parent, items=items))
        details = details_of(caught.value)
        assert details.code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.violated_fields == [field]
    assert await all_items(sessions, parent) == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.AddItems(
            ss.AddItemsRequest(
                parent="agents/default/sessions/ghost", items=[item(role="user", content="x")]
            )
        )
    assert details_of(caught.value).code == grpc.StatusCode.NOT_FOUND


async def test_pop_and_clear(sessions) -> None:
    parent = await new_session(sessions)
    empty = await sessions.PopItem(ss.PopItemRequest(parent=parent))
    assert not empty.HasField("item")
    await sessions.AddItems(
        ss.AddItemsRequest(parent=parent, items=[item(role="user", content=c) for c in "abc"])
    )
    popped = await sessions.PopItem(ss.PopItemRequest(parent=parent))
    assert (popped.item.sequence, popped.item.text) == (3, "c")
    again = await sessions.AddItems(
        ss.AddItemsRequest(parent=parent, items=[item(role="user", content="d")])
    )
    assert again.items[0].sequence == 3  # sequences stay dense
    session = await sessions.GetSession(ss.GetSessionRequest(name=parent))
    assert (session.stats.item_count, session.stats.message_count) == (3, 3)
    cleared = await sessions.ClearSession(ss.ClearSessionRequest(name=parent))
    assert cleared.deleted_item_count == 3
    session = await sessions.GetSession(ss.GetSessionRequest(name=parent))
    assert session.stats.item_count == 0
    assert await all_items(sessions, parent) == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.ClearSession(ss.ClearSessionRequest(name="agents/default/sessions/ghost"))
    assert details_of(caught.value).code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.PopItem(ss.PopItemRequest(parent="agents/default/sessions/ghost"))
    assert details_of(caught.value).code == grpc.StatusCode.NOT_FOUND


async def test_runs_of_a_new_session(sessions) -> None:
    parent = await new_session(sessions)
    runs = await sessions.ListRuns(ss.ListRunsRequest(parent=parent))
    assert list(runs.runs) == [] and not runs.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.GetRun(ss.GetRunRequest(name=f"{parent}/runs/nothing"))
    assert details_of(caught.value).reason == "RUN_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.ListRuns(ss.ListRunsRequest(parent="agents/default/sessions/ghost"))
    assert details_of(caught.value).code == grpc.StatusCode.NOT_FOUND
