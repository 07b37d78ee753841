"""AgentService end to end: every RPC's success path and each error code with its details."""

from __future__ import annotations

import uuid

import grpc
import pytest
from agentsessions.v1 import agent_pb2, session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from google.protobuf import field_mask_pb2
from status_details import details_of

INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def create(agents, agent_id: str = "", **fields) -> agent_pb2.Agent:
    fields.setdefault("display_name", "Helper")
    return await agents.CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(**fields), agent_id=agent_id)
    )


async def test_create_with_server_id_then_get(agents) -> None:
    created = await create(agents, instructions="Be brief.", description="brief answers")
    agent_id = created.name.removeprefix("agents/")
    assert uuid.UUID(agent_id).version == 4
    assert created.model == "echo"
    assert created.etag
    assert created.create_time.seconds > 0
    fetched = await agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))
    assert fetched == created


async def test_create_with_caller_id_and_duplicate(agents) -> None:
    created = await create(agents, "support-bot")
    assert created.name == "agents/support-bot"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create(agents, "support-bot")
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.ALREADY_EXISTS
    assert details.reason == "AGENT_ALREADY_EXISTS"


async def test_request_id_makes_create_idempotent(agents) -> None:
    request = agent_pb2.CreateAgentRequest(
        agent=agent_pb2.Agent(display_name="Once"), request_id=str(uuid.uuid4())
    )
    first = await agents.CreateAgent(request)
    again = await agents.CreateAgent(request)
    assert again.name == first.name
    listed = await agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=1000))
    assert [a.name for a in listed.agents].count(first.name) == 1


@pytest.mark.parametrize(
    ("fields", "agent_id", "field", "reason"),
    [
        ({"display_name": ""}, "", "agent.display_name", "INVALID_ARGUMENT"),
        ({"display_name": " " * 3}, "", "agent.display_name", "INVALID_ARGUMENT"),
        ({"display_name": "x" * 101}, "", "agent.display_name", "INVALID_ARGUMENT"),
        ({"display_name": "ok"}, "Not_Valid", "agent_id", "INVALID_ID"),
        ({"display_name": "ok", "model": "no-such-model"}, "", "agent.model", "UNKNOWN_MODEL"),
        ({"display_name": "ok", "tools": ["no_such_tool"]}, "", "agent.tools", "UNKNOWN_TOOL"),
        (
            {"display_name": "ok", "handoffs": ["agents/missing"]},
            "",
            "agent.handoffs",
            "UNKNOWN_HANDOFF",
        ),
        ({"display_name": "ok", "handoffs": ["bogus"]}, "", "agent.handoffs", "INVALID_NAME"),
        (
            {"display_name": "ok", "model_settings": agent_pb2.ModelSettings(temperature=3)},
            "",
            "agent.model_settings.temperature",
            "INVALID_ARGUMENT",
        ),
    ],
)
async def test_create_rejects_bad_input(agents, fields, agent_id, field, reason) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create(agents, agent_id, **fields)
    details = details_of(caught.value)
    assert details.code == INVALID
    assert details.reason == reason
    assert field in details.violated_fields


async def test_request_id_must_be_a_uuid(agents, sessions) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.CreateAgent(
            agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="x"), request_id="r1")
        )
    details = details_of(caught.value)
    assert (details.reason, details.violated_fields) == ("INVALID_REQUEST_ID", ["request_id"])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.CreateSession(
            ss.CreateSessionRequest(
                parent="agents/default",
                session=session_pb2.Session(display_name="x"),
                request_id="not-a-uuid",
            )
        )
    assert details_of(caught.value).reason == "INVALID_REQUEST_ID"


async def test_create_without_agent_is_invalid(agents) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.CreateAgent(agent_pb2.CreateAgentRequest())
    assert details_of(caught.value).violated_fields == ["agent"]


async def test_get_missing_and_malformed(agents) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/nobody"))
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.NOT_FOUND
    assert details.reason == "AGENT_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.GetAgent(agent_pb2.GetAgentRequest(name="sessions/x"))
    details = details_of(caught.value)
    assert (details.code, details.reason, details.violated_fields) == (
        INVALID,
        "INVALID_NAME",
        ["name"],
    )


async def test_list_pages_oldest_first(agents) -> None:
    made = [(await create(agents, f"agent-{i:02d}")).name for i in range(7)]
    seen: list[str] = []
    token = ""
    while True:
        page = await agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=3, page_token=token))
        assert len(page.agents) <= 3
        seen += [a.name for a in page.agents]
        token = page.next_page_token
        if not token:
            break
    assert [n for n in seen if n in made] == made
    assert len(seen) == len(set(seen))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=-1))
    assert details_of(caught.value).reason == "INVALID_PAGE_SIZE"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.ListAgents(agent_pb2.ListAgentsRequest(page_token="garbage!"))
    assert details_of(caught.value).reason == "INVALID_PAGE_TOKEN"


async def test_update_with_mask_and_etag(agents) -> None:
    created = await create(agents, "editor", instructions="old")
    change = agent_pb2.Agent(name=created.name, display_name="Renamed", instructions="ignored")
    updated = await agents.UpdateAgent(
        agent_pb2.UpdateAgentRequest(
            agent=change, update_mask=field_mask_pb2.FieldMask(paths=["display_name"])
        )
    )
    assert updated.display_name == "Renamed"
    assert updated.instructions == "old"
    assert updated.etag != created.etag
    stale = agent_pb2.Agent(name=created.name, display_name="Late", etag=created.etag)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(
                agent=stale, update_mask=field_mask_pb2.FieldMask(paths=["display_name"])
            )
        )
    details = details_of(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(
                agent=change, update_mask=field_mask_pb2.FieldMask(paths=["create_time"])
            )
        )
    assert details_of(caught.value).reason == "INVALID_UPDATE_MASK"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(
                agent=agent_pb2.Agent(name="agents/ghost", display_name="x"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            )
        )
    assert details_of(caught.value).code == grpc.StatusCode.NOT_FOUND


async def test_delete_refuses_while_sessions_exist_unless_forced(agents, sessions) -> None:
    agent = await create(agents, "busy-agent")
    session = await sessions.CreateSession(
        ss.CreateSessionRequest(parent=agent.name, session=session_pb2.Session(display_name="s"))
    )
    await sessions.AddItems(
        ss.AddItemsRequest(
            parent=session.name,
            items=[session_pb2.Item(item_json='{"role":"user","content":"hi"}')],
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=agent.name))
    details = details_of(caught.value)
    assert (details.code, details.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "AGENT_HAS_SESSIONS",
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agents.DeleteAgent(
            agent_pb2.DeleteAgentRequest(name=agent.name, force=True, etag="stale")
        )
    assert details_of(caught.value).code == grpc.StatusCode.ABORTED
    await agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=agent.name, force=True))
    for call, request in [
        (agents.GetAgent, agent_pb2.GetAgentRequest(name=agent.name)),
        (sessions.GetSession, ss.GetSessionRequest(name=session.name)),
        (sessions.ListItems, ss.ListItemsRequest(parent=session.name)),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request)
        assert details_of(caught.value).code == grpc.StatusCode.NOT_FOUND


async def test_default_agent_exists(agents) -> None:
    agent = await agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/default"))
    assert agent.model == "echo"
