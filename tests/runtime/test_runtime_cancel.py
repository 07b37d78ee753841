"""Stopping runs: cancel requests (IMMEDIATE, AFTER_TURN), followers that go away, shutdown.

A run is stopped only by a request (`runner.cancel`, `runner.cancel_soon`); a follower that
stops reading leaves the run running. A cancelled run keeps the whole turns it stored, is
recorded CANCELLED with the mode and reason, and its log ends with RunCancelled.
"""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from agentsessions.server.domain.errors import NotFound, Unavailable
from agentsessions.server.domain.models import DEFAULT_TENANT, CancelMode, RunState, SessionKey
from agentsessions.server.runtime import (
    AgentRunner,
    ModelRegistry,
    RunCancelledEvent,
    RunCompletedEvent,
    RunEvent,
    SendOptions,
    TextDeltaEvent,
    ToolCalledEvent,
    ToolOutputEvent,
    text_input,
)
from agentsessions.server.store import SQLiteStore
from runtime.runtime_support import (
    events_of,
    gated_stream,
    kinds,
    make_runner,
    make_session,
    stored,
)


async def read(runner: AgentRunner, key: SessionKey, run_id: str, after: int = 0) -> list[RunEvent]:
    return [pickle.loads(e.body) async for e in runner.follow(key, run_id, after_sequence=after)]


async def test_immediate_cancel_keeps_whole_turns(store: SQLiteStore) -> None:
    key = await make_session(store, tools=("calculate",))
    streaming = asyncio.Event()
    model = ScriptedModel(
        [
            [function_call("calculate", {"expression": "2+2"}, call_id="c1")],
            ModelStep.stream(
                gated_stream(["The answer ", "is"], asyncio.Event(), started=streaming)
            ),
        ]
    )
    runner = make_runner(store, ModelRegistry(models={"scripted": model}))
    handle = await runner.start(key, text_input("2+2?"), SendOptions())
    following = asyncio.create_task(read(runner, key, handle.run.run_id))
    await streaming.wait()
    assert runner.active_runs == 1

    run = await runner.cancel(
        key, handle.run.run_id, CancelMode.IMMEDIATE, reason="changed my mind", wait_seconds=10
    )

    assert run.state == RunState.CANCELLED and run.end_time_us
    assert (run.cancel_mode, run.cancel_reason) == (CancelMode.IMMEDIATE, "changed my mind")
    assert run.usage.requests == 1  # the finished tool turn; the cancelled request has no usage yet
    # The input and the whole tool turn stay; the half-streamed message was never stored.
    assert [i.type for i in await stored(store, key)] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    events = await following
    assert kinds(events) == [
        "RunStarted",
        "AgentUpdated",
        "ToolCalled",
        "ToolOutput",
        "TextDelta",
        "TextDelta",
        "RunCancelled",
    ]
    cancelled = events[-1]
    assert isinstance(cancelled, RunCancelledEvent)
    assert cancelled.reason == "changed my mind"
    assert cancelled.run == run
    assert await store.get_run(key, run.run_id) == run
    session = await store.get_session(key)
    assert session is not None and session.stats.run_count == 1
    assert await store.list_leases(limit=10) == []
    assert runner.active_runs == 0


async def test_after_turn_cancel_completes_the_tool_turn(store: SQLiteStore) -> None:
    key = await make_session(store, tools=("calculate",))
    asked, answer = asyncio.Event(), asyncio.Event()

    async def call_the_tool(call: ModelCall) -> list[Any]:
        asked.set()
        await answer.wait()
        return [function_call("calculate", {"expression": "6*7"}, call_id="c1")]

    model = ScriptedModel(
        [ModelStep.respond(call_the_tool), [assistant_message("never asked for")]]
    )
    runner = make_runner(store, ModelRegistry(models={"scripted": model}))
    handle = await runner.start(key, text_input("6*7?"), SendOptions())
    following = asyncio.create_task(read(runner, key, handle.run.run_id))
    await asked.wait()

    # The request reaches the run before the model answers: the turn in progress finishes
    # (the tool runs, its call and output are stored), and no other turn starts.
    runner.cancel_soon(key, handle.run.run_id, CancelMode.AFTER_TURN, "after this turn")
    answer.set()
    events = await following

    assert kinds(events) == [
        "RunStarted",
        "AgentUpdated",
        "ToolCalled",
        "ToolOutput",
        "RunCancelled",
    ]
    called, output, cancelled = events[2], events[3], events[4]
    assert isinstance(called, ToolCalledEvent) and called.call_id == "c1"
    assert isinstance(output, ToolOutputEvent) and output.output == "42"
    assert isinstance(cancelled, RunCancelledEvent) and cancelled.reason == "after this turn"
    run = await store.get_run(key, handle.run.run_id)
    assert run is not None and run.state == RunState.CANCELLED
    assert (run.cancel_mode, run.cancel_reason) == (CancelMode.AFTER_TURN, "after this turn")
    assert run.usage.requests == 1
    assert [(i.type, i.run_id) for i in await stored(store, key)] == [
        ("message", run.run_id),
        ("function_call", run.run_id),
        ("function_call_output", run.run_id),
    ]
    assert len(model.calls) == 1


