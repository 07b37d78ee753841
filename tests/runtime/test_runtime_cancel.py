"""Cancelled runs, deadlines, busy sessions and server shutdown, at the runtime's boundary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agentsessions.server.domain.errors import Aborted, DeadlineExceeded, NotFound, Unavailable
from agentsessions.server.domain.models import DEFAULT_TENANT, RunState, SessionKey
from agentsessions.server.runtime import (
    AgentRunner,
    ModelRegistry,
    RunCancelledEvent,
    RunCompletedEvent,
    RunEvent,
    RunStartedEvent,
    TextDeltaEvent,
    text_input,
)
from agentsessions.server.runtime.runner import close_in_background
from agentsessions.server.store import SQLiteStore
from runtime.runtime_support import collect, gated_stream, kinds, make_session, stored


async def consume(events: list[RunEvent], stream: AsyncIterator[RunEvent]) -> None:
    async for event in stream:
        events.append(event)


async def test_caller_cancel_mid_stream_keeps_whole_turns(store: SQLiteStore) -> None:
    key = await make_session(store, tools=("calculate",))
    never = asyncio.Event()
    streaming = asyncio.Event()
    model = ScriptedModel(
        [
            [function_call("calculate", {"expression": "2+2"}, call_id="c1")],
            ModelStep.stream(gated_stream(["The answer ", "is"], never, started=streaming)),
        ]
    )
    runner = AgentRunner(store, ModelRegistry(models={"scripted": model}))
    events: list[RunEvent] = []
    task = asyncio.create_task(consume(events, runner.run(key, text_input("2+2?"))))
    await streaming.wait()
    assert runner.active_runs == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert kinds(events)[-2:] == ["TextDelta", "TextDelta"]
    started = events[0]
    assert isinstance(started, RunStartedEvent)
    run = await store.get_run(key, started.run_id)
    assert run is not None and run.state == RunState.CANCELLED and run.end_time_us
    assert run.usage.requests == 1  # the finished tool turn; the cancelled request has no usage yet
    # The input and the whole tool turn stay; the half-streamed message was never stored.
    assert [i.type for i in await stored(store, key)] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    session = await store.get_session(key)
    assert session is not None and session.stats.run_count == 1
    assert runner.active_runs == 0 and runner.busy_sessions == 0


async def test_an_abandoned_stream_is_closed_in_the_background(store: SQLiteStore) -> None:
    key = await make_session(store)
    model = ScriptedModel([ModelStep.stream(gated_stream(["a ", "b"], asyncio.Event()))])
    runner = AgentRunner(store, ModelRegistry(models={"scripted": model}))
    events = runner.run(key, text_input("hi"))
    started = await anext(events)  # the consumer stops here, as a cancelled RPC does
    assert isinstance(started, RunStartedEvent)

    await close_in_background(events)
    run = await store.get_run(key, started.run_id)
    assert run is not None and run.state == RunState.CANCELLED
    assert runner.active_runs == 0 and runner.busy_sessions == 0


async def test_deadline_cancels_the_run(store: SQLiteStore) -> None:
    key = await make_session(store)
    model = ScriptedModel([ModelStep.stream(gated_stream(["slow"], asyncio.Event()))])
    runner = AgentRunner(store, ModelRegistry(models={"scripted": model}))
    events: list[RunEvent] = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            async for event in runner.run(key, text_input("hello")):
                events.append(event)

    assert isinstance(events[-1], TextDeltaEvent)
    started = events[0]
    assert isinstance(started, RunStartedEvent)
    run = await store.get_run(key, started.run_id)
    assert run is not None and run.state == RunState.CANCELLED
    assert [i.text for i in await stored(store, key)] == ["hello"]
    session = await store.get_session(key)
    assert session is not None
    assert (session.stats.run_count, session.stats.item_count) == (1, 1)


async def test_a_busy_session_refuses_or_queues(store: SQLiteStore) -> None:
    key = await make_session(store)
    gate, streaming = asyncio.Event(), asyncio.Event()
    model = ScriptedModel(
        [
            ModelStep.stream(gated_stream(["first"], gate, started=streaming)),
            [assistant_message("second")],
        ]
    )
    runner = AgentRunner(store, ModelRegistry(models={"scripted": model}))
    first = asyncio.create_task(collect(runner.run(key, text_input("one"))))
    await streaming.wait()

    with pytest.raises(Aborted) as busy:
        await collect(runner.run(key, text_input("refused")))
    assert busy.value.reason == "SESSION_BUSY"
    assert busy.value.metadata["run"].startswith("agents/helper/sessions/s1/runs/")

    with pytest.raises(DeadlineExceeded) as late:
        await collect(runner.run(key, text_input("late"), wait_if_busy=True, wait_timeout=0.05))
    assert late.value.reason == "SESSION_BUSY"

    queued = asyncio.create_task(collect(runner.run(key, text_input("two"), wait_if_busy=True)))
    await asyncio.sleep(0)  # let the queued run reach the lock
    assert not queued.done()
    gate.set()
    first_events, second_events = await first, await queued

    assert busy.value.metadata["run"].endswith(first_events[0].run_id)  # type: ignore[union-attr]
    assert isinstance(first_events[-1], RunCompletedEvent)
    assert isinstance(second_events[-1], RunCompletedEvent)
    assert [i.text for i in await stored(store, key)] == ["one", "first", "two", "second"]
    assert runner.busy_sessions == 0


async def test_server_stop_cancels_with_an_event(store: SQLiteStore) -> None:
    key = await make_session(store)
    streaming = asyncio.Event()
    model = ScriptedModel(
        [ModelStep.stream(gated_stream(["wait"], asyncio.Event(), started=streaming))]
    )
    runner = AgentRunner(store, ModelRegistry(models={"scripted": model}))
    task = asyncio.create_task(collect(runner.run(key, text_input("hi"))))
    await streaming.wait()
    await runner.aclose(grace=0)
    events = await task

    assert kinds(events) == ["RunStarted", "AgentUpdated", "TextDelta", "RunCancelled"]
    cancelled = events[-1]
    assert isinstance(cancelled, RunCancelledEvent)
    assert cancelled.reason == "the server is stopping"
    assert cancelled.run.state == RunState.CANCELLED
    with pytest.raises(Unavailable):
        await collect(runner.run(key, text_input("too late")))


async def test_unknown_session_fails_before_the_run(store: SQLiteStore) -> None:
    await make_session(store)
    runner = AgentRunner(store)
    with pytest.raises(NotFound) as missing:
        await collect(runner.run(SessionKey(DEFAULT_TENANT, "helper", "nope"), text_input("hi")))
    assert missing.value.reason == "SESSION_NOT_FOUND"
    assert runner.busy_sessions == 0
