"""Store contract: runs are counted when they start and add their usage when they finish."""

from __future__ import annotations

import dataclasses

from agentsessions.server.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from agentsessions.server.domain.models import (
    RunError,
    RunRecord,
    RunState,
    SessionKey,
    SessionStats,
    Usage,
)
from agentsessions.server.store import Store
from store.store_records import message, raises, seeded


def running(key: SessionKey, run_id: str = "run-1", **fields: object) -> RunRecord:
    return RunRecord(key=key, run_id=run_id, state=RunState.RUNNING, **fields)  # type: ignore[arg-type]


async def test_start_records_a_running_run_and_counts_it(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    before = await store.get_session(key)
    assert before is not None
    started = await store.start_run(running(key, last_agent_id="helper"))
    assert started.state == RunState.RUNNING
    assert started.start_time_us > 0 and started.end_time_us is None
    assert await store.get_run(key, "run-1") == started
    after = await store.get_session(key)
    assert after is not None
    assert after.stats.run_count == 1
    assert after.last_activity_time_us >= before.last_activity_time_us
    assert after.etag == before.etag


async def test_start_twice_already_exists(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await store.start_run(running(key))
    error = await raises(AlreadyExists, "RUN_ALREADY_EXISTS", store.start_run(running(key)))
    assert error.metadata["run_id"] == "run-1"
    session = await store.get_session(key)
    assert session is not None and session.stats.run_count == 1


async def test_finish_adds_usage_and_returns_new_stats(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await store.start_run(running(key, "run-1"))
    await store.start_run(running(key, "run-2"))
    usage = Usage(requests=2, input_tokens=100, output_tokens=20, total_tokens=120)
    first = await store.finish_run(
        RunRecord(key, "run-1", RunState.COMPLETED, usage=usage, last_agent_id="billing")
    )
    assert first == SessionStats(input_tokens=100, output_tokens=20, total_tokens=120, run_count=2)
    error = RunError(code=8, message="quota", reason="MODEL_QUOTA")
    second = await store.finish_run(
        RunRecord(key, "run-2", RunState.FAILED, usage=usage, error=error, end_time_us=0)
    )
    assert second.total_tokens == 240 and second.input_tokens == 200
    session = await store.get_session(key)
    assert session is not None and session.stats == second

    done = await store.get_run(key, "run-1")
    assert done is not None
    assert (done.state, done.usage, done.error, done.last_agent_id) == (
        RunState.COMPLETED,
        usage,
        None,
        "billing",
    )
    assert done.end_time_us is not None and done.end_time_us >= done.start_time_us
    failed = await store.get_run(key, "run-2")
    assert failed is not None and (failed.state, failed.error) == (RunState.FAILED, error)


async def test_finish_errors(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await raises(
        NotFound, "RUN_NOT_FOUND", store.finish_run(RunRecord(key, "ghost", RunState.CANCELLED))
    )
    await store.start_run(running(key))
    await raises(InvalidArgument, "INVALID_ARGUMENT", store.finish_run(running(key)))
    usage = Usage(input_tokens=1, output_tokens=1, total_tokens=2)
    await store.finish_run(RunRecord(key, "run-1", RunState.CANCELLED, usage=usage))
    # A second finish must not count the usage twice.
    await raises(
        FailedPrecondition,
        "RUN_ALREADY_FINISHED",
        store.finish_run(RunRecord(key, "run-1", RunState.COMPLETED, usage=usage)),
    )
    session = await store.get_session(key)
    assert session is not None and session.stats.total_tokens == 2
    run = await store.get_run(key, "run-1")
    assert run is not None and run.state == RunState.CANCELLED


async def test_list_runs_newest_first_in_pages(store: Store) -> None:
    (key, other) = await seeded(store, "s1", "s2")
    # Pairs share a start time, so the run id must break the ties.
    for n in range(9):
        await store.start_run(running(key, f"run-{n}", start_time_us=1_000 + n // 2))
    await store.start_run(running(other, "elsewhere"))
    seen: list[RunRecord] = []
    after = None
    while True:
        page = await store.list_runs(key, after=after, limit=4)
        seen.extend(page)
        if len(page) < 4:
            break
        after = (page[-1].start_time_us, page[-1].run_id)
    order = [(r.start_time_us, r.run_id) for r in seen]
    assert order == sorted(order, reverse=True)
    assert sorted(r.run_id for r in seen) == [f"run-{n}" for n in range(9)]
    assert await store.get_run(key, "elsewhere") is None
    assert [r.run_id for r in await store.list_runs(other, after=None, limit=10)] == ["elsewhere"]


async def test_a_started_run_keeps_its_given_start_time(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    started = await store.start_run(dataclasses.replace(running(key), start_time_us=42))
    assert started.start_time_us == 42


async def test_start_with_items_records_the_run_and_its_items_at_once(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    started, items = await store.start_run_with_items(
        running(key, last_agent_id="helper"), [message("hi"), message("there")]
    )
    assert started.state == RunState.RUNNING and started.start_time_us > 0
    assert await store.get_run(key, "run-1") == started
    assert [(i.sequence, i.text, i.run_id) for i in items] == [
        (1, "hi", "run-1"),
        (2, "there", "run-1"),
    ]
    assert await store.list_items(key) == items
    session = await store.get_session(key)
    assert session is not None
    assert session.stats.run_count == 1 and session.stats.item_count == 2


async def test_start_with_items_is_all_or_nothing(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await store.start_run(running(key))
    await raises(
        AlreadyExists,
        "RUN_ALREADY_EXISTS",
        store.start_run_with_items(running(key), [message("lost")]),
    )
    assert await store.list_items(key) == []
    session = await store.get_session(key)
    assert session is not None and session.stats.run_count == 1
    missing = SessionKey(key.tenant, key.agent_id, "ghost")
    await raises(
        NotFound, "SESSION_NOT_FOUND", store.start_run_with_items(running(missing), [message("x")])
    )
