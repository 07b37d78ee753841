"""The run manager: a run's log read from any position, by any number of followers; request
ids that join a run; recovery of what a dead process left; leases that fence a run out."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from agents.testing import ModelStep, ScriptedModel, assistant_message
from agentsessions.server.domain.errors import Aborted, InvalidArgument, NotFound, OutOfRange
from agentsessions.server.domain.models import (
    LoggedEvent,
    NewItem,
    RunRecord,
    RunState,
    SessionKey,
    now_us,
)
from agentsessions.server.runtime import (
    AgentRunner,
    ModelRegistry,
    RunCompletedEvent,
    RunEvent,
    RunFailedEvent,
    RunStartedEvent,
    SendOptions,
    TextDeltaEvent,
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
    user,
)

DEAD_OWNER = "otherhost/1/1"  # a process of another host: judged by its lease's expiry alone


async def logged(
    runner: AgentRunner, key: SessionKey, run_id: str, after: int = 0
) -> list[LoggedEvent]:
    return [event async for event in runner.follow(key, run_id, after_sequence=after)]


def decoded(events: list[LoggedEvent]) -> list[RunEvent]:
    return [pickle.loads(event.body) for event in events]


def gated_runner(store: SQLiteStore, pieces: list[str]) -> tuple[AgentRunner, asyncio.Event]:
    gate = asyncio.Event()
    model = ScriptedModel([ModelStep.stream(gated_stream(pieces, gate))])
    return make_runner(store, ModelRegistry(models={"scripted": model})), gate


# Following a run's log -------------------------------------------------------------------


async def test_following_from_a_middle_sequence_is_the_tail_of_the_log(
    store: SQLiteStore,
) -> None:
    key = await make_session(store, model="echo")
    runner = make_runner(store)
    handle = await runner.start(key, text_input("one two three four"), SendOptions())
    full = await logged(runner, key, handle.run.run_id)

    assert [e.sequence for e in full] == list(range(1, len(full) + 1))
    assert [e.terminal for e in full] == [False] * (len(full) - 1) + [True]
    assert kinds(decoded(full)) == [
        "RunStarted",
        "AgentUpdated",
        *["TextDelta"] * 4,
        "MessageCompleted",
        "RunCompleted",
    ]
    for after in range(len(full)):
        assert await logged(runner, key, handle.run.run_id, after) == full[after:]
    # After the terminal event there is nothing more to read.
    assert await logged(runner, key, handle.run.run_id, len(full)) == []


async def test_following_past_the_end_or_an_unknown_run_fails(store: SQLiteStore) -> None:
    key = await make_session(store, model="echo")
    runner = make_runner(store)
    events = await events_of(runner, key, text_input("hi"))
    run_id = events[0].run_id  # type: ignore[attr-defined]

    with pytest.raises(OutOfRange) as ahead:
        await logged(runner, key, run_id, len(events) + 1)
    assert ahead.value.reason == "SEQUENCE_AHEAD"
    with pytest.raises(NotFound) as missing:
        await logged(runner, key, "nope")
    assert missing.value.reason == "RUN_NOT_FOUND"
    with pytest.raises(InvalidArgument):
        await logged(runner, key, run_id, -1)


async def test_a_late_follower_sees_every_event_once(store: SQLiteStore) -> None:
    key = await make_session(store)
    runner, gate = gated_runner(store, ["a ", "b ", "c"])
    handle = await runner.start(key, text_input("hi"), SendOptions())
    early: list[LoggedEvent] = []
    deltas_seen = asyncio.Event()

    async def follow_early() -> None:
        async for event in runner.follow(key, handle.run.run_id):
            early.append(event)
            if sum(isinstance(e, TextDeltaEvent) for e in decoded(early)) == 3:
                deltas_seen.set()

    first = asyncio.create_task(follow_early())
    await deltas_seen.wait()  # the run is mid-message: a part of its log is written
    second = asyncio.create_task(logged(runner, key, handle.run.run_id))
    third = asyncio.create_task(logged(runner, key, handle.run.run_id, after=early[-1].sequence))
    gate.set()
    await first
    late, tail = await second, await third

    assert late == early
    assert [e.sequence for e in late] == list(range(1, len(late) + 1))
    assert kinds(decoded(late)) == [
        "RunStarted",
        "AgentUpdated",
        "TextDelta",
        "TextDelta",
        "TextDelta",
        "MessageCompleted",
        "RunCompleted",
    ]
    assert tail == late[5:]  # from right after the third delta


# Request ids ------------------------------------------------------------------------------


async def test_a_retry_with_the_same_request_id_joins_the_run(store: SQLiteStore) -> None:
    key = await make_session(store)
    runner, gate = gated_runner(store, ["answer"])
    options = SendOptions(request_id="req-1")
    first = await runner.start(key, text_input("question"), options)
    retry = await runner.start(key, text_input("question"), options)  # while it runs

    assert not first.joined and retry.joined
    assert retry.run.run_id == first.run.run_id
    gate.set()
    events, joined = await asyncio.gather(
        logged(runner, key, first.run.run_id), logged(runner, key, retry.run.run_id)
    )
    assert joined == events
    assert isinstance(decoded(events)[-1], RunCompletedEvent)

    again = await runner.start(key, text_input("question"), options)  # after it ended
    assert again.joined and again.run.run_id == first.run.run_id
    assert again.run.state == RunState.COMPLETED
    assert await logged(runner, key, again.run.run_id) == events
    assert [r.run_id for r in await store.list_runs(key, after=None, limit=10)] == [
        first.run.run_id
    ]
    assert [(i.text, i.run_id) for i in await stored(store, key)] == [
        ("question", first.run.run_id),
        ("answer", first.run.run_id),
    ]
    session = await store.get_session(key)
    assert session is not None and session.stats.run_count == 1


async def test_a_request_id_reused_for_another_input_is_refused(store: SQLiteStore) -> None:
    key = await make_session(store, model="echo")
    runner = make_runner(store)
    await events_of(runner, key, text_input("question"), request_id="req-1")

    for text, max_turns in (("another question", 10), ("question", 3)):
        with pytest.raises(InvalidArgument) as reused:
            await runner.start(
                key, text_input(text), SendOptions(request_id="req-1", max_turns=max_turns)
            )
        assert reused.value.reason == "REQUEST_ID_REUSED"
    assert len(await store.list_runs(key, after=None, limit=10)) == 1
    assert [i.text for i in await stored(store, key)] == ["question", "question"]


# Recovery and fencing ---------------------------------------------------------------------


async def dead_run(store: SQLiteStore, key: SessionKey) -> RunRecord:
    """A run of a process that died: RUNNING, its lease expired, one item of it stored."""
    run = RunRecord(key, "dead-run", RunState.RUNNING, owner=DEAD_OWNER, last_agent_id="helper")
    started = await store.start_run(run, lease_expire_time_us=now_us() - 1)
    assert started.run is not None and started.lease is not None
    item = NewItem(
        '{"role": "user", "content": "before the crash"}', "message", "user", "before the crash"
    )
    await store.add_items(key, [item], run_id=run.run_id, fence=started.lease)
    return started.run


async def test_a_stale_lease_is_recovered_when_a_run_starts(store: SQLiteStore) -> None:
    key = await make_session(store)
    dead = await dead_run(store, key)
    model = ScriptedModel([[assistant_message("back again")]])
    runner = make_runner(store, ModelRegistry(models={"scripted": model}))

    events = await events_of(runner, key, text_input("hello?"))

    assert isinstance(events[-1], RunCompletedEvent)
    recovered = await store.get_run(key, dead.run_id)
    assert recovered is not None and recovered.state == RunState.FAILED
    assert recovered.error is not None and recovered.error.reason == "RUN_INTERRUPTED"
    assert recovered.end_time_us
    (terminal,) = decoded(await logged(runner, key, dead.run_id))
    assert isinstance(terminal, RunFailedEvent)
    assert terminal.error.reason == "RUN_INTERRUPTED" and terminal.run == recovered
    # The dead run's stored turn stays, and the new run's model saw it.
    assert [i.text for i in await stored(store, key)] == [
        "before the crash",
        "hello?",
        "back again",
    ]
    assert model.first_call is not None
    assert model.first_call.input == [user("before the crash"), user("hello?")]
    session = await store.get_session(key)
    assert session is not None and session.stats.run_count == 2


async def test_opening_the_runner_recovers_stale_leases(store: SQLiteStore) -> None:
    key = await make_session(store, model="echo")
    dead = await dead_run(store, key)
    runner = make_runner(store)
    await runner.open()
    try:
        recovered = await store.get_run(key, dead.run_id)
        assert recovered is not None and recovered.state == RunState.FAILED
        assert recovered.error is not None and recovered.error.reason == "RUN_INTERRUPTED"
        assert await store.list_leases(limit=10) == []
    finally:
        await runner.aclose()


async def test_a_lease_held_by_a_live_process_is_not_recovered(store: SQLiteStore) -> None:
    key = await make_session(store, model="echo")
    run = RunRecord(key, "alive", RunState.RUNNING, owner=DEAD_OWNER)
    await store.start_run(run, lease_expire_time_us=now_us() + 60_000_000)
    runner = make_runner(store)

    with pytest.raises(Aborted) as busy:
        await runner.start(key, text_input("hi"), SendOptions())
    assert busy.value.reason == "SESSION_BUSY"
    alive = await store.get_run(key, "alive")
    assert alive is not None and alive.state == RunState.RUNNING


async def test_a_run_whose_lease_was_taken_over_cannot_write(store: SQLiteStore) -> None:
    key = await make_session(store)
    dead = await dead_run(store, key)
    old_lease = next(iter(await store.list_leases(limit=10)))
    assert old_lease.run_id == dead.run_id
    model = ScriptedModel([[assistant_message("mine now")]])
    runner = make_runner(store, ModelRegistry(models={"scripted": model}))
    await events_of(runner, key, text_input("hello?"))

    with pytest.raises(Aborted) as lost:
        await store.add_items(
            key,
            [NewItem('{"role": "user", "content": "late"}', "message", "user", "late")],
            run_id=dead.run_id,
            fence=old_lease,
        )
    assert lost.value.reason == "LEASE_LOST"
    with pytest.raises(Aborted) as lost_events:
        await store.append_run_events(old_lease, [LoggedEvent(2, False, b"late")])
    assert lost_events.value.reason == "LEASE_LOST"
    assert "late" not in [i.text for i in await stored(store, key)]


async def test_a_runner_whose_run_was_taken_over_stops_writing(store: SQLiteStore) -> None:
    """A run of a process that stalled past its lease (as one that lost the database for a
    while): another process recovers the session; the stalled run's writes are refused."""
    key = await make_session(store)
    gate, streaming = asyncio.Event(), asyncio.Event()
    stalled_model = ScriptedModel(
        [ModelStep.stream(gated_stream(["stale"], gate, started=streaming))]
    )
    stalled = make_runner(
        store, ModelRegistry(models={"scripted": stalled_model}), lease_seconds=0.001
    )
    stalled.owner = DEAD_OWNER  # as if another process: its lease may be taken over
    handle = await stalled.start(key, text_input("one"), SendOptions())
    await streaming.wait()

    fresh = make_runner(
        store, ModelRegistry(models={"scripted": ScriptedModel([[assistant_message("fresh")]])})
    )
    events = await events_of(fresh, key, text_input("two"))
    assert isinstance(events[-1], RunCompletedEvent)

    gate.set()  # the stalled run goes on, and tries to store its message
    await stalled.aclose(grace=10)
    assert stalled.active_runs == 0

    old = decoded(await logged(fresh, key, handle.run.run_id))
    assert isinstance(old[0], RunStartedEvent)
    assert isinstance(old[-1], RunFailedEvent) and old[-1].error.reason == "RUN_INTERRUPTED"
    run = await store.get_run(key, handle.run.run_id)
    assert run is not None and run.state == RunState.FAILED
    assert [(i.text, i.run_id) for i in await stored(store, key)] == [
        ("one", handle.run.run_id),
        ("two", events[0].run_id),  # type: ignore[attr-defined]
        ("fresh", events[0].run_id),  # type: ignore[attr-defined]
    ]
