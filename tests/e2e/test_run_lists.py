"""ListRuns across sessions (`agents/-/sessions/-`, `agents/{a}/sessions/-`) and by state:
finding every run that waits for a decision, against a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agentsessions.server.domain import sessions as session_rules
from agentsessions.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    events_pb2,
    session_pb2,
    session_service_pb2_grpc,
)
from agentsessions.v1 import session_service_pb2 as ss
from e2e.test_approvals import Bank, decide, start, until_approval
from e2e.test_runs import kind, new_session
from status_details import Details, details_of

Run = session_pb2.Run
Stub = session_service_pb2_grpc.SessionServiceStub
WAITING = "state = REQUIRES_APPROVAL"
EVERY_SESSION = "agents/-/sessions/-"
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT


def pay() -> ModelStep:
    return ModelStep(output=[function_call("transfer", '{"amount": 5}', call_id="call-1")])


def answer(text: str) -> ModelStep:
    return ModelStep(output=[assistant_message(text)])


async def completed(stub: Stub, session: str) -> str:
    request = events_pb2.SendMessageRequest(session=session, text="Hello")
    events = [e async for e in stub.SendMessage(request)]
    assert kind(events[-1]) == "run_completed", [kind(e) for e in events]
    return events[0].run_started.run


async def waiting(stub: Stub, session: str) -> str:
    """A run that stops for approval; the caller leaves, the run keeps waiting."""
    stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Pay 5"))
    seen = await until_approval(stream)
    stream.cancel()
    return seen[-1].approval_required.run


async def pages(stub: Stub, parent: str, filter_text: str = "", size: int = 0) -> list[Run]:
    """Every run the list gives, page by page; with `size`, no page holds more."""
    runs: list[Run] = []
    token = ""
    for _ in range(100):
        page = await stub.ListRuns(
            ss.ListRunsRequest(parent=parent, filter=filter_text, page_size=size, page_token=token)
        )
        assert not size or len(page.runs) <= size
        runs += page.runs
        token = page.next_page_token
        if not token:
            return runs
    raise AssertionError("the list did not end")


async def refused(call: Any) -> Details:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return details_of(caught.value)


@dataclass
class Fleet:
    stub: Stub
    model: ScriptedModel
    waiting: list[str]  # oldest first
    completed: list[str]
    started: list[str]  # every run, oldest first


@pytest.fixture
async def fleet(server_factory: Any) -> AsyncIterator[Fleet]:
    """Two agents that need approval to transfer, each with two sessions; three runs wait,
    across both agents; the others completed (one on agents/default, the echo model)."""
    model = ScriptedModel([answer("Hi."), pay(), pay(), pay(), answer("Hello.")])
    address = await start(server_factory, Bank(), model)
    async with grpc.aio.insecure_channel(address) as channel:
        await agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent_id="teller",
                agent=agent_pb2.Agent(display_name="Teller", model="scripted", tools=["transfer"]),
            )
        )
        stub = Stub(channel)
        b1, b2 = [await new_session(channel, "agents/banker") for _ in range(2)]
        t1, t2 = [await new_session(channel, "agents/teller") for _ in range(2)]
        d1 = await new_session(channel)
        done = [await completed(stub, b1)]
        held = [await waiting(stub, session) for session in (b1, b2, t1)]
        done += [await completed(stub, t2), await completed(stub, d1)]
        assert model.remaining_steps == 0
        yield Fleet(stub, model, held, done, [done[0], *held, *done[1:]])


def session_of(run: str) -> str:
    return run.rsplit("/runs/", 1)[0]


async def test_every_run_waiting_for_approval_across_agents(fleet: Fleet) -> None:
    stub = fleet.stub
    newest_first = list(reversed(fleet.waiting))
    listed = await pages(stub, EVERY_SESSION, WAITING, size=1)
    assert [r.name for r in listed] == newest_first
    assert {r.state for r in listed} == {Run.REQUIRES_APPROVAL}
    assert all(r.approvals[0].call_id == "call-1" for r in listed)
    assert [r.name for r in await pages(stub, EVERY_SESSION, WAITING)] == newest_first

    everything = await pages(stub, EVERY_SESSION, size=2)
    assert [r.name for r in everything] == list(reversed(fleet.started))
    completed_runs = await pages(stub, EVERY_SESSION, "state = COMPLETED", size=1)
    assert [r.name for r in completed_runs] == list(reversed(fleet.completed))
    assert await pages(stub, EVERY_SESSION, "state = FAILED") == []

    # One agent's sessions, and one session, by the same filter.
    bankers = [n for n in newest_first if n.startswith("agents/banker/")]
    assert len(bankers) == 2
    by_agent = await pages(stub, "agents/banker/sessions/-", WAITING, size=1)
    assert [r.name for r in by_agent] == bankers
    first_session = session_of(fleet.completed[0])
    assert [r.name for r in await pages(stub, first_session, WAITING)] == [fleet.waiting[0]]
    assert len(await pages(stub, first_session)) == 2

    # Decided, a run is no longer among those waiting: it runs again at once.
    fleet.model.enqueue(answer("Not moved."))
    await stub.ResolveApprovals(decide(newest_first[0], session_pb2.ToolApproval.REJECT))
    left = [r.name for r in await pages(stub, EVERY_SESSION, WAITING, size=1)]
    assert left == newest_first[1:]


async def test_a_page_token_is_bound_to_its_parent_and_filter(fleet: Fleet) -> None:
    stub = fleet.stub
    first = await stub.ListRuns(
        ss.ListRunsRequest(parent=EVERY_SESSION, filter=WAITING, page_size=1)
    )
    token = first.next_page_token
    assert token
    for parent, filter_text in [
        (EVERY_SESSION, ""),
        (EVERY_SESSION, "state = RUNNING"),
        (EVERY_SESSION, "state  =  REQUIRES_APPROVAL"),
        ("agents/banker/sessions/-", WAITING),
        (session_of(first.runs[0].name), WAITING),
    ]:
        details = await refused(
            stub.ListRuns(
                ss.ListRunsRequest(parent=parent, filter=filter_text, page_size=1, page_token=token)
            )
        )
        assert (details.code, details.reason, details.violated_fields) == (
            INVALID_ARGUMENT,
            "PAGE_TOKEN_MISMATCH",
            ["page_token"],
        ), (parent, filter_text)
    # Another list's token is not a run list's.
    sessions = await stub.ListSessions(ss.ListSessionsRequest(parent="agents/-", page_size=1))
    details = await refused(
        stub.ListRuns(ss.ListRunsRequest(parent=EVERY_SESSION, page_token=sessions.next_page_token))
    )
    assert (details.code, details.reason) == (INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")
    # The same request goes on.
    second = await stub.ListRuns(
        ss.ListRunsRequest(parent=EVERY_SESSION, filter=WAITING, page_size=1, page_token=token)
    )
    assert [r.name for r in second.runs] != [r.name for r in first.runs]


@pytest.mark.parametrize(
    ("filter_text", "says"),
    [
        ("state = WAITING", "state must be compared with = to one of"),
        ("state : RUNNING", "state must be compared with = to one of"),
        ("status = RUNNING", "cannot read 'status = RUNNING'"),
        ("state = RUNNING AND state = FAILED", "state can appear once"),
        ("state = RUNNING OR state = FAILED", "cannot read 'OR state = FAILED'"),
        ("state = RUNNING AND", "cannot read 'AND'"),
        ('state = "' + "x" * 5000, "must be at most 4096 characters"),
        ('state = "' + "x" * 2000, "is not closed"),
        ("state = RUNNING " + "x" * 2000, "cannot read 'xxxx"),
    ],
)
async def test_a_bad_filter_is_invalid_filter_quoted_short(
    sessions, filter_text: str, says: str
) -> None:
    for parent in (EVERY_SESSION, "agents/default/sessions/-", "agents/default/sessions/s"):
        details = await refused(
            sessions.ListRuns(ss.ListRunsRequest(parent=parent, filter=filter_text))
        )
        assert (details.code, details.reason, details.violated_fields) == (
            INVALID_ARGUMENT,
            "INVALID_FILTER",
            ["filter"],
        ), details.message
        assert says in details.message
        assert len(details.message) < 300, details.message


@pytest.mark.parametrize(
    ("parent", "code", "reason"),
    [
        ("agents/-/sessions/s1", INVALID_ARGUMENT, "INVALID_NAME"),
        ("agents/-", INVALID_ARGUMENT, "INVALID_NAME"),
        ("agents/-/sessions", INVALID_ARGUMENT, "INVALID_NAME"),
        ("agents/Bad/sessions/-", INVALID_ARGUMENT, "INVALID_ID"),
        ("agents/default/sessions/Bad", INVALID_ARGUMENT, "INVALID_ID"),
        ("agents/ghost/sessions/-", grpc.StatusCode.NOT_FOUND, "AGENT_NOT_FOUND"),
        ("agents/ghost/sessions/s", grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND"),
        ("agents/default/sessions/ghost", grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND"),
    ],
)
async def test_parents(sessions, parent: str, code: grpc.StatusCode, reason: str) -> None:
    for filter_text in ("", WAITING):
        details = await refused(
            sessions.ListRuns(ss.ListRunsRequest(parent=parent, filter=filter_text))
        )
        assert (details.code, details.reason) == (code, reason), details.message


async def test_an_agent_or_a_tenant_with_no_runs_lists_none(sessions) -> None:
    for parent in (EVERY_SESSION, "agents/default/sessions/-"):
        for filter_text in ("", WAITING):
            page = await sessions.ListRuns(ss.ListRunsRequest(parent=parent, filter=filter_text))
            assert (list(page.runs), page.next_page_token) == ([], ""), (parent, filter_text)


async def test_an_agents_runs_are_found_past_a_scan_budget(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Across one agent's sessions each call examines at most SCAN_ROWS of the tenant's
    runs: pages may come back short or empty, with a token, and the walk still finds all."""
    monkeypatch.setattr(session_rules, "SCAN_ROWS", 1)
    tellers = [n for n in reversed(fleet.started) if "/teller/" in n]
    assert len(tellers) == 2
    calls = 0
    listed: list[str] = []
    token = ""
    while True:
        page = await fleet.stub.ListRuns(
            ss.ListRunsRequest(parent="agents/teller/sessions/-", page_token=token)
        )
        calls += 1
        listed += [r.name for r in page.runs]
        token = page.next_page_token
        if not token:
            break
    assert listed == tellers
    assert calls >= len(fleet.started)  # one run examined per call
