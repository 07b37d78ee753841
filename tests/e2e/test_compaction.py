"""CompactSession end to end through the stubs: caller and echo summaries, boundaries, limits."""

from __future__ import annotations

import json

import grpc
import pytest
from agentsessions.v1 import session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from status_details import details_of

PREFIX = "Summary of the earlier conversation:\n\n"


async def new_session(sessions, *items: dict) -> str:
    created = await sessions.CreateSession(
        ss.CreateSessionRequest(
            parent="agents/default", session=session_pb2.Session(display_name="long chat")
        )
    )
    if items:
        batch = [session_pb2.Item(item_json=json.dumps(i)) for i in items]
        await sessions.AddItems(ss.AddItemsRequest(parent=created.name, items=batch))
    return created.name


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def call(call_id: str) -> dict:
    return {"type": "function_call", "call_id": call_id, "name": "calculate", "arguments": "{}"}


def output(call_id: str) -> dict:
    return {"type": "function_call_output", "call_id": call_id, "output": "4"}


async def history(sessions, name: str) -> list[session_pb2.Item]:
    page = await sessions.ListItems(ss.ListItemsRequest(parent=name, page_size=1000))
    return list(page.items)


async def compact(sessions, name: str, **fields) -> ss.CompactSessionResponse:
    return await sessions.CompactSession(ss.CompactSessionRequest(name=name, **fields))


async def test_a_caller_summary_replaces_all_but_the_newest(sessions) -> None:
    name = await new_session(sessions, *(user(f"m{n}") for n in range(1, 31)))

    done = await compact(sessions, name, keep_newest_count=5, summary_text="Counted to 25.")

    assert done.removed_item_count == 25
    summary = done.summary_item
    assert (summary.name, summary.sequence, summary.type, summary.role) == (
        f"{name}/items/1",
        1,
        "message",
        "user",
    )
    assert summary.text == PREFIX + "Counted to 25."
    assert json.loads(summary.item_json) == {"role": "user", "content": summary.text}
    items = await history(sessions, name)
    assert [i.sequence for i in items] == [1, 2, 3, 4, 5, 6]
    assert [i.text for i in items[1:]] == ["m26", "m27", "m28", "m29", "m30"]
    assert [i.name for i in items] == [f"{name}/items/{n}" for n in range(1, 7)]
    assert done.usage == session_pb2.Usage()
    stats = done.session.stats
    assert (stats.item_count, stats.message_count, stats.function_call_count) == (6, 6, 0)
    assert (await sessions.GetSession(ss.GetSessionRequest(name=name))).stats == stats


async def test_twenty_newest_items_stay_by_default_and_zero_keeps_none(sessions) -> None:
    name = await new_session(sessions, *(user(f"m{n}") for n in range(1, 26)))
    done = await compact(sessions, name, summary_text="The first five.")
    assert done.removed_item_count == 5 and done.session.stats.item_count == 21

    done = await compact(sessions, name, keep_newest_count=0, summary_text="Everything.")
    assert done.removed_item_count == 21
    assert [i.text for i in await history(sessions, name)] == [PREFIX + "Everything."]


async def test_the_echo_model_writes_a_transcript_summary(sessions) -> None:
    name = await new_session(
        sessions, user("I like tea"), assistant("Noted"), call("c1"), output("c1"), user("Bye")
    )

    done = await compact(sessions, name, keep_newest_count=1)

    assert done.removed_item_count == 4
    transcript = "user: I like tea\nassistant: Noted\ntool call: calculate({})\ntool output: 4"
    assert done.summary_item.text == PREFIX + transcript
    assert done.usage.requests == 1 and done.usage.output_tokens > 0
    stats = done.session.stats
    assert (stats.item_count, stats.message_count, stats.function_call_count) == (2, 2, 0)
    assert (stats.input_tokens, stats.output_tokens) == (
        done.usage.input_tokens,
        done.usage.output_tokens,
    )
    assert [i.text for i in await history(sessions, name)] == [done.summary_item.text, "Bye"]


async def test_a_tool_output_is_never_kept_without_its_call(sessions) -> None:
    name = await new_session(
        sessions, user("a"), assistant("b"), call("c1"), call("c2"), output("c1"), output("c2")
    )
    # The newest two are both outputs: the boundary moves back to before their calls.
    done = await compact(sessions, name, keep_newest_count=2, summary_text="a and b")
    assert done.removed_item_count == 2
    kept = await history(sessions, name)
    assert [i.type for i in kept] == [
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]
    assert [json.loads(i.item_json).get("call_id") for i in kept[1:]] == ["c1", "c2", "c1", "c2"]
    assert done.session.stats.function_call_count == 2


async def test_nothing_to_compact_changes_nothing(sessions) -> None:
    empty = await new_session(sessions)
    short = await new_session(sessions, user("one"), assistant("two"), user("three"))
    # Keeping the newest output keeps its call too: that is the whole history here.
    tool_turn = await new_session(sessions, call("c1"), output("c1"))
    for name, keep in ((empty, 0), (short, 3), (short, 20), (tool_turn, 1)):
        before = await history(sessions, name)
        done = await compact(sessions, name, keep_newest_count=keep, summary_text="unused")
        assert done.removed_item_count == 0
        assert not done.HasField("summary_item")
        assert done.session.stats.item_count == len(before)
        assert await history(sessions, name) == before


@pytest.mark.parametrize(
    ("fields", "violation"),
    [
        ({"keep_newest_count": -1}, "keep_newest_count"),
        ({"keep_newest_count": 100_001}, "keep_newest_count"),
        ({"summary_text": "x" * 100_001}, "summary_text"),
    ],
)
async def test_limits_are_invalid_arguments(sessions, fields: dict, violation: str) -> None:
    name = await new_session(sessions, user("hi"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await compact(sessions, name, **fields)
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.violated_fields == [violation]
    assert [i.text for i in await history(sessions, name)] == ["hi"]


async def test_a_missing_or_misnamed_session_fails(sessions) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await compact(sessions, "agents/default/sessions/nope", summary_text="s")
    assert details_of(caught.value).reason == "SESSION_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await compact(sessions, "sessions/nope", summary_text="s")
    assert details_of(caught.value).violated_fields == ["name"]
