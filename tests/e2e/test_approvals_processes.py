"""Approvals across processes: a waiting run survives SIGKILL, and is decided on another worker.

The servers are `agentsessions serve` processes whose agent's model is a local fake
chat-completions endpoint (an OpenAI-compatible provider in the server's config) that calls
the built-in `calculate` tool; the agent's approval policy makes that call wait.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from agentsessions.v1 import agent_pb2, agent_pb2_grpc, events_pb2, session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from e2e.test_runs_processes import (
    Channels,
    Stub,
    T,
    assert_one_whole_run,
    collect,
    kinds,
    replay,
    run_owner,
)
from fakes.chat_completions import FakeChatCompletions, Reply, ToolCall
from server_process import ServerProcess

Run = session_pb2.Run
Approval = session_pb2.ToolApproval
Event = events_pb2.SendMessageResponse


def replies() -> list[Reply]:
    return [
        Reply(tool_calls=[ToolCall("calculate", {"expression": "6*7"}, "call-9")]),
        Reply("It is 42."),
    ]


def config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "agentsessions.toml"
    path.write_text(f'[providers.local]\nbase_url = "{base_url}"\n')
    return path


async def create_agent(channel: grpc.aio.Channel) -> None:
    await agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
        agent_pb2.CreateAgentRequest(
            agent_id="calc",
            agent=agent_pb2.Agent(
                display_name="Calculator",
                model="local/tiny",
                tools=["calculate"],
                approval_policy=agent_pb2.ApprovalPolicy(tools=["calculate"]),
            ),
        ),
        timeout=T,
    )


async def until_approval(call: grpc.aio.UnaryStreamCall) -> list[Event]:
    seen: list[Event] = []
    async for event in call:
        seen.append(event)
        if event.WhichOneof("event") == "approval_required":
            return seen
    raise AssertionError(f"no approval_required: {kinds(seen)}")


async def new_session(stub: Stub, session_id: str) -> str:
    session = await stub.CreateSession(
        ss.CreateSessionRequest(
            parent="agents/calc",
            session_id=session_id,
            session=session_pb2.Session(display_name=session_id),
        ),
        timeout=T,
    )
    return session.name


def approve(run: str) -> ss.ResolveApprovalsRequest:
    decision = ss.ApprovalDecision(call_id="call-9", decision=Approval.APPROVE)
    return ss.ResolveApprovalsRequest(name=run, decisions=[decision])


@pytest.mark.slow
async def test_a_waiting_run_survives_sigkill_and_goes_on_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "approvals.db"
    async with asyncio.timeout(120), FakeChatCompletions(replies()) as fake:
        settings = config(tmp_path, fake.base_url)
        with ServerProcess(db, "--config", str(settings)) as first:
            async with grpc.aio.insecure_channel(first.address) as channel:
                await create_agent(channel)
                session = await new_session(Stub(channel), "survivor")
                before = await until_approval(
                    Stub(channel).SendMessage(
                        events_pb2.SendMessageRequest(session=session, text="6*7?"), timeout=T
                    )
                )
                first.kill()
        run = before[-1].approval_required.run
        with ServerProcess(db, "--config", str(settings)) as second:
            async with grpc.aio.insecure_channel(second.address) as channel:
                stub = Stub(channel)
                waiting = await stub.GetRun(ss.GetRunRequest(name=run), timeout=T)
                assert waiting.state == Run.REQUIRES_APPROVAL, "the restart ended a waiting run"
                await stub.ResolveApprovals(approve(run), timeout=T)
                rest = await collect(replay(stub, run, before[-1].sequence))
                events = before + rest
                assert_one_whole_run(events)
                assert kinds(rest)[0] == "tool_output" and rest[0].tool_output.output == "42"
                assert rest[-1].run_completed.final_output == "It is 42."
                items = await stub.ListItems(ss.ListItemsRequest(parent=session), timeout=T)
                assert [i.type for i in items.items] == [
                    "message",
                    "function_call",
                    "function_call_output",
                    "message",
                ]
            assert await asyncio.to_thread(second.stop) == 0
    assert len(fake.requests) == 2


@pytest.mark.slow
async def test_a_run_stopped_on_one_worker_goes_on_where_it_is_decided(tmp_path: Path) -> None:
    db = tmp_path / "workers.db"
    async with asyncio.timeout(120), FakeChatCompletions(replies()) as fake:
        settings = config(tmp_path, fake.base_url)
        with ServerProcess(db, "--workers", "2", "--config", str(settings)) as server:
            channels = Channels(server)
            try:
                await channels.spread(per_worker=1)
                one, other = channels.workers
                await create_agent(channels.by_worker[one][0])
                session = await new_session(channels.stub(one), "spread")
                before = await until_approval(
                    channels.stub(one).SendMessage(
                        events_pb2.SendMessageRequest(session=session, text="6*7?"), timeout=T
                    )
                )
                run = before[-1].approval_required.run
                assert run_owner(db, run) == one
                decided = await channels.stub(other).ResolveApprovals(approve(run), timeout=T)
                assert decided.approvals[0].decision == Approval.APPROVE
                # It goes on on the worker that decided; the first worker follows it there.
                rest = await collect(replay(channels.stub(one), run, before[-1].sequence))
                assert_one_whole_run(before + rest)
                assert rest[-1].run_completed.final_output == "It is 42."
                assert run_owner(db, run) == other
            finally:
                await channels.aclose()
            assert await asyncio.to_thread(server.stop) == 0
    assert len(fake.requests) == 2
