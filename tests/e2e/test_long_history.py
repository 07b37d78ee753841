"""A long history (2,000 messages of 6 KB, ~24 MB in replies) is read whole, and a turn on it
succeeds: through ListItems paging, through RemoteSession.get_items, and SendMessage."""

from __future__ import annotations

import json

import pytest
from agents import Agent, RunConfig, Runner
from agents.testing import ScriptedModel, assistant_message
from agentsessions.client import AsyncClient, RemoteSession
from agentsessions.v1 import events_pb2, session_pb2
from agentsessions.v1 import session_service_pb2 as ss

MESSAGES = 2000
MESSAGE_BYTES = 6 * 1024
BATCH = 100


def body(n: int) -> dict[str, str]:
    role = "user" if n % 2 == 0 else "assistant"
    return {"role": role, "content": f"{n:05d} " + "y" * (MESSAGE_BYTES - 6)}


@pytest.fixture
async def long_session(sessions) -> str:
    created = await sessions.CreateSession(
        ss.CreateSessionRequest(
            parent="agents/default", session=session_pb2.Session(display_name="long")
        )
    )
    for start in range(0, MESSAGES, BATCH):
        batch = [
            session_pb2.Item(item_json=json.dumps(body(n))) for n in range(start, start + BATCH)
        ]
        await sessions.AddItems(ss.AddItemsRequest(parent=created.name, items=batch))
    return created.name


async def test_list_items_pages_through_the_whole_history(sessions, long_session: str) -> None:
    contents: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await sessions.ListItems(
            ss.ListItemsRequest(parent=long_session, page_size=1000, page_token=token)
        )
        pages += 1
        contents += [json.loads(item.item_json)["content"][:5] for item in page.items]
        token = page.next_page_token
        if not token:
            break
    assert contents == [f"{n:05d}" for n in range(MESSAGES)]
    # 1000 items of ~12 KB in a reply would be ~12 MB: the pages were cut by bytes.
    assert pages > MESSAGES // 1000


async def test_remote_session_reads_the_whole_history_and_runs_a_turn(
    address: str, long_session: str
) -> None:
    async with AsyncClient(address) as client:
        remote = RemoteSession(client, long_session)
        items = await remote.get_items()
        assert [item["content"][:5] for item in items] == [f"{n:05d}" for n in range(MESSAGES)]
        newest = await remote.get_items(limit=1500)
        assert [item["content"][:5] for item in newest] == [
            f"{n:05d}" for n in range(500, MESSAGES)
        ]

        model = ScriptedModel([[assistant_message("still here")]])
        agent = Agent(name="assistant", instructions="Answer briefly.", model=model)
        result = await Runner.run(
            agent, "one more", session=remote, run_config=RunConfig(tracing_disabled=True)
        )
        assert result.final_output == "still here"
        model.assert_complete()
        after = await remote.get_items()
        assert len(after) == MESSAGES + 2
        assert after[-2]["content"] == "one more"


async def test_send_message_runs_a_turn_on_the_long_history(sessions, long_session: str) -> None:
    request = events_pb2.SendMessageRequest(session=long_session, text="and now?")
    events = [event async for event in sessions.SendMessage(request)]
    assert events[-1].WhichOneof("event") == "run_completed", events[-1]
    newest = await sessions.ListItems(ss.ListItemsRequest(parent=long_session, newest_count=2))
    assert [item.role for item in newest.items] == ["user", "assistant"]
    assert json.loads(newest.items[0].item_json)["content"] == "and now?"
    assert newest.items[0].sequence == MESSAGES + 1
