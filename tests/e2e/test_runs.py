"""Runs as resources, through the stubs: resume after a dropped stream, idempotent sends, cancel."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
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
from status_details import details_of

Run = session_pb2.Run
Event = events_pb2.SendMessageResponse
TERMINAL = {"run_completed", "run_failed", "run_cancelled"}
WORDS = " ".join(f"word{n}" for n in range(40))


def kind(event: Event) -> str:
    return str(event.WhichOneof("event"))


def run_of(events: list[Event]) -> str:
    assert kind(events[0]) == "run_started"
    return events[0].run_started.run


async def new_session(channel: grpc.aio.Channel, agent: str = "agents/default") -> str:
    stub = session_service_pb2_grpc.SessionServiceStub(channel)
    created = await stub.CreateSession(
        ss.CreateSessionRequest(parent=agent, session=session_pb2.Session(display_name="runs"))
    )
    return created.name


async def replay(channel: grpc.aio.Channel, run: str, after: int = 0) -> list[Event]:
    stub = session_service_pb2_grpc.SessionServiceStub(channel)
    request = ss.StreamRunEventsRequest(name=run, after_sequence=after)
    return [event async for event in stub.StreamRunEvents(request)]


async def first_events(stream: AsyncIterator[Event], count: int) -> list[Event]:
    seen = []
    async for event in stream:
        seen.append(event)
        if len(seen) == count:
            break
    return seen


def assert_whole_log(events: list[Event]) -> None:
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert [kind(e) in TERMINAL for e in events].count(True) == 1
    assert kind(events[-1]) in TERMINAL


@pytest.fixture
async def slow_server(server_factory: Any) -> str:
    server = await server_factory(echo_word_delay_seconds=0.01)
    return f"127.0.0.1:{server.port}"


async def test_continue_then_resume_elsewhere_sees_every_event_once(slow_server: str) -> None:
    first = grpc.aio.insecure_channel(slow_server)
    session = await new_session(first)
    stub = session_service_pb2_grpc.SessionServiceStub(first)
    request = events_pb2.SendMessageRequest(
        session=session, text=WORDS, on_disconnect=Run.DisconnectPolicy.CONTINUE
    )
    seen = await first_events(stub.SendMessage(request), 6)
    await first.close()  # the caller goes away mid-reply

    async with grpc.aio.insecure_channel(slow_server) as second:
        rest = await replay(second, run_of(seen), after=seen[-1].sequence)
        everything = await replay(second, run_of(seen))
        assert seen + rest == everything
        assert_whole_log(everything)
        assert kind(everything[-1]) == "run_completed"
        # After the end: a replay from any position is the tail, and from the end is empty.
        middle = len(everything) // 2
        assert await replay(second, run_of(seen), after=middle) == everything[middle:]
        assert await replay(second, run_of(seen), after=len(everything)) == []
        sessions = session_service_pb2_grpc.SessionServiceStub(second)
        run = await sessions.GetRun(ss.GetRunRequest(name=run_of(seen)))
        assert run.state == Run.COMPLETED
        assert run.on_disconnect == Run.DisconnectPolicy.CONTINUE
        assert run.last_event_sequence == len(everything)
        assert run.HasField("events_expire_time")


async def test_a_dropped_caller_cancels_its_run_by_default(slow_server: str) -> None:
    first = grpc.aio.insecure_channel(slow_server)
    session = await new_session(first)
    stub = session_service_pb2_grpc.SessionServiceStub(first)
    request = events_pb2.SendMessageRequest(session=session, text=WORDS)
    seen = await first_events(stub.SendMessage(request), 4)
    await first.close()

    async with grpc.aio.insecure_channel(slow_server) as second:
        events = await replay(second, run_of(seen))
        assert_whole_log(events)
        assert kind(events[-1]) == "run_cancelled"
        assert events[-1].run_cancelled.reason == "the caller disconnected"
        run = events[-1].run_cancelled.run
        assert run.state == Run.CANCELLED and run.cancel_mode == Run.CancelMode.IMMEDIATE


async def test_stream_position_past_the_log_is_out_of_range(channel: grpc.aio.Channel) -> None:
    session = await new_session(channel)
    stub = session_service_pb2_grpc.SessionServiceStub(channel)
    events = [
        e async for e in stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="hi"))
    ]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await replay(channel, run_of(events), after=len(events) + 1)
    assert error.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert details_of(error.value).reason == "SEQUENCE_AHEAD"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await replay(channel, f"{session}/runs/{uuid.uuid4()}")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_events_past_retention_are_expired_not_silently_missing(
    server_factory: Any,
) -> None:
    server = await server_factory(event_retention_seconds=0.3, lease_seconds=0.4)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        session = await new_session(channel)
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        request = events_pb2.SendMessageRequest(session=session, text="short lived")
        events = [e async for e in stub.SendMessage(request)]
        run = run_of(events)
        deadline = asyncio.get_running_loop().time() + 10
        while True:  # the sweep runs every 0.1 s with this lease period
            try:
                await replay(channel, run)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.OUT_OF_RANGE
                assert details_of(error).reason == "EVENTS_EXPIRED"
                break
            assert asyncio.get_running_loop().time() < deadline, "events were never expired"
            await asyncio.sleep(0.05)
        # Nothing was missed by a caller that had seen the whole run.
        assert await replay(channel, run, after=len(events)) == []


async def test_retry_with_the_same_request_id_joins_the_run(slow_server: str) -> None:
    request_id = str(uuid.uuid4())
    first = grpc.aio.insecure_channel(slow_server)
    session = await new_session(first)
    request = events_pb2.SendMessageRequest(
        session=session,
        text=WORDS,
        request_id=request_id,
        on_disconnect=Run.DisconnectPolicy.CONTINUE,
    )
    stub = session_service_pb2_grpc.SessionServiceStub(first)
    seen = await first_events(stub.SendMessage(request), 3)
    await first.close()  # the connection drops; the caller retries

    async with grpc.aio.insecure_channel(slow_server) as second:
        sessions = session_service_pb2_grpc.SessionServiceStub(second)
        retried = [e async for e in sessions.SendMessage(request)]
        assert retried[: len(seen)] == seen
        assert_whole_log(retried)
        request.after_sequence = 5
        tail = [e async for e in sessions.SendMessage(request)]
        assert tail == retried[5:]
        runs = await sessions.ListRuns(ss.ListRunsRequest(parent=session))
        assert [r.name for r in runs.runs] == [run_of(seen)]
        assert runs.runs[0].request_id == request_id
        items = await sessions.ListItems(ss.ListItemsRequest(parent=session))
        assert [i.role for i in items.items] == ["user", "assistant"]

        other = events_pb2.SendMessageRequest(session=session, text="else", request_id=request_id)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            [e async for e in sessions.SendMessage(other)]
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert details_of(error.value).reason == "REQUEST_ID_REUSED"


async def test_cancel_run_immediate(slow_server: str) -> None:
    async with grpc.aio.insecure_channel(slow_server) as channel:
        session = await new_session(channel)
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        request = events_pb2.SendMessageRequest(session=session, text=WORDS)
        stream = stub.SendMessage(request)
        seen = await first_events(stream, 4)
        cancelled = await stub.CancelRun(
            ss.CancelRunRequest(name=run_of(seen), mode=Run.CancelMode.IMMEDIATE)
        )
        assert cancelled.state == Run.CANCELLED
        assert cancelled.cancel_mode == Run.CancelMode.IMMEDIATE
        assert cancelled.cancel_reason == "cancelled by CancelRun"
        rest = [e async for e in stream]
        assert kind(rest[-1]) == "run_cancelled"
        assert rest[-1].run_cancelled.reason == "cancelled by CancelRun"
        # Idempotent: a finished run comes back unchanged.
        again = await stub.CancelRun(ss.CancelRunRequest(name=run_of(seen)))
        assert again == cancelled
        items = await stub.ListItems(ss.ListItemsRequest(parent=session))
        assert [i.role for i in items.items] == ["user"]  # the unfinished reply is not stored


async def test_cancel_run_after_turn_keeps_the_tool_turn(server_factory: Any) -> None:
    tool_started = asyncio.Event()
    release = asyncio.Event()
    calls = []

    @function_tool
    async def slow_lookup(topic: str) -> str:
        """Looks a topic up, slowly."""
        calls.append(topic)
        tool_started.set()
        await release.wait()
        return f"notes on {topic}"

    tools = ToolRegistry()
    tools.add(slow_lookup)
    model = ScriptedModel(
        [
            ModelStep(
                output=[function_call("slow_lookup", '{"topic": "tides"}', call_id="call-1")]
            ),
            ModelStep(output=[assistant_message("Never said")]),
        ]
    )
    server = await server_factory(models=ModelRegistry(models={"scripted": model}), tools=tools)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        agents = agent_pb2_grpc.AgentServiceStub(channel)
        await agents.CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent_id="researcher",
                agent=agent_pb2.Agent(
                    display_name="Researcher", model="scripted", tools=["slow_lookup"]
                ),
            )
        )
        session = await new_session(channel, "agents/researcher")
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        stream = stub.SendMessage(events_pb2.SendMessageRequest(session=session, text="tides?"))
        first = await first_events(stream, 1)
        await tool_started.wait()
        cancel = asyncio.ensure_future(
            stub.CancelRun(ss.CancelRunRequest(name=run_of(first), mode=Run.CancelMode.AFTER_TURN))
        )
        # The request is recorded while the tool still runs; then the tool may finish.
        for _ in range(1000):
            if (await stub.GetRun(ss.GetRunRequest(name=run_of(first)))).cancel_mode:
                break
            await asyncio.sleep(0.01)
        release.set()
        cancelled = await cancel
        assert cancelled.state == Run.CANCELLED
        assert cancelled.cancel_mode == Run.CancelMode.AFTER_TURN
        events = first + [e async for e in stream]
        assert_whole_log(events)
        assert [kind(e) for e in events if kind(e).startswith("tool")] == [
            "tool_called",
            "tool_output",
        ]
        items = await stub.ListItems(ss.ListItemsRequest(parent=session))
        assert [i.type for i in items.items] == ["message", "function_call", "function_call_output"]
        assert calls == ["tides"]
