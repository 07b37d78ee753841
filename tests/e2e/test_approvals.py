"""Tool calls that wait for a person's approval, decided over RPC, against real servers."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import grpc
import pytest
from agents import function_tool
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agentsessions.server.runtime import ModelRegistry, ToolRegistry
from agentsessions.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    events_pb2,
    session_pb2,
    session_service_pb2_grpc,
)
from agentsessions.v1 import session_service_pb2 as ss
from e2e.test_runs import assert_whole_log, kind, new_session, replay
from google.protobuf import duration_pb2, field_mask_pb2
from readme_examples import run_python_example
from status_details import details_of

Run = session_pb2.Run
Approval = session_pb2.ToolApproval
Event = events_pb2.SendMessageResponse


class Bank:
    """A tool that needs approval, counting what it really did."""

    def __init__(self) -> None:
        self.transfers: list[int] = []

        @function_tool(needs_approval=True)
        def transfer(amount: int) -> str:
            """Moves money."""
            self.transfers.append(amount)
            return f"moved {amount}"

        self.tools = ToolRegistry()
        self.tools.add(transfer)


def script(*replies: str) -> ScriptedModel:
    """The model asks for a transfer of 5, then answers `replies`, one per model call."""
    steps = [ModelStep(output=[function_call("transfer", '{"amount": 5}', call_id="call-1")])]
    steps += [ModelStep(output=[assistant_message(reply)]) for reply in replies]
    return ScriptedModel(steps)


async def start(server_factory: Any, bank: Bank, model: ScriptedModel, **config: Any) -> str:
    server = await server_factory(
        models=ModelRegistry(models={"scripted": model}), tools=bank.tools, **config
    )
    address = f"127.0.0.1:{server.port}"
    async with grpc.aio.insecure_channel(address) as channel:
        await agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent_id="banker",
                agent=agent_pb2.Agent(display_name="Banker", model="scripted", tools=["transfer"]),
            )
        )
    return address


async def until_approval(stream: AsyncIterator[Event]) -> list[Event]:
    seen = []
    async for event in stream:
        seen.append(event)
        if kind(event) == "approval_required":
            return seen
    raise AssertionError(f"the stream ended without approval_required: {[kind(e) for e in seen]}")


def decide(
    run: str, decision: Approval.Decision.ValueType, message: str = "", request_id: str = ""
) -> ss.ResolveApprovalsRequest:
    return ss.ResolveApprovalsRequest(
        name=run,
        decisions=[ss.ApprovalDecision(call_id="call-1", decision=decision, message=message)],
        request_id=request_id,
    )


@pytest.fixture
def bank() -> Bank:
    return Bank()


async def test_approve_runs_the_tool_once_in_the_same_run(server_factory: Any, bank: Bank) -> None:
    address = await start(server_factory, bank, script("Moved it."))
    async with grpc.aio.insecure_channel(address) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel, "agents/banker")
        stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Pay 5"))
        before = await until_approval(stream)
        asked = before[-1].approval_required
        assert (asked.call_id, asked.tool_name, asked.arguments_json) == (
            "call-1",
            "transfer",
            '{"amount": 5}',
        )
        waiting = await stub.GetRun(ss.GetRunRequest(name=asked.run))
        assert waiting.state == Run.REQUIRES_APPROVAL
        assert [(a.call_id, a.decision) for a in waiting.approvals] == [
            ("call-1", Approval.DECISION_UNSPECIFIED)
        ]
        assert waiting.approval_expire_time.seconds > 0
        assert bank.transfers == []

        # Decided on another channel; the open stream carries the rest of the run.
        async with grpc.aio.insecure_channel(address) as other:
            decider = session_service_pb2_grpc.SessionServiceStub(other)
            request_id = str(uuid.uuid4())
            decided = await decider.ResolveApprovals(
                decide(asked.run, Approval.APPROVE, "", request_id)
            )
            assert decided.approvals[0].decision == Approval.APPROVE
            assert decided.approvals[0].request_id == request_id
            assert decided.approvals[0].decided_by
            # A retry of the same call is answered, and decides nothing twice.
            again = await decider.ResolveApprovals(
                decide(asked.run, Approval.APPROVE, "", request_id)
            )
            assert again.approvals[0].decide_time == decided.approvals[0].decide_time
        after = [e async for e in stream]
        events = before + after
        assert_whole_log(events)
        assert [kind(e) for e in after if kind(e) != "text_delta"] == [
            "tool_output",
            "message_completed",
            "run_completed",
        ]
        assert after[-1].run_completed.final_output == "Moved it."
        assert events == await replay(channel, asked.run)
        assert bank.transfers == [5]

        # Deciding again, by another request, is refused and runs nothing.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ResolveApprovals(decide(asked.run, Approval.REJECT, "no"))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert details_of(refused.value).reason == "ALREADY_DECIDED"
        assert bank.transfers == [5]
        items = await stub.ListItems(ss.ListItemsRequest(parent=session))
        assert [i.type for i in items.items] == [
            "message",
            "function_call",
            "function_call_output",
            "message",
        ]
        final = await stub.GetRun(ss.GetRunRequest(name=asked.run))
        assert final.state == Run.COMPLETED and final.approvals[0].decision == Approval.APPROVE


async def test_reject_gives_the_model_the_message_and_the_tool_never_runs(
    server_factory: Any, bank: Bank
) -> None:
    model = script("I will not move it.")
    address = await start(server_factory, bank, model)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel, "agents/banker")
        stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Pay 5"))
        before = await until_approval(stream)
        run = before[-1].approval_required.run
        await stub.ResolveApprovals(decide(run, Approval.REJECT, "Not this month."))
        after = [e async for e in stream]
        assert kind(after[-1]) == "run_completed"
        assert bank.transfers == []
        output = next(e.tool_output for e in after if kind(e) == "tool_output")
        assert output.output == "Not this month."
        # What the model was given on its second call holds the rejection as the output.
        last_call = model.last_call
        assert last_call is not None
        second_input = last_call.input
        assert any(
            isinstance(item, dict)
            and item.get("type") == "function_call_output"
            and item.get("output") == "Not this month."
            for item in second_input
        )


async def test_a_decision_with_no_stream_open_and_the_rest_followed_later(
    server_factory: Any, bank: Bank
) -> None:
    address = await start(server_factory, bank, script("Moved it."))
    async with grpc.aio.insecure_channel(address) as channel:
        session = await new_session(channel, "agents/banker")
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Pay 5"))
        before = await until_approval(stream)
        stream.cancel()  # the caller goes away: a waiting run is not cancelled by that
    run = before[-1].approval_required.run
    async with grpc.aio.insecure_channel(address) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        assert (await stub.GetRun(ss.GetRunRequest(name=run))).state == Run.REQUIRES_APPROVAL
        await stub.ResolveApprovals(decide(run, Approval.APPROVE))
        rest = [
            e
            async for e in stub.StreamRunEvents(
                ss.StreamRunEventsRequest(name=run, after_sequence=before[-1].sequence)
            )
        ]
        assert_whole_log(before + rest)
        assert kind(rest[-1]) == "run_completed"
        assert bank.transfers == [5]


async def test_an_undecided_call_expires_and_the_session_is_free(
    server_factory: Any, bank: Bank
) -> None:
    address = await start(
        server_factory, bank, script("never"), approval_timeout_seconds=0.2, lease_seconds=0.4
    )
    async with grpc.aio.insecure_channel(address) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel, "agents/banker")
        stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Pay 5"))
        before = await until_approval(stream)
        after = [e async for e in stream]
        assert [kind(e) for e in after] == ["run_cancelled"]
        assert after[-1].run_cancelled.reason == "APPROVAL_EXPIRED"
        assert after[-1].run_cancelled.run.state == Run.CANCELLED
        assert_whole_log(before + after)
        # The call has an output saying it did not run: no call without its output.
        items = await stub.ListItems(ss.ListItemsRequest(parent=session))
        assert [i.type for i in items.items] == ["message", "function_call", "function_call_output"]
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await stub.ResolveApprovals(decide(before[-1].approval_required.run, Approval.APPROVE))
        assert details_of(late.value).reason == "RUN_NOT_WAITING"
        assert bank.transfers == []


async def test_cancel_run_ends_a_waiting_run(server_factory: Any, bank: Bank) -> None:
    address = await start(server_factory, bank, script("never"))
    async with grpc.aio.insecure_channel(address) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel, "agents/banker")
        stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Pay 5"))
        before = await until_approval(stream)
        run = before[-1].approval_required.run
        cancelled = await stub.CancelRun(ss.CancelRunRequest(name=run))
        assert cancelled.state == Run.CANCELLED
        after = [e async for e in stream]
        assert [kind(e) for e in after] == ["run_cancelled"]
        items = await stub.ListItems(ss.ListItemsRequest(parent=session))
        assert [i.type for i in items.items] == ["message", "function_call", "function_call_output"]
        # The session takes a new message at once.
        again = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Pay 5"))
        assert kind(await anext(aiter(again))) == "run_started"
        again.cancel()


async def test_a_waiting_run_survives_a_restart(
    server_factory: Any, bank: Bank, tmp_path: Path
) -> None:
    db = str(tmp_path / "approvals.db")
    first = await server_factory(
        db=db, models=ModelRegistry(models={"scripted": script()}), tools=bank.tools
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{first.port}") as channel:
        await agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent_id="banker",
                agent=agent_pb2.Agent(display_name="Banker", model="scripted", tools=["transfer"]),
            )
        )
        session = await new_session(channel, "agents/banker")
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Pay 5"))
        before = await until_approval(stream)
    await first.stop(0)
    # Another process on the same database: only the store knows the run.
    second = await server_factory(
        db=db, models=ModelRegistry(models={"scripted": script("Moved it.")}), tools=bank.tools
    )
    run = before[-1].approval_required.run
    async with grpc.aio.insecure_channel(f"127.0.0.1:{second.port}") as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        assert (await stub.GetRun(ss.GetRunRequest(name=run))).state == Run.REQUIRES_APPROVAL
        await stub.ResolveApprovals(decide(run, Approval.APPROVE))
        events = await replay_to_end(stub, run)
        assert kind(events[-1]) == "run_completed"
        assert events[: len(before)] == before
        assert bank.transfers == [5]


async def replay_to_end(stub: session_service_pb2_grpc.SessionServiceStub, run: str) -> list[Event]:
    async with asyncio.timeout(30):
        return [e async for e in stub.StreamRunEvents(ss.StreamRunEventsRequest(name=run))]


@pytest.mark.parametrize(
    ("decisions", "field"),
    [
        ([], "decisions"),
        ([ss.ApprovalDecision(call_id="", decision=Approval.APPROVE)], "decisions[0].call_id"),
        ([ss.ApprovalDecision(call_id="call-1")], "decisions[0].decision"),
        (
            [ss.ApprovalDecision(call_id="call-1", decision=Approval.APPROVE, message="x")],
            "decisions[0].message",
        ),
        (
            [ss.ApprovalDecision(call_id="call-1", decision=Approval.REJECT)] * 2,
            "decisions[1].call_id",
        ),
        ([ss.ApprovalDecision(call_id="other", decision=Approval.APPROVE)], "decisions[0].call_id"),
    ],
)
async def test_bad_decisions_are_invalid_and_decide_nothing(
    server_factory: Any, bank: Bank, decisions: list[ss.ApprovalDecision], field: str
) -> None:
    address = await start(server_factory, bank, script("never"))
    async with grpc.aio.insecure_channel(address) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel, "agents/banker")
        stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Pay 5"))
        run = (await until_approval(stream))[-1].approval_required.run
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.ResolveApprovals(ss.ResolveApprovalsRequest(name=run, decisions=decisions))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in bad.value.details()
        waiting = await stub.GetRun(ss.GetRunRequest(name=run))
        assert waiting.state == Run.REQUIRES_APPROVAL
        assert waiting.approvals[0].decision == Approval.DECISION_UNSPECIFIED
        stream.cancel()


async def test_the_readme_example_approves_and_reads_the_rest(
    server_factory: Any, bank: Bank, tmp_path: Path
) -> None:
    address = await start(server_factory, bank, script("Sent 5 euros to Ann."))
    async with grpc.aio.insecure_channel(address) as channel:
        await session_service_pb2_grpc.SessionServiceStub(channel).CreateSession(
            ss.CreateSessionRequest(
                parent="agents/banker",
                session_id="s1",
                session=session_pb2.Session(display_name="README"),
            )
        )
    printed = await run_python_example("approvals", address, tmp_path)
    assert printed.splitlines() == [
        'transfer({"amount": 5}) needs approval',
        "Sent 5 euros to Ann.",
    ]
    assert bank.transfers == [5]


async def test_the_agents_approval_policy_makes_a_plain_tool_wait(server_factory: Any) -> None:
    runs: list[str] = []

    @function_tool
    def delete_records(table: str) -> str:
        """Deletes a table's records."""
        runs.append(table)
        return f"deleted {table}"

    tools = ToolRegistry()
    tools.add(delete_records)
    model = ScriptedModel(
        [
            ModelStep(output=[function_call("delete_records", '{"table": "t"}', call_id="d-1")]),
            ModelStep(output=[assistant_message("Deleted.")]),
        ]
    )
    server = await server_factory(models=ModelRegistry(models={"scripted": model}), tools=tools)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        agents = agent_pb2_grpc.AgentServiceStub(channel)
        agent = agent_pb2.Agent(
            display_name="Janitor",
            model="scripted",
            tools=["delete_records"],
            approval_policy=agent_pb2.ApprovalPolicy(
                tools=["delete_records"], timeout=duration_pb2.Duration(seconds=90)
            ),
        )
        created = await agents.CreateAgent(
            agent_pb2.CreateAgentRequest(agent_id="janitor", agent=agent)
        )
        assert list(created.approval_policy.tools) == ["delete_records"]
        assert created.approval_policy.timeout.seconds == 90
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel, "agents/janitor")
        stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Clean"))
        asked = (await until_approval(stream))[-1].approval_required
        assert asked.tool_name == "delete_records" and runs == []
        # The agent's timeout, not the server's: 90 s from now.
        waiting = await stub.GetRun(ss.GetRunRequest(name=asked.run))
        left = waiting.approval_expire_time.seconds - time.time()
        assert 60 < left <= 91
        await stub.ResolveApprovals(
            ss.ResolveApprovalsRequest(
                name=asked.run,
                decisions=[ss.ApprovalDecision(call_id="d-1", decision=Approval.APPROVE)],
            )
        )
        assert kind([e async for e in stream][-1]) == "run_completed"
        assert runs == ["t"]

        # The policy is a field like the others: its sub-fields update alone.
        changed = await agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(
                agent=agent_pb2.Agent(name="agents/janitor"),
                update_mask=field_mask_pb2.FieldMask(paths=["approval_policy.tools"]),
            )
        )
        assert list(changed.approval_policy.tools) == []
        assert changed.approval_policy.timeout.seconds == 90


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (agent_pb2.ApprovalPolicy(tools=["transfer", "other"]), "agent.approval_policy.tools"),
        (
            agent_pb2.ApprovalPolicy(timeout=duration_pb2.Duration(nanos=500_000_000)),
            "agent.approval_policy.timeout",
        ),
        (
            agent_pb2.ApprovalPolicy(timeout=duration_pb2.Duration(seconds=31 * 86_400)),
            "agent.approval_policy.timeout",
        ),
        (
            agent_pb2.ApprovalPolicy(timeout=duration_pb2.Duration(seconds=-5)),
            "agent.approval_policy.timeout",
        ),
    ],
)
async def test_an_approval_policy_names_only_the_agents_tools_and_a_sane_timeout(
    server_factory: Any, bank: Bank, policy: agent_pb2.ApprovalPolicy, field: str
) -> None:
    server = await server_factory(tools=bank.tools)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
                agent_pb2.CreateAgentRequest(
                    agent=agent_pb2.Agent(
                        display_name="Bad", tools=["transfer"], approval_policy=policy
                    )
                )
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in details_of(bad.value).violated_fields


