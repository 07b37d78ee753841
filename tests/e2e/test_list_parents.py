"""A list under a parent that does not exist is NOT_FOUND, not an empty list (AIP-132)."""

from __future__ import annotations

import grpc
import pytest
from agentsessions.v1 import agent_pb2, events_pb2, session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from status_details import details_of

NOT_FOUND = grpc.StatusCode.NOT_FOUND
MISSING_SESSION = "agents/default/sessions/ghost"


async def new_session(sessions, parent: str = "agents/default", labels=None) -> str:
    created = await sessions.CreateSession(
        ss.CreateSessionRequest(
            parent=parent, session=session_pb2.Session(display_name="s", labels=labels or {})
        )
    )
    return created.name


@pytest.mark.parametrize(
    "request_fields",
    [
        {},
        {"page_size": 1},
        {"filter": "state = ACTIVE"},
        {"filter": 'labels.team = "x"', "order_by": "create_time asc"},
    ],
)
async def test_list_sessions_of_a_missing_agent(sessions, request_fields) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.ListSessions(ss.ListSessionsRequest(parent="agents/ghost", **request_fields))
    details = details_of(caught.value)
    assert (details.code, details.reason) == (NOT_FOUND, "AGENT_NOT_FOUND")
    assert details.error_info.metadata["name"] == "agents/ghost"
    assert "agents/ghost" in details.message


async def test_list_sessions_of_a_deleted_agent(agents, sessions) -> None:
    agent = await agents.CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="a"), agent_id="gone")
    )
    await new_session(sessions, agent.name)
    assert len((await sessions.ListSessions(ss.ListSessionsRequest(parent=agent.name))).sessions)
    await agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=agent.name, force=True))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.ListSessions(ss.ListSessionsRequest(parent=agent.name))
    assert details_of(caught.value).reason == "AGENT_NOT_FOUND"


async def test_existing_agents_and_every_agent_still_list(agents, sessions) -> None:
    empty = await sessions.ListSessions(ss.ListSessionsRequest(parent="agents/default"))
    assert (list(empty.sessions), empty.next_page_token) == ([], "")
    everyone = await sessions.ListSessions(ss.ListSessionsRequest(parent="agents/-"))
    assert list(everyone.sessions) == []
    name = await new_session(sessions, labels={"team": "a"})
    unmatched = await sessions.ListSessions(
        ss.ListSessionsRequest(parent="agents/default", filter='labels.team = "b"')
    )
    assert list(unmatched.sessions) == []
    none_under_all = await sessions.ListSessions(
        ss.ListSessionsRequest(parent="agents/-", filter='labels.team = "b"')
    )
    assert list(none_under_all.sessions) == []
    listed = await sessions.ListSessions(ss.ListSessionsRequest(parent="agents/-"))
    assert [s.name for s in listed.sessions] == [name]


async def test_list_items_and_runs_of_a_missing_session(sessions) -> None:
    for call, request in [
        (sessions.ListItems, ss.ListItemsRequest(parent=MISSING_SESSION)),
        (sessions.ListItems, ss.ListItemsRequest(parent=MISSING_SESSION, newest_count=5)),
        (sessions.ListRuns, ss.ListRunsRequest(parent=MISSING_SESSION)),
        (sessions.ListRuns, ss.ListRunsRequest(parent="agents/ghost/sessions/s")),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request)
        details = details_of(caught.value)
        assert (details.code, details.reason) == (NOT_FOUND, "SESSION_NOT_FOUND"), request


async def test_list_runs_of_a_session_deleted_between_pages(sessions) -> None:
    name = await new_session(sessions)
    for text in ("one", "two"):
        events = [
            e
            async for e in sessions.SendMessage(
                events_pb2.SendMessageRequest(session=name, text=text)
            )
        ]
        assert events[-1].WhichOneof("event") == "run_completed"
    first = await sessions.ListRuns(ss.ListRunsRequest(parent=name, page_size=1))
    assert len(first.runs) == 1 and first.next_page_token
    await sessions.DeleteSession(ss.DeleteSessionRequest(name=name))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.ListRuns(
            ss.ListRunsRequest(parent=name, page_size=1, page_token=first.next_page_token)
        )
    assert details_of(caught.value).reason == "SESSION_NOT_FOUND"
