"""StoreSession: the SDK Session protocol over the store, and the same history as SQLiteSession."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents import Agent, RunConfig, Runner, SQLiteSession, function_tool, handoff
from agents.memory import Session
from agents.testing import ScriptedModel, assistant_message, function_call
from agentsessions.server.domain.errors import Aborted
from agentsessions.server.domain.models import ItemRecord, NewItem, RunRecord, RunState, now_us
from agentsessions.server.runtime import (
    ModelRegistry,
    StoreSession,
    ToolRegistry,
    text_input,
)
from agentsessions.server.runtime.agent_graph import handoff_tool_name
from agentsessions.server.store import SQLiteStore
from runtime.runtime_support import events_of, make_agent, make_runner, make_session, stored, user


async def test_session_protocol(store: SQLiteStore) -> None:
    key = await make_session(store)
    recorded: list[list[int]] = []

    async def write(items: list[NewItem]) -> list[ItemRecord]:
        records = await store.add_items(key, items, run_id="r1")
        recorded.append([r.sequence for r in records])
        return records

    session = StoreSession(store, key, run_id="r1", write=write)
    assert isinstance(session, Session)
    assert session.session_id == "agents/helper/sessions/s1"
    assert await session.get_items() == []

    await session.add_items([user("a"), user("b")])
    await session.add_items([user("c")])
    await session.add_items([])
    assert recorded == [[1, 2], [3]]
    assert [r.run_id for r in session.stored] == ["r1", "r1", "r1"]
    assert await session.get_items() == [user("a"), user("b"), user("c")]
    assert await session.get_items(limit=2) == [user("b"), user("c")]
    assert await session.get_items(limit=0) == []

    assert await session.pop_item() == user("c")
    assert await session.get_items() == [user("a"), user("b")]
    await session.clear_session()
    assert await session.get_items() == []
    assert await session.pop_item() is None


@function_tool
def lookup(city: str) -> str:
    """Looks up a city's weather."""
    return f"Sunny in {city}"


def scripts() -> tuple[list[Any], list[Any]]:
    """The same model outputs for both runs: a tool turn, a handoff, a final answer."""
    triage = [
        [function_call("lookup", {"city": "Paris"}, call_id="c1")],
        [function_call(handoff_tool_name("writer"), {}, call_id="h1")],
    ]
    writer = [[assistant_message("Paris is sunny.", item_id="msg-1")]]
    return triage, writer


async def test_stores_what_sqlite_session_stores(store: SQLiteStore) -> None:
    triage_steps, writer_steps = scripts()
    reference = SQLiteSession("reference")
    writer_agent = Agent(name="writer", model=ScriptedModel(writer_steps))
    triage_agent = Agent(
        name="triage",
        model=ScriptedModel(triage_steps),
        tools=[lookup],
        handoffs=[handoff(writer_agent, tool_name_override=handoff_tool_name("writer"))],
    )
    await Runner.run(
        triage_agent,
        "Weather in Paris?",
        session=reference,
        run_config=RunConfig(tracing_disabled=True),
    )
    expected = await reference.get_items()

    await make_agent(store, "writer", model="scripted-writer")
    key = await make_session(
        store, "triage", model="scripted-triage", tools=("lookup",), handoffs=("writer",)
    )
    triage_steps, writer_steps = scripts()
    models = ModelRegistry(
        models={
            "scripted-triage": ScriptedModel(triage_steps),
            "scripted-writer": ScriptedModel(writer_steps),
        }
    )
    runner = make_runner(store, models, ToolRegistry([lookup]))
    await events_of(runner, key, text_input("Weather in Paris?"))

    history = await stored(store, key)
    assert [json.loads(i.item_json) for i in history] == expected
    assert [i.type for i in history] == [
        "message",
        "function_call",
        "function_call_output",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert len(expected) == 6
    reference.close()


@pytest.mark.parametrize("limit", [None, 1, 3, 10])
async def test_get_items_limit_matches_sqlite_session(
    store: SQLiteStore, limit: int | None
) -> None:
    key = await make_session(store)
    items = [user(str(n)) for n in range(5)]
    ours, reference = StoreSession(store, key), SQLiteSession("reference")
    await ours.add_items(items)
    await reference.add_items(items)
    assert await ours.get_items(limit) == await reference.get_items(limit)
    reference.close()


async def test_a_fenced_session_writes_only_while_its_lease_holds(store: SQLiteStore) -> None:
    key = await make_session(store)
    held = await store.start_run(
        RunRecord(key, "r1", RunState.RUNNING, owner="otherhost/1/1"),
        lease_expire_time_us=now_us() + 10_000_000,
    )
    assert held.lease is not None
    session = StoreSession(store, key, run_id="r1", fence=held.lease)
    await session.add_items([user("a")])
    assert [r.run_id for r in session.stored] == ["r1"]

    # Another holder takes the session over (as recovery does): the old holder's writes stop.
    assert await store.release_lease(held.lease)
    taken = await store.start_run(
        RunRecord(key, "r2", RunState.RUNNING, owner="otherhost/1/1"),
        lease_expire_time_us=now_us() + 10_000_000,
    )
    assert taken.lease is not None and taken.lease.token > held.lease.token
    with pytest.raises(Aborted) as lost:
        await session.add_items([user("b")])
    assert lost.value.reason == "LEASE_LOST"
    assert [i.text for i in await stored(store, key)] == ["a"]
