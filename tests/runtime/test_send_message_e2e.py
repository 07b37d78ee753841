"""SendMessage end to end through the generated stubs, against a real server on port 0."""

from __future__ import annotations

import asyncio
import json

import grpc
import httpx2
import openai
import pytest
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agentsessions.server.config import ProviderConfig
from agentsessions.server.runtime import ModelRegistry
from agentsessions.v1 import events_pb2, session_pb2
from fakes.chat_completions import FakeChatCompletions, Reply, ToolCall
from google.rpc import code_pb2, error_details_pb2
from runtime.conftest import Connect
from runtime.runtime_support import gated_stream
from runtime.send_message_support import kinds
from status_details import details_of

RUN = session_pb2.Run


async def test_default_agent_echoes_word_by_word(connect: Connect) -> None:
    api = await connect()
    session = await api.session_with("default")
    events = await api.send(session, "Hello from the stubs")

    assert kinds(events) == [
        "run_started",
        "agent_updated",
        "text_delta",
        "text_delta",
        "text_delta",
        "text_delta",
        "message_completed",
        "run_completed",
    ]
    assert [e.sequence for e in events] == list(range(1, 9))
    assert all(e.HasField("event_time") for e in events)
    started = events[0].run_started
    assert started.run.startswith(f"{session}/runs/")
    assert started.agent == "agents/default"
    assert [(i.name, i.role, i.text) for i in started.input_items] == [
        (f"{session}/items/1", "user", "Hello from the stubs")
    ]
    assert events[1].agent_updated.to_agent == "agents/default"
    assert "".join(e.text_delta.delta for e in events[2:6]) == "Hello from the stubs"
    message = events[6].message_completed
    assert (message.item.sequence, message.item.role) == (2, "assistant")
    assert message.item.text == "Hello from the stubs" and message.agent == "agents/default"
    completed = events[-1].run_completed
    assert completed.final_output == "Hello from the stubs"
    assert completed.run.name == started.run and completed.run.state == RUN.COMPLETED
    assert completed.usage.requests == 1 and completed.usage.output_tokens == 4
    assert completed.session_stats.item_count == 2 and completed.session_stats.run_count == 1
    assert [i.text for i in await api.items(session)] == ["Hello from the stubs"] * 2


async def test_tool_call_and_handoff(connect: Connect) -> None:
    triage = ScriptedModel(
        [
            [function_call("calculate", {"expression": "2**10"}, call_id="c1")],
            [function_call("transfer_to_writer", {}, call_id="h1")],
        ]
    )
    writer = ScriptedModel([[assistant_message("It is 1024.")]])
    api = await connect(models=ModelRegistry(models={"triage": triage, "writer": writer}))
    await api.session_with("writer", model="writer")
    session = await api.session_with(
        "triage", model="triage", tools=["calculate"], handoffs=["agents/writer"]
    )
    events = await api.send(session, "2 to the 10th?")

    assert kinds(events) == [
        "run_started",
        "agent_updated",
        "tool_called",
        "tool_output",
        "tool_called",
        "tool_output",
        "agent_updated",
        "text_delta",
        "message_completed",
        "run_completed",
    ]
    called, output = events[2].tool_called, events[3].tool_output
    assert (called.call_id, called.tool_name) == ("c1", "calculate")
    assert json.loads(called.arguments_json) == {"expression": "2**10"}
    assert called.item.name == f"{session}/items/2" and called.item.type == "function_call"
    assert (output.call_id, output.output, output.item.sequence) == ("c1", "1024", 3)
    handoff = events[6].agent_updated
    assert (handoff.from_agent, handoff.to_agent) == ("agents/triage", "agents/writer")
    assert events[8].message_completed.agent == "agents/writer"
    completed = events[-1].run_completed
    assert completed.run.last_agent == "agents/writer"
    assert completed.session_stats.function_call_count == 2
    assert completed.session_stats.item_count == 6


async def test_model_error_is_a_failed_run_with_a_status(connect: Connect) -> None:
    unreachable = openai.APIConnectionError(request=httpx2.Request("POST", "http://m/v1"))
    api = await connect(models=ModelRegistry(models={"scripted": ScriptedModel([unreachable])}))
    session = await api.session_with("flaky", model="scripted")
    events = await api.send(session, "anyone there?")

    assert kinds(events) == ["run_started", "agent_updated", "run_failed"]
    failed = events[-1].run_failed
    assert failed.error.code == code_pb2.UNAVAILABLE
    info = error_details_pb2.ErrorInfo()
    assert failed.error.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("MODEL_UNAVAILABLE", "agentsessions")
    assert failed.run.state == RUN.FAILED and failed.run.error.code == code_pb2.UNAVAILABLE
    assert failed.session_stats.run_count == 1 and failed.session_stats.item_count == 1
    (run,) = await api.runs(session)
    assert run.state == RUN.FAILED and run.error.message == failed.error.message


async def test_client_cancel_mid_stream(connect: Connect) -> None:
    streaming = asyncio.Event()
    model = ScriptedModel(
        [
            ModelStep.stream(gated_stream(["Half ", "a "], asyncio.Event(), started=streaming)),
            [assistant_message("Whole.")],
        ]
    )
    api = await connect(models=ModelRegistry(models={"scripted": model}))
    session = await api.session_with("slow", model="scripted")
    call = api.sessions.SendMessage(events_pb2.SendMessageRequest(session=session, text="one"))
    seen = []
    async for event in call:
        seen.append(event)
        if event.WhichOneof("event") == "text_delta" and len(seen) == 4:
            break
    await streaming.wait()
    call.cancel()

    # Waiting its turn, the next message runs only once the cancelled run was recorded.
    after = await api.send(session, "two", wait_if_busy=True)
    assert after[-1].run_completed.final_output == "Whole."
    assert after[-1].run_completed.session_stats.run_count == 2
    assert [i.text for i in await api.items(session)] == ["one", "two", "Whole."]
    newest, cancelled = await api.runs(session)
    assert cancelled.name == seen[0].run_started.run
    assert cancelled.state == RUN.CANCELLED and cancelled.HasField("end_time")
    assert newest.state == RUN.COMPLETED