async def test_partial_decisions_wait_for_the_rest(server_factory: Any, bank: Bank) -> None:
    calls = [
        function_call("transfer", '{"amount": 5}', call_id="call-1"),
        function_call("transfer", '{"amount": 7}', call_id="call-2"),
    ]
    model = ScriptedModel([ModelStep(output=calls), ModelStep(output=[assistant_message("Ok.")])])
    address = await start(server_factory, bank, model)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel, "agents/banker")
        stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Pay"))
        run = (await until_approval(stream))[-1].approval_required.run
        first = await stub.ResolveApprovals(decide(run, Approval.REJECT, "Not that one."))
        assert first.state == Run.REQUIRES_APPROVAL
        assert [a.decision for a in first.approvals] == [
            Approval.REJECT,
            Approval.DECISION_UNSPECIFIED,
        ]
        assert bank.transfers == []
        second = await stub.ResolveApprovals(
            ss.ResolveApprovalsRequest(
                name=run,
                decisions=[ss.ApprovalDecision(call_id="call-2", decision=Approval.APPROVE)],
            )
        )
        assert [a.decision for a in second.approvals] == [Approval.REJECT, Approval.APPROVE]
        rest = [e async for e in stream]
        assert kind(rest[-1]) == "run_completed"
        assert bank.transfers == [7]
        outputs = [e.tool_output.output for e in rest if kind(e) == "tool_output"]
        assert sorted(outputs) == ["Not that one.", "moved 7"]


async def test_a_run_that_cannot_go_on_after_its_decision_ends_failed(
    server_factory: Any, bank: Bank, tmp_path: Path
) -> None:
    """The decision is committed before the run is rebuilt: a state that cannot be loaded
    ends the run FAILED and frees the session; the call still answers with the run."""
    db = tmp_path / "damaged.db"
    server = await server_factory(
        db=str(db), models=ModelRegistry(models={"scripted": script("x")}), tools=bank.tools
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        await agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent_id="banker",
                agent=agent_pb2.Agent(display_name="Banker", model="scripted", tools=["transfer"]),
            )
        )
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel, "agents/banker")
        stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Pay 5"))
        run = (await until_approval(stream))[-1].approval_required.run
        with closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("UPDATE runs SET run_state = ? WHERE state = 6", (b"[not json",))
        decided = await stub.ResolveApprovals(decide(run, Approval.APPROVE))
        assert decided.approvals[0].decision == Approval.APPROVE
        rest = [e async for e in stream]
        assert kind(rest[-1]) == "run_failed"
        assert bank.transfers == []
        again = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="Hi"))
        assert kind(await anext(aiter(again))) == "run_started"  # the session is free
        again.cancel()
