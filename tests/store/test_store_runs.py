"""Store contract: runs are counted when they start and add their usage when they finish."""

from __future__ import annotations

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
    now_us,
)
from agentsessions.server.store import Store
from store.store_records import (
    LEASE_US,
    OWNER,
    finish,
    message,
    raises,
    running,
    seeded,
    start,
    terminal_body,
)


async def test_start_records_a_running_run_and_counts_it(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    before = await store.get_session(key)
    assert before is not None
    started, lease = await start(store, key, last_agent_id="helper")
    assert started.state == RunState.RUNNING
    assert started.start_time_us > 0 and started.end_time_us is None
    assert started.owner == OWNER and started.last_sequence == 0
    assert (lease.key, lease.run_id, lease.owner) == (key, "run-1", OWNER)
    assert await store.get_run(key, "run-1") == started
    after = await store.get_session(key)
    assert after is not None
    assert after.stats.run_count == 1
    assert after.last_activity_time_us >= before.last_activity_time_us
    assert after.etag == before.etag


async def test_start_with_a_taken_run_id_already_exists(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    run, lease = await start(store, key)
    finished = await finish(store, run, lease)
    error = await raises(
        AlreadyExists,
        "RUN_ALREADY_EXISTS",
        store.start_run(running(key), lease_expire_time_us=now_us() + LEASE_US),
    )
    assert error.metadata["run_id"] == "run-1"
    session = await store.get_session(key)
    assert session is not None and session.stats.run_count == 1
    # The refused start took no lease: the session is free for the next run.
    assert await store.list_leases(limit=10) == []
    assert await store.get_run(key, "run-1") == finished.run
    await start(store, key, "run-2")


async def test_finish_adds_usage_and_returns_new_stats(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    usage = Usage(requests=2, input_tokens=100, output_tokens=20, total_tokens=120)
    run, lease = await start(store, key, "run-1")
    first = await finish(store, run, lease, usage=usage, last_agent_id="billing")
    assert first.stats == SessionStats(
        input_tokens=100, output_tokens=20, total_tokens=120, run_count=1
    )
    assert first.run == await store.get_run(key, "run-1")
    run, lease = await start(store, key, "run-2")
    error = RunError(code=8, message="quota", reason="MODEL_QUOTA")
    second = await finish(store, run, lease, RunState.FAILED, usage=usage, error=error)
    assert second.stats == SessionStats(
        input_tokens=200, output_tokens=40, total_tokens=240, run_count=2
    )
    session = await store.get_session(key)
    assert session is not None and session.stats == second.stats

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


async def test_finish_without_an_end_time_ends_it_now_not_before_its_start(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    run, lease = await start(store, key, start_time_us=now_us() + 5_000_000)
    finished = await finish(store, run, lease, RunState.CANCELLED, end_time_us=0)
    assert finished.run.end_time_us == run.start_time_us


async def test_finish_errors(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    run, lease = await start(store, key)
    await raises(
        NotFound,
        "RUN_NOT_FOUND",
        store.finish_run(
            RunRecord(key, "ghost", RunState.CANCELLED), lease=lease, terminal=terminal_body
        ),
    )
    await raises(
        InvalidArgument,
        "INVALID_ARGUMENT",
        store.finish_run(run, lease=lease, terminal=terminal_body),
    )
    assert (await store.get_run(key, "run-1")) == run
    usage = Usage(input_tokens=1, output_tokens=1, total_tokens=2)
    await finish(store, run, lease, RunState.CANCELLED, usage=usage)
    # A second finish must not count the usage twice.
    await raises(
        FailedPrecondition,
        "RUN_ALREADY_FINISHED",
        finish(store, run, lease, RunState.COMPLETED, usage=usage),
    )
    session = await store.get_session(key)
    assert session is not None and session.stats.total_tokens == 2
    ended = await store.get_run(key, "run-1")
    assert ended is not None and ended.state == RunState.CANCELLED


async def test_list_runs_newest_first_in_pages(store: Store) -> None:
    (key, other) = await seeded(store, "s1", "s2")
    # Pairs share a start time, so the run id must break the ties.
    for n in range(9):
        run, lease = await start(store, key, f"run-{n}", start_time_us=1_000 + n // 2)
        await finish(store, run, lease)
    await start(store, other, "elsewhere")
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
    started, _ = await start(store, key, start_time_us=42)
    assert started.start_time_us == 42


async def test_a_run_records_its_items_under_its_lease(store: Store) -> None:
    # The run is recorded first; its input items follow, fenced by its lease.
    (key,) = await seeded(store, "s1")
    run, lease = await start(store, key, last_agent_id="helper")
    items = await store.add_items(
        key, [message("hi"), message("there")], run_id=run.run_id, fence=lease
    )
    assert [(i.sequence, i.text, i.run_id) for i in items] == [
        (1, "hi", "run-1"),
        (2, "there", "run-1"),
    ]
    assert await store.list_items(key) == items
    session = await store.get_session(key)
    assert session is not None
    assert session.stats.run_count == 1 and session.stats.item_count == 2


async def test_start_on_a_missing_session_records_nothing(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    missing = SessionKey(key.tenant, key.agent_id, "ghost")
    await raises(
        NotFound,
        "SESSION_NOT_FOUND",
        store.start_run(running(missing), lease_expire_time_us=now_us() + LEASE_US),
    )
    assert await store.get_run(missing, "run-1") is None
    assert await store.list_leases(limit=10) == []
