"""compact_session and batch_delete_sessions, async and blocking, against a real server."""

from __future__ import annotations

import asyncio

import pytest
from agentsessions.client import AsyncClient, Client, InvalidArgument, NotFound
from agentsessions.client import _requests as build

PREFIX = "Summary of the earlier conversation:\n\n"


def messages(count: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"m{n}"} for n in range(1, count + 1)]


async def test_compact_with_a_summary_then_nothing_left_to_compact(client: AsyncClient) -> None:
    session = await client.create_session("agents/default", {"display_name": "long"})
    await client.add_items(session.name, messages(25))

    done = await client.compact_session(
        session.name, keep_newest_count=5, summary_text="Twenty messages."
    )

    assert done.removed_item_count == 20
    assert done.summary_item.sequence == 1
    assert done.summary_item.text == PREFIX + "Twenty messages."
    assert done.session.stats.item_count == 6
    again = await client.compact_session(session.name)  # 6 items, 20 kept by default
    assert again.removed_item_count == 0 and not again.HasField("summary_item")
    texts = [item.text async for item in await client.list_items(session.name)]
    assert texts == [PREFIX + "Twenty messages.", "m21", "m22", "m23", "m24", "m25"]


async def test_compact_with_the_echo_model_and_keep_zero(client: AsyncClient) -> None:
    session = await client.create_session("agents/default", {"display_name": "echo"})
    await client.add_items(session.name, messages(2))
    done = await client.compact_session(session.name, keep_newest_count=0)
    assert done.removed_item_count == 2
    assert done.summary_item.text == PREFIX + "user: m1\nuser: m2"
    assert done.usage.requests == 1


async def test_batch_delete_is_all_or_nothing(client: AsyncClient) -> None:
    agent = await client.create_agent({"display_name": "Batch"})
    names = [
        (await client.create_session(agent.name, {"display_name": f"s{n}"})).name for n in range(3)
    ]
    with pytest.raises(NotFound) as missing:
        await client.batch_delete_sessions([names[0], f"{agent.name}/sessions/gone"])
    assert missing.value.reason == "SESSION_NOT_FOUND"
    with pytest.raises(InvalidArgument) as outside:
        await client.batch_delete_sessions([names[0]], parent="agents/default")
    assert [v.field for v in outside.value.field_violations] == ["names[0]"]
    assert len(await (await client.list_sessions(agent.name)).collect()) == 3

    await client.batch_delete_sessions(names[:2], parent=agent.name)

    left = [s.name for s in await (await client.list_sessions(agent.name)).collect()]
    assert left == names[2:]


def test_request_builders() -> None:
    unset = build.compact_session("agents/a/sessions/s", None, "", False)
    assert not unset.HasField("keep_newest_count")
    zero = build.compact_session("agents/a/sessions/s", 0, "text", True)
    assert zero.HasField("keep_newest_count") and zero.keep_newest_count == 0
    assert (zero.summary_text, zero.wait_if_busy) == ("text", True)
    request = build.batch_delete_sessions("agents/-", ("agents/a/sessions/s",))
    assert list(request.names) == ["agents/a/sessions/s"]
    with pytest.raises(TypeError):
        build.batch_delete_sessions("agents/-", "agents/a/sessions/s")


def blocking_calls(client: Client) -> tuple[int, int]:
    session = client.create_session("agents/default", {"display_name": "sync"})
    client.add_items(session.name, messages(4))
    done = client.compact_session(session.name, keep_newest_count=1, summary_text="three")
    client.batch_delete_sessions([session.name], parent="agents/default")
    with pytest.raises(NotFound):
        client.get_session(session.name)
    return done.removed_item_count, done.session.stats.item_count


async def test_the_blocking_client_compacts_and_batch_deletes(sync_client: Client) -> None:
    assert await asyncio.to_thread(blocking_calls, sync_client) == (3, 2)
