"""Holding a session through the runner: one holder at a time, through the store's lease.

A busy session refuses a run (Aborted, SESSION_BUSY, naming the holder), or makes it wait
(`wait_if_busy`, up to `wait_timeout`: then DeadlineExceeded); a compaction holds the
session the same way and is named as the operation that holds it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents.testing import ModelStep, ScriptedModel, assistant_message
from agentsessions.server.domain.errors import Aborted, DeadlineExceeded
from agentsessions.server.domain.models import RunState
from agentsessions.server.domain.names import run_name
from agentsessions.server.runtime import (
    AgentRunner,
    ModelRegistry,
    RunCompletedEvent,
    RunFailedEvent,
    SendOptions,
    text_input,
)
from agentsessions.server.store import SQLiteStore
from runtime.runtime_support import events_of, gated_stream, make_runner, make_session, stored

SESSION = "agents/helper/sessions/s1"


def refusals(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """An event set when a start finds the session held: from then on, a start that waits is
    in line for the session."""
    original, refused = store.start_run, asyncio.Event()

    async def start_run(run: Any, **options: Any) -> Any:
        started = await original(run, **options)
        if started.busy is not None:
            refused.set()
        return started

    monkeypatch.setattr(store, "start_run", start_run)
    return refused


async def gated_runner(
    store: SQLiteStore, *steps: Any
) -> tuple[AgentRunner, asyncio.Event, asyncio.Event]:
    """A runner whose first run streams, then waits for `gate`; `streaming` says it got there."""
    gate, streaming = asyncio.Event(), asyncio.Event()
    model = ScriptedModel(
        [ModelStep.stream(gated_stream(["first"], gate, started=streaming)), *steps]
    )
    return make_runner(store, ModelRegistry(models={"scripted": model})), gate, streaming


async def test_a_busy_session_refuses_a_run_and_names_the_holder(store: SQLiteStore) -> None:
    key = await make_session(store)
    runner, gate, streaming = await gated_runner(store)
    handle = await runner.start(key, text_input("one"), SendOptions())
    await streaming.wait()

    with pytest.raises(Aborted) as busy:
        await runner.start(key, text_input("refused"), SendOptions())
    assert busy.value.reason == "SESSION_BUSY"
    assert busy.value.metadata == {"session": SESSION, "run": run_name(key, handle.run.run_id)}
    # The refused run was never recorded, and the holder's lease is the run's.
    assert [run.run_id for run in await store.list_runs(key, after=None, limit=10)] == [
        handle.run.run_id
    ]
    (lease,) = await store.list_leases(limit=10)
    assert (lease.run_id, lease.owner) == (handle.run.run_id, runner.owner)

    gate.set()
    async for _ in runner.follow(key, handle.run.run_id):
        pass
    assert await store.list_leases(limit=10) == []  # the run let go of the session
    assert [i.text for i in await stored(store, key)] == ["one", "first"]
    assert runner.active_runs == 0


async def test_a_run_that_waits_runs_after_the_holder(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await make_session(store)
    runner, gate, streaming = await gated_runner(store, [assistant_message("second")])
    refused = refusals(store, monkeypatch)
    first = await runner.start(key, text_input("one"), SendOptions())
    await streaming.wait()

    queued = asyncio.create_task(events_of(runner, key, text_input("two"), wait_if_busy=True))
    await refused.wait()
    assert not queued.done()
    gate.set()
    second_events = await queued

    completed = second_events[-1]
    assert isinstance(completed, RunCompletedEvent)
    assert completed.run.run_id != first.run.run_id
    done = await store.get_run(key, first.run.run_id)
    assert done is not None and done.state == RunState.COMPLETED and done.end_time_us
    assert done.end_time_us <= completed.run.end_time_us  # type: ignore[operator]
    assert [i.text for i in await stored(store, key)] == ["one", "first", "two", "second"]
    assert [i.run_id for i in await stored(store, key)] == [first.run.run_id] * 2 + [
        completed.run.run_id
    ] * 2


async def test_waiting_gives_up_after_wait_timeout(store: SQLiteStore) -> None:
    key = await make_session(store)
    runner, gate, streaming = await gated_runner(store)
    handle = await runner.start(key, text_input("one"), SendOptions())
    await streaming.wait()

    with pytest.raises(DeadlineExceeded) as late:
        await runner.start(
            key, text_input("late"), SendOptions(wait_if_busy=True, wait_timeout=0.05)
        )
    assert late.value.reason == "SESSION_BUSY"
    assert late.value.metadata["run"] == run_name(key, handle.run.run_id)

    gate.set()
    async for _ in runner.follow(key, handle.run.run_id):
        pass
    assert [i.text for i in await stored(store, key)] == ["one", "first"]
    session = await store.get_session(key)
    assert session is not None and session.stats.run_count == 1


async def test_a_compaction_holding_the_session_is_named_as_the_operation(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await make_session(store)
    model = ScriptedModel([[assistant_message("after")]])
    runner = make_runner(store, ModelRegistry(models={"scripted": model}))
    refused = refusals(store, monkeypatch)

    async with runner.hold(key, wait=False, wait_seconds=None) as lease:
        assert lease.run_id == "" and lease.owner == runner.owner
        with pytest.raises(Aborted) as busy:
            await runner.start(key, text_input("refused"), SendOptions())
        assert busy.value.reason == "SESSION_BUSY"
        assert busy.value.metadata == {"session": SESSION, "operation": "CompactSession"}
        with pytest.raises(DeadlineExceeded) as late:
            await runner.start(
                key, text_input("late"), SendOptions(wait_if_busy=True, wait_timeout=0.05)
            )
        assert late.value.metadata == {"session": SESSION, "operation": "CompactSession"}
        refused.clear()
        queued = asyncio.create_task(events_of(runner, key, text_input("hi"), wait_if_busy=True))
        await refused.wait()
        assert not queued.done()

    events = await queued
    assert isinstance(events[-1], RunCompletedEvent)
    assert [i.text for i in await stored(store, key)] == ["hi", "after"]
    assert await store.list_leases(limit=10) == []


async def test_a_compaction_finds_the_session_busy_with_a_run(store: SQLiteStore) -> None:
    key = await make_session(store)
    runner, gate, streaming = await gated_runner(store)
    handle = await runner.start(key, text_input("one"), SendOptions())
    await streaming.wait()

    with pytest.raises(Aborted) as busy:
        await runner.compact(key, keep_newest_count=0, summary_text="s")
    assert busy.value.reason == "SESSION_BUSY"
    assert busy.value.metadata == {"session": SESSION, "run": run_name(key, handle.run.run_id)}
    with pytest.raises(DeadlineExceeded):
        async with runner.hold(key, wait=True, wait_seconds=0.05):
            pass

    waiting = asyncio.create_task(
        runner.compact(key, keep_newest_count=1, summary_text="s", wait_if_busy=True)
    )
    gate.set()
    done = await waiting
    # The compaction went after the run: the run's input is summarized, its reply kept.
    assert done.removed_item_count == 1
    assert [i.text for i in await stored(store, key)][1:] == ["first"]
    assert await store.list_leases(limit=10) == []


async def test_a_failed_run_lets_go_of_the_session(store: SQLiteStore) -> None:
    key = await make_session(store)
    model = ScriptedModel([RuntimeError("boom"), [assistant_message("fine")]])
    runner = make_runner(store, ModelRegistry(models={"scripted": model}))

    failed = await events_of(runner, key, text_input("one"))
    assert isinstance(failed[-1], RunFailedEvent)
    assert await store.list_leases(limit=10) == []
    completed = await events_of(runner, key, text_input("two"))
    assert isinstance(completed[-1], RunCompletedEvent)


async def test_a_runner_on_the_same_store_waits_for_another_runners_run(
    store: SQLiteStore,
) -> None:
    """Two runners on one database, as two server processes: the lease is in the store."""
    key = await make_session(store)
    first, gate, streaming = await gated_runner(store)
    second = make_runner(
        store, ModelRegistry(models={"scripted": ScriptedModel([[assistant_message("second")]])})
    )
    handle = await first.start(key, text_input("one"), SendOptions())
    await streaming.wait()

    with pytest.raises(Aborted) as busy:
        await second.start(key, text_input("refused"), SendOptions())
    assert busy.value.metadata["run"] == run_name(key, handle.run.run_id)

    queued = asyncio.create_task(events_of(second, key, text_input("two"), wait_if_busy=True))
    gate.set()
    events = await queued
    assert isinstance(events[-1], RunCompletedEvent)
    assert [i.text for i in await stored(store, key)] == ["one", "first", "two", "second"]
    assert first.active_runs == second.active_runs == 0
