"""Every AsyncClient method against a real server, and pagers over several pages."""

from __future__ import annotations

import json
import uuid

import pytest
from agentsessions.client import AsyncClient, AsyncPager, NotFound, session_path
from agentsessions.v1 import agent_pb2, session_pb2


async def test_agent_lifecycle(client: AsyncClient) -> None:
    created = await client.create_agent(
        {"display_name": "Helper", "model": "echo", "model_settings": {"temperature": 0.5}},
        agent_id="helper",
    )
    assert created.name == "agents/helper"
    assert created.model_settings.temperature == 0.5
    assert await client.get_agent("agents/helper") == created

    names = [agent.name async for agent in await client.list_agents()]
    assert names == ["agents/default", "agents/helper"]

    updated = await client.update_agent(
        agent_pb2.Agent(name="agents/helper", display_name="Renamed", instructions="Be brief."),
        update_mask=["display_name"],
    )
    assert (updated.display_name, updated.instructions) == ("Renamed", "")
    assert updated.etag != created.etag

    await client.delete_agent("agents/helper", etag=updated.etag)
    with pytest.raises(NotFound):
        await client.get_agent("agents/helper")


async def test_create_agent_with_same_request_id_creates_once(client: AsyncClient) -> None:
    request_id = str(uuid.uuid4())
    first = await client.create_agent({"display_name": "Once"}, request_id=request_id)
    again = await client.create_agent({"display_name": "Once"}, request_id=request_id)
    assert first.name == again.name
    assert len(await (await client.list_agents()).collect()) == 2


async def test_session_lifecycle(client: AsyncClient) -> None:
    created = await client.create_session(
        "agents/default",
        {"display_name": "Trip", "labels": {"team": "a"}},
        session_id="trip",
    )
    assert created.name == session_path("default", "trip")
    assert created.state == session_pb2.Session.ACTIVE
    assert (await client.get_session(created.name)).labels == {"team": "a"}

    updated = await client.update_session(
        session_pb2.Session(name=created.name, state=session_pb2.Session.PAUSED, etag=created.etag),
        update_mask="state",
    )
    assert updated.state == session_pb2.Session.PAUSED

    await client.create_session("agents/default", {"display_name": "Other"})
    paused = await client.list_sessions("agents/default", filter="state = PAUSED")
    assert [s.name async for s in paused] == [created.name]
    assert len(await (await client.list_sessions()).collect()) == 2

    await client.delete_session(created.name)
    with pytest.raises(NotFound):
        await client.get_session(created.name)


async def test_history_calls(client: AsyncClient) -> None:
    name = (await client.create_session("agents/default", {"display_name": "h"})).name
    stored = await client.add_items(
        name,
        [
            {"role": "user", "content": "héllo 👋"},
            '{"type": "function_call", "name": "clock", "call_id": "c1", "arguments": "{}"}',
            session_pb2.Item(item_json='{"type": "function_call_output", "call_id": "c1", '
                             '"output": "12:00"}'),
        ],
    )  # fmt: skip
    assert [i.sequence for i in stored] == [1, 2, 3]
    assert [i.name for i in stored] == [f"{name}/items/{n}" for n in (1, 2, 3)]
    assert stored[0].item_json == ""  # not echoed: list_items reads it back
    listed = [i async for i in await client.list_items(name)]
    assert json.loads(listed[0].item_json) == {"role": "user", "content": "héllo 👋"}

    everything = [i.sequence async for i in await client.list_items(name)]
    newest = [i.sequence async for i in await client.list_items(name, newest_count=2)]
    later = [i.sequence async for i in await client.list_items(name, after_sequence=1)]
    assert (everything, newest, later) == ([1, 2, 3], [2, 3], [2, 3])

    popped = await client.pop_item(name)
    assert popped is not None and popped.type == "function_call_output"
    assert await client.clear_session(name) == 2
    assert await client.pop_item(name) is None


async def test_runs_of_a_new_session(client: AsyncClient) -> None:
    name = (await client.create_session("agents/default", {"display_name": "r"})).name
    assert await (await client.list_runs(name)).collect() == []
    with pytest.raises(NotFound):
        await client.get_run(f"{name}/runs/nope")


async def test_pagers_fetch_every_page(client: AsyncClient) -> None:
    for n in range(7):
        await client.create_agent({"display_name": f"A{n}"}, agent_id=f"a{n}")
        await client.create_session("agents/default", {"display_name": f"S{n}"})
    session = (await client.create_session("agents/default", {"display_name": "items"})).name
    await client.add_items(session, [{"role": "user", "content": str(n)} for n in range(7)])

    agents = await client.list_agents(page_size=3)
    assert [len(page.agents) async for page in agents.pages] == [3, 3, 2]
    assert len([a async for a in agents]) == 8

    sessions = await client.list_sessions("agents/default", page_size=3)
    assert [len(page.sessions) async for page in sessions.pages] == [3, 3, 2]
    items = await client.list_items(session, page_size=3)
    contents = [json.loads(i.item_json)["content"] async for i in items]
    assert contents == [str(n) for n in range(7)]
    assert await items.collect(limit=4) == (await client.list_items(session)).first_page.items[:4]
    assert isinstance(items, AsyncPager)
