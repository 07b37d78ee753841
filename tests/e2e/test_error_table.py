"""One error table: an error about an agent, a session or a run carries the same reason and
the same ErrorInfo metadata (`name` and the ids in it) through every RPC that reports it,
whichever layer (domain, store, runtime) raised it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from agentsessions.v1 import agent_pb2, events_pb2, session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from google.protobuf import field_mask_pb2
from status_details import details_of

AGENT = "agents/default"
SESSION = "agents/default/sessions/present"
GHOST_AGENT = "agents/ghost"
GHOST_SESSION = "agents/default/sessions/ghost"
GHOST_RUN = SESSION + "/runs/ghost"

AGENT_NOT_FOUND = {"name": GHOST_AGENT, "agent_id": "ghost"}
SESSION_NOT_FOUND = {"name": GHOST_SESSION, "agent_id": "default", "session_id": "ghost"}
RUN_NOT_FOUND = {
    "name": GHOST_RUN,
    "agent_id": "default",
    "session_id": "present",
    "run_id": "ghost",
}

Call = Callable[[Any, Any], Awaitable[Any]]


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=paths)


async def drain(stream: Any) -> None:
    async for _ in stream:
        pass


# Each entry: the RPC, and how to call it on something that does not exist.
SESSION_CALLS: dict[str, Call] = {
    "GetSession": lambda a, s: s.GetSession(ss.GetSessionRequest(name=GHOST_SESSION)),
    "UpdateSession": lambda a, s: s.UpdateSession(
        ss.UpdateSessionRequest(
            session=session_pb2.Session(name=GHOST_SESSION, display_name="x"),
            update_mask=mask("display_name"),
        )
    ),
    "DeleteSession": lambda a, s: s.DeleteSession(ss.DeleteSessionRequest(name=GHOST_SESSION)),
    "DeleteSession with etag": lambda a, s: s.DeleteSession(
        ss.DeleteSessionRequest(name=GHOST_SESSION, etag="e")
    ),
    "BatchDeleteSessions": lambda a, s: s.BatchDeleteSessions(
        ss.BatchDeleteSessionsRequest(parent=AGENT, names=[SESSION, GHOST_SESSION])
    ),
    "ListItems": lambda a, s: s.ListItems(ss.ListItemsRequest(parent=GHOST_SESSION)),
    "AddItems": lambda a, s: s.AddItems(
        ss.AddItemsRequest(
            parent=GHOST_SESSION, items=[session_pb2.Item(item_json='{"role": "user"}')]
        )
    ),
    "AddItems with request_id": lambda a, s: s.AddItems(
        ss.AddItemsRequest(
            parent=GHOST_SESSION,
            items=[session_pb2.Item(item_json='{"role": "user"}')],
            request_id=str(uuid.uuid4()),
        )
    ),
    "PopItem": lambda a, s: s.PopItem(ss.PopItemRequest(parent=GHOST_SESSION)),
    "ClearSession": lambda a, s: s.ClearSession(ss.ClearSessionRequest(name=GHOST_SESSION)),
    "CompactSession": lambda a, s: s.CompactSession(ss.CompactSessionRequest(name=GHOST_SESSION)),
    "ListRuns": lambda a, s: s.ListRuns(ss.ListRunsRequest(parent=GHOST_SESSION)),
    "SendMessage": lambda a, s: drain(
        s.SendMessage(events_pb2.SendMessageRequest(session=GHOST_SESSION, text="hi"))
    ),
}

AGENT_CALLS: dict[str, Call] = {
    "GetAgent": lambda a, s: a.GetAgent(agent_pb2.GetAgentRequest(name=GHOST_AGENT)),
    "UpdateAgent": lambda a, s: a.UpdateAgent(
        agent_pb2.UpdateAgentRequest(
            agent=agent_pb2.Agent(name=GHOST_AGENT, display_name="x"),
            update_mask=mask("display_name"),
        )
    ),
    "DeleteAgent": lambda a, s: a.DeleteAgent(agent_pb2.DeleteAgentRequest(name=GHOST_AGENT)),
    "CreateSession": lambda a, s: s.CreateSession(
        ss.CreateSessionRequest(parent=GHOST_AGENT, session=session_pb2.Session(display_name="x"))
    ),
    "ListSessions": lambda a, s: s.ListSessions(ss.ListSessionsRequest(parent=GHOST_AGENT)),
}

RUN_CALLS: dict[str, Call] = {
    "GetRun": lambda a, s: s.GetRun(ss.GetRunRequest(name=GHOST_RUN)),
    "CancelRun": lambda a, s: s.CancelRun(ss.CancelRunRequest(name=GHOST_RUN)),
    "StreamRunEvents": lambda a, s: drain(
        s.StreamRunEvents(ss.StreamRunEventsRequest(name=GHOST_RUN))
    ),
    "ResolveApprovals": lambda a, s: s.ResolveApprovals(
        ss.ResolveApprovalsRequest(
            name=GHOST_RUN,
            decisions=[ss.ApprovalDecision(call_id="c", decision=session_pb2.ToolApproval.APPROVE)],
        )
    ),
}

CASES = (
    [(rpc, call, "SESSION_NOT_FOUND", SESSION_NOT_FOUND) for rpc, call in SESSION_CALLS.items()]
    + [(rpc, call, "AGENT_NOT_FOUND", AGENT_NOT_FOUND) for rpc, call in AGENT_CALLS.items()]
    + [(rpc, call, "RUN_NOT_FOUND", RUN_NOT_FOUND) for rpc, call in RUN_CALLS.items()]
)


@pytest.fixture
async def present(sessions) -> None:
    await sessions.CreateSession(
        ss.CreateSessionRequest(
            parent=AGENT, session=session_pb2.Session(display_name="here"), session_id="present"
        )
    )


async def failure(call: Awaitable[Any]) -> Any:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return details_of(caught.value)


@pytest.mark.parametrize(
    ("rpc", "call", "reason", "metadata"), CASES, ids=[f"{c[2]}-{c[0]}" for c in CASES]
)
async def test_not_found_is_the_same_through_every_rpc(
    agents, sessions, present, rpc: str, call: Call, reason: str, metadata: dict[str, str]
) -> None:
    details = await failure(call(agents, sessions))
    assert (details.code, details.reason) == (grpc.StatusCode.NOT_FOUND, reason), rpc
    assert dict(details.error_info.metadata) == metadata, rpc
    assert details.message == f"{metadata['name']} does not exist", rpc


async def test_already_exists_carries_name_and_ids(agents, sessions, present) -> None:
    duplicate_agent = await failure(
        agents.CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent=agent_pb2.Agent(display_name="again"), agent_id="default"
            )
        )
    )
    assert (duplicate_agent.code, duplicate_agent.reason) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "AGENT_ALREADY_EXISTS",
    )
    assert dict(duplicate_agent.error_info.metadata) == {"name": AGENT, "agent_id": "default"}
    duplicate_session = await failure(
        sessions.CreateSession(
            ss.CreateSessionRequest(
                parent=AGENT, session=session_pb2.Session(display_name="x"), session_id="present"
            )
        )
    )
    assert duplicate_session.reason == "SESSION_ALREADY_EXISTS"
    assert dict(duplicate_session.error_info.metadata) == {
        "name": SESSION,
        "agent_id": "default",
        "session_id": "present",
    }


async def test_etag_mismatch_is_the_same_for_updates_and_deletes(agents, sessions, present):
    # Updates check the etag in the domain, deletes in the store: one shape either way.
    agent_calls = [
        agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(
                agent=agent_pb2.Agent(name=AGENT, display_name="x", etag="stale"),
                update_mask=mask("display_name"),
            )
        ),
        agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=AGENT, etag="stale")),
    ]
    for call in agent_calls:
        details = await failure(call)
        assert (details.code, details.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
        assert dict(details.error_info.metadata) == {"name": AGENT, "agent_id": "default"}
    session_calls = [
        sessions.UpdateSession(
            ss.UpdateSessionRequest(
                session=session_pb2.Session(name=SESSION, display_name="x", etag="stale"),
                update_mask=mask("display_name"),
            )
        ),
        sessions.DeleteSession(ss.DeleteSessionRequest(name=SESSION, etag="stale")),
    ]
    for call in session_calls:
        details = await failure(call)
        assert (details.code, details.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
        assert dict(details.error_info.metadata) == {
            "name": SESSION,
            "agent_id": "default",
            "session_id": "present",
        }
