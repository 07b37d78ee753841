"""BatchDeleteSessions end to end through the stubs: all or nothing, names under the parent."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import pytest
from agentsessions.v1 import agent_pb2, session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from status_details import details_of


async def new_agent(agents) -> str:
    agent = agent_pb2.Agent(display_name="batch", model="echo")
    return (await agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent))).name


async def new_sessions(sessions, parent: str, count: int) -> list[str]:
    names = []
    for _ in range(count):
        created = await sessions.CreateSession(
            ss.CreateSessionRequest(parent=parent, session=session_pb2.Session(display_name="s"))
        )
        item = session_pb2.Item(item_json=json.dumps({"role": "user", "content": "hi"}))
        await sessions.AddItems(ss.AddItemsRequest(parent=created.name, items=[item]))
        names.append(created.name)
    return names


async def exists(sessions, name: str) -> bool:
    try:
        await sessions.GetSession(ss.GetSessionRequest(name=name))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND
        return False
    return True


async def batch_delete(sessions, parent: str, names: list[str]) -> None:
    await sessions.BatchDeleteSessions(ss.BatchDeleteSessionsRequest(parent=parent, names=names))


async def failure(sessions, parent: str, names: list[str]):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await batch_delete(sessions, parent, names)
    return details_of(caught.value)


async def test_deletes_the_named_sessions_with_their_history(agents, sessions) -> None:
    parent = await new_agent(agents)
    one, two, three = await new_sessions(sessions, parent, 3)

    await batch_delete(sessions, parent, [one, three])

    assert [await exists(sessions, n) for n in (one, two, three)] == [False, True, False]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.ListItems(ss.ListItemsRequest(parent=one))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_dash_parent_takes_sessions_of_any_agent(agents, sessions) -> None:
    (first,) = await new_sessions(sessions, await new_agent(agents), 1)
    (second,) = await new_sessions(sessions, await new_agent(agents), 1)
    await batch_delete(sessions, "agents/-", [first, second])
    assert not await exists(sessions, first) and not await exists(sessions, second)


async def test_one_missing_session_deletes_nothing(agents, sessions) -> None:
    parent = await new_agent(agents)
    one, two = await new_sessions(sessions, parent, 2)
    missing = f"{parent}/sessions/{uuid.uuid4()}"

    details = await failure(sessions, parent, [one, missing, two])

    assert details.code == grpc.StatusCode.NOT_FOUND
    assert details.reason == "SESSION_NOT_FOUND" and missing in details.message
    assert await exists(sessions, one) and await exists(sessions, two)


async def test_names_must_be_under_the_parent(agents, sessions) -> None:
    parent = await new_agent(agents)
    (mine,) = await new_sessions(sessions, parent, 1)
    (other,) = await new_sessions(sessions, await new_agent(agents), 1)

    details = await failure(sessions, parent, [mine, other])

    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.violated_fields == ["names[1]"]
    assert await exists(sessions, mine) and await exists(sessions, other)


async def test_duplicates_and_malformed_names_are_invalid(agents, sessions) -> None:
    parent = await new_agent(agents)
    one, two = await new_sessions(sessions, parent, 2)

    details = await failure(sessions, parent, [one, two, one, "sessions/x"])

    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.violated_fields == ["names[2]", "names[3]"]
    assert await exists(sessions, one) and await exists(sessions, two)


@pytest.mark.parametrize(
    ("parent", "count", "field"),
    [
        ("agents/default", 0, "names"),
        ("agents/default", 1001, "names"),
        ("agents", 1, "parent"),
        ("agents/default/sessions/x", 1, "parent"),
    ],
)
async def test_bad_parents_and_sizes_are_invalid(
    sessions, parent: str, count: int, field: str
) -> None:
    names = [f"agents/default/sessions/s-{n}" for n in range(count)]
    details = await failure(sessions, parent, names)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.violated_fields == [field]


async def test_a_thousand_sessions_go_in_one_call(agents, sessions) -> None:
    parent = await new_agent(agents)
    request = ss.CreateSessionRequest(parent=parent, session=session_pb2.Session(display_name="s"))
    created = await asyncio.gather(*(sessions.CreateSession(request) for _ in range(1000)))
    names = [session.name for session in created]
    assert len(set(names)) == 1000
    await batch_delete(sessions, parent, names)
    listed = await sessions.ListSessions(ss.ListSessionsRequest(parent=parent))
    assert list(listed.sessions) == []