async def test_cancel_of_a_finished_run_returns_it_unchanged(store: SQLiteStore) -> None:
    key = await make_session(store)
    model = ScriptedModel([[assistant_message("done")]])
    runner = make_runner(store, ModelRegistry(models={"scripted": model}))
    events = await events_of(runner, key, text_input("hi"))
    completed = events[-1]
    assert isinstance(completed, RunCompletedEvent)
    before = await store.get_run(key, completed.run.run_id)

    for mode in (CancelMode.IMMEDIATE, CancelMode.AFTER_TURN):
        run = await runner.cancel(key, completed.run.run_id, mode, wait_seconds=1)
        assert run == before
        assert run.state == RunState.COMPLETED and run.cancel_mode is None
    assert await store.get_run(key, completed.run.run_id) == before
    assert await read(runner, key, completed.run.run_id) == events


async def test_cancel_of_an_unknown_run_is_not_found(store: SQLiteStore) -> None:
    key = await make_session(store)
    runner = make_runner(store)
    with pytest.raises(NotFound) as missing:
        await runner.cancel(key, "nope", CancelMode.IMMEDIATE)
    assert missing.value.reason == "RUN_NOT_FOUND"


async def test_a_follower_that_goes_away_leaves_the_run_running(store: SQLiteStore) -> None:
    key = await make_session(store)
    gate, delta_seen = asyncio.Event(), asyncio.Event()
    model = ScriptedModel([ModelStep.stream(gated_stream(["slow"], gate))])
    runner = make_runner(store, ModelRegistry(models={"scripted": model}))
    handle = await runner.start(key, text_input("hello"), SendOptions())
    seen: list[RunEvent] = []

    async def follow_until_the_delta() -> None:
        async for event in runner.follow(key, handle.run.run_id):
            seen.append(pickle.loads(event.body))
            if isinstance(seen[-1], TextDeltaEvent):
                delta_seen.set()
                await asyncio.Event().wait()  # a caller that stalls, then goes away

    follower = asyncio.create_task(follow_until_the_delta())
    await delta_seen.wait()
    follower.cancel()
    with pytest.raises(asyncio.CancelledError):
        await follower

    run = await store.get_run(key, handle.run.run_id)
    assert run is not None and run.state == RunState.RUNNING
    assert runner.active_runs == 1
    gate.set()
    rest = await read(runner, key, handle.run.run_id, after=seen[-1].sequence)
    assert kinds(seen + rest) == [
        "RunStarted",
        "AgentUpdated",
        "TextDelta",
        "MessageCompleted",
        "RunCompleted",
    ]
    assert [i.text for i in await stored(store, key)] == ["hello", "slow"]


async def test_server_stop_cancels_running_runs_with_an_event(store: SQLiteStore) -> None:
    key = await make_session(store)
    streaming = asyncio.Event()
    model = ScriptedModel(
        [ModelStep.stream(gated_stream(["wait"], asyncio.Event(), started=streaming))]
    )
    runner = make_runner(store, ModelRegistry(models={"scripted": model}))
    handle = await runner.start(key, text_input("hi"), SendOptions())
    following = asyncio.create_task(read(runner, key, handle.run.run_id))
    await streaming.wait()
    await runner.aclose(grace=0)
    events = await following

    assert kinds(events) == ["RunStarted", "AgentUpdated", "TextDelta", "RunCancelled"]
    cancelled = events[-1]
    assert isinstance(cancelled, RunCancelledEvent)
    assert cancelled.reason == "the server is stopping"
    assert cancelled.run.state == RunState.CANCELLED
    assert cancelled.run.cancel_mode == CancelMode.IMMEDIATE
    assert runner.active_runs == 0
    assert await store.list_leases(limit=10) == []
    with pytest.raises(Unavailable) as stopping:
        await runner.start(key, text_input("too late"), SendOptions())
    assert stopping.value.reason == "SERVER_STOPPING"


async def test_server_stop_gives_running_runs_their_grace(store: SQLiteStore) -> None:
    key = await make_session(store)
    gate, streaming = asyncio.Event(), asyncio.Event()
    model = ScriptedModel([ModelStep.stream(gated_stream(["almost"], gate, started=streaming))])
    runner = make_runner(store, ModelRegistry(models={"scripted": model}))
    handle = await runner.start(key, text_input("hi"), SendOptions())
    await streaming.wait()

    closing = asyncio.create_task(runner.aclose(grace=10))
    await asyncio.sleep(0)  # aclose begins: from now on, new runs are refused
    with pytest.raises(Unavailable):  # no new runs while the running ones finish
        await runner.start(key, text_input("too late"), SendOptions())
    gate.set()
    await closing

    run = await store.get_run(key, handle.run.run_id)
    assert run is not None and run.state == RunState.COMPLETED and run.cancel_mode is None


async def test_unknown_session_fails_before_the_run(store: SQLiteStore) -> None:
    await make_session(store)
    runner = make_runner(store)
    with pytest.raises(NotFound) as missing:
        await runner.start(
            SessionKey(DEFAULT_TENANT, "helper", "nope"), text_input("hi"), SendOptions()
        )
    assert missing.value.reason == "SESSION_NOT_FOUND"
    assert runner.active_runs == 0
    assert await store.list_leases(limit=10) == []