async def test_deadline_cancels_the_run(connect: Connect) -> None:
    model = ScriptedModel(
        [ModelStep.stream(gated_stream(["Slow"], asyncio.Event())), [assistant_message("Next")]]
    )
    api = await connect(models=ModelRegistry(models={"scripted": model}))
    session = await api.session_with("slow", model="scripted")
    request = events_pb2.SendMessageRequest(session=session, text="hurry")
    seen = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for event in api.sessions.SendMessage(request, timeout=1.0):
            seen.append(event.WhichOneof("event"))
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert seen == ["run_started", "agent_updated", "text_delta"]

    after = await api.send(session, "again", wait_if_busy=True)
    newest, timed_out = await api.runs(session)
    assert timed_out.state == RUN.CANCELLED and newest.state == RUN.COMPLETED
    assert [i.text for i in await api.items(session)] == ["hurry", "again", "Next"]
    stats = after[-1].run_completed.session_stats
    assert (stats.run_count, stats.item_count, stats.message_count) == (2, 3, 3)


async def test_busy_session_is_aborted_with_the_run_name(connect: Connect) -> None:
    gate, streaming = asyncio.Event(), asyncio.Event()
    model = ScriptedModel([ModelStep.stream(gated_stream(["Busy"], gate, started=streaming))])
    api = await connect(models=ModelRegistry(models={"scripted": model}))
    session = await api.session_with("slow", model="scripted")
    first = asyncio.create_task(api.send(session, "first"))
    await streaming.wait()

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await api.send(session, "second")
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.ABORTED and details.reason == "SESSION_BUSY"
    gate.set()
    events = await first
    assert details.error_info.metadata["run"] == events[0].run_started.run
    assert events[-1].WhichOneof("event") == "run_completed"


async def test_server_stop_ends_a_run_with_run_cancelled(connect: Connect) -> None:
    streaming = asyncio.Event()
    model = ScriptedModel(
        [ModelStep.stream(gated_stream(["Long "], asyncio.Event(), started=streaming))]
    )
    api = await connect(models=ModelRegistry(models={"scripted": model}))
    session = await api.session_with("slow", model="scripted")
    call = asyncio.create_task(api.send(session, "stay a while"))
    await streaming.wait()
    await api.server.stop(grace=1.0)
    events = await call

    assert kinds(events) == ["run_started", "agent_updated", "text_delta", "run_cancelled"]
    cancelled = events[-1].run_cancelled
    assert cancelled.reason == "the server is stopping"
    assert cancelled.run.state == RUN.CANCELLED and cancelled.run.HasField("end_time")


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"text": "   "}, grpc.StatusCode.INVALID_ARGUMENT, "text"),
        ({}, grpc.StatusCode.INVALID_ARGUMENT, "text"),
        (
            {"input_items_json": '{"role": "user"}'},
            grpc.StatusCode.INVALID_ARGUMENT,
            "input_items_json",
        ),
        ({"text": "hi", "max_turns": -1}, grpc.StatusCode.INVALID_ARGUMENT, "max_turns"),
        (
            {"text": "hi", "session": "agents/default/sessions/nope"},
            grpc.StatusCode.NOT_FOUND,
            None,
        ),
        ({"text": "hi", "session": "sessions/x"}, grpc.StatusCode.INVALID_ARGUMENT, "session"),
    ],
)
async def test_invalid_requests_fail_before_the_run(
    connect: Connect, fields: dict[str, object], code: grpc.StatusCode, field: str | None
) -> None:
    api = await connect()
    session = await api.session_with("default")
    request = events_pb2.SendMessageRequest(**{"session": session, **fields})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in api.sessions.SendMessage(request):
            pass
    details = details_of(caught.value)
    assert details.code == code
    if field is not None:
        assert details.violated_fields == [field]
    assert await api.items(session) == []


async def test_input_items_json(connect: Connect) -> None:
    api = await connect()
    session = await api.session_with("default")
    items = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "input_text", "text": "Bonjour"}]},
    ]
    request = events_pb2.SendMessageRequest(session=session, input_items_json=json.dumps(items))
    events = [event async for event in api.sessions.SendMessage(request)]

    started = events[0].run_started
    assert [(i.role, i.text) for i in started.input_items] == [
        ("system", "Answer in French."),
        ("user", "Bonjour"),
    ]
    assert events[-1].run_completed.final_output == "Bonjour"


async def test_openai_compatible_endpoint_with_a_tool_call(connect: Connect) -> None:
    replies = [
        Reply(tool_calls=[ToolCall("current_time", {"timezone": "UTC"}, "call_1")]),
        Reply("It is noon somewhere."),
    ]
    async with FakeChatCompletions(replies) as fake:
        api = await connect(providers={"local": ProviderConfig(base_url=fake.base_url)})
        session = await api.session_with("local", model="local/tiny", tools=["current_time"])
        events = await api.send(session, "What time is it?")

    assert kinds(events)[2:4] == ["tool_called", "tool_output"]
    assert "UTC" in events[3].tool_output.output
    assert "".join(e.text_delta.delta for e in events if e.HasField("text_delta")) == (
        "It is noon somewhere."
    )
    assert events[-1].run_completed.usage.requests == 2
    assert [r.body["model"] for r in fake.requests] == ["tiny", "tiny"]
    assert fake.requests[1].body["messages"][-1]["role"] == "tool"
