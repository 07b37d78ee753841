"""RemoteSession: the SDK's Session protocol over agentsessions, compared with SQLiteSession."""

from __future__ import annotations

import asyncio
import copy

import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.memory import Session, SessionSettings, SQLiteSession
from agents.testing import ScriptedModel, assistant_message, function_call
from agentsessions.client import AsyncClient, NotFound, RemoteSession

NESTED = {
    "type": "message",
    "role": "assistant",
    "status": "completed",
    "id": "msg_1",
    "content": [
        {
            "type": "output_text",
            "text": "Grüße, 世界 👋 \"quoted\" \\ back\nslash",
            "annotations": [{"type": "url_citation", "start_index": 0, "end_index": 5,
                             "url": "https://example.com", "title": "ä"}],
            "logprobs": [],
        }
    ],
}  # fmt: skip
TOOL_CALL = {
    "type": "function_call",
    "id": "fc_1",
    "call_id": "call_1",
    "name": "lookup",
    "arguments": '{"q": "naïve", "n": [1, 2.5, null, true]}',
    "status": "completed",
}
TOOL_OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": '{"ok": true}'}


@pytest.fixture
async def remote(client: AsyncClient) -> RemoteSession:
    return await RemoteSession.create(client, display_name="remote session")


async def test_is_an_sdk_session(remote: RemoteSession) -> None:
    assert isinstance(remote, Session)
    assert remote.session_id == remote.name


async def test_items_round_trip_exactly(remote: RemoteSession) -> None:
    items = [{"role": "user", "content": "héllo 👋"}, NESTED, TOOL_CALL, TOOL_OUTPUT]
    await remote.add_items(copy.deepcopy(items))
    assert await remote.get_items() == items


async def test_limit_returns_the_newest_in_order(remote: RemoteSession) -> None:
    await remote.add_items([{"role": "user", "content": str(n)} for n in range(5)])
    newest = await remote.get_items(limit=2)
    assert [item["content"] for item in newest] == ["3", "4"]
    assert len(await remote.get_items(limit=99)) == 5
    assert await remote.get_items(limit=0) == []
    assert len(await remote.get_items(limit=-1)) == 5


async def test_session_settings_limit_is_the_default(client: AsyncClient) -> None:
    remote = await RemoteSession.create(client, session_settings=SessionSettings(limit=1))
    await remote.add_items([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert await remote.get_items() == [{"role": "user", "content": "b"}]
    assert len(await remote.get_items(limit=2)) == 2


async def test_pop_and_clear(remote: RemoteSession) -> None:
    assert await remote.pop_item() is None
    await remote.add_items([{"role": "user", "content": "a"}, TOOL_CALL])
    assert await remote.pop_item() == TOOL_CALL
    await remote.clear_session()
    assert await remote.get_items() == []
    assert await remote.pop_item() is None


async def test_concurrent_add_items_lose_nothing(remote: RemoteSession) -> None:
    async def writer(task: int) -> None:
        for batch in range(5):
            await remote.add_items(
                [{"role": "user", "content": f"{task}-{batch}-{n}"} for n in range(3)]
            )

    await asyncio.gather(*(writer(task) for task in range(20)))
    contents = [item["content"] for item in await remote.get_items()]
    assert len(contents) == 20 * 5 * 3
    assert sorted(contents) == sorted(f"{t}-{b}-{n}" for t in range(20) for b in range(5)
                                      for n in range(3))  # fmt: skip
    # Each add_items is one transaction: its items stay together, in order.
    for start in range(0, len(contents), 3):
        prefixes = {c.rsplit("-", 1)[0] for c in contents[start : start + 3]}
        assert len(prefixes) == 1
        assert [c.rsplit("-", 1)[1] for c in contents[start : start + 3]] == ["0", "1", "2"]


async def test_an_unknown_session_raises_not_found(client: AsyncClient) -> None:
    missing = RemoteSession(client, "agents/default/sessions/missing")
    with pytest.raises(NotFound):
        await missing.get_items()
    with pytest.raises(ValueError):
        RemoteSession(client, "not-a-session-name")


@function_tool
def clock(city: str) -> str:
    """Tells the time in a city."""
    return f"12:00 in {city} ☀️"


def scripted_model() -> ScriptedModel:
    return ScriptedModel(
        [
            [function_call("clock", {"city": "Paris"}, call_id="call-1")],
            [assistant_message("It is 12:00 in Paris ✨", item_id="msg-1")],
            [assistant_message("De rien, «bonne journée»!", item_id="msg-2")],
        ]
    )


async def converse(session: Session) -> tuple[list[str], ScriptedModel]:
    model = scripted_model()
    agent = Agent(name="assistant", instructions="Answer briefly.", model=model, tools=[clock])
    config = RunConfig(tracing_disabled=True)
    outputs = []
    for text in ("What time is it in Paris? 🇫🇷", "Merci !"):
        result = await Runner.run(agent, text, session=session, run_config=config)
        outputs.append(result.final_output)
    model.assert_complete()
    return outputs, model


async def test_same_history_as_sqlite_session(client: AsyncClient) -> None:
    local = SQLiteSession("local")
    remote = await RemoteSession.create(client, display_name="compared")

    local_outputs, local_model = await converse(local)
    remote_outputs, remote_model = await converse(remote)

    local_items, remote_items = await local.get_items(), await remote.get_items()
    assert (
        local_outputs == remote_outputs == ["It is 12:00 in Paris ✨", "De rien, «bonne journée»!"]
    )
    assert [item.get("type", "message") for item in remote_items] == [
        "message", "function_call", "function_call_output", "message", "message", "message",
    ]  # fmt: skip
    assert len(remote_items) == len(local_items)
    for index, (mine, theirs) in enumerate(zip(remote_items, local_items, strict=True)):
        assert mine == theirs, f"item {index} differs"
    # The second run read its history back from each session the same way.
    assert remote_model.calls[-1].input == local_model.calls[-1].input
    assert await remote.get_items(limit=3) == await local.get_items(limit=3)
    local.close()
