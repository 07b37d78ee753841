"""Store contract: run lists across sessions (find_runs, scan_runs), newest first, by state."""

from __future__ import annotations

import dataclasses

import pytest
from agentsessions.server.domain.models import (
    RunState,
    SessionKey,
    ToolApproval,
    now_us,
)
from agentsessions.server.domain.paging import PAGE_BYTES
from agentsessions.server.store import Store
from agentsessions.server.store.base import (
    RunCursor,
    RunFilter,
    RunPageEntry,
    RunQuery,
)
from store.store_records import (
    LEASE_US,
    OTHER_TENANT,
    TENANT,
    agent,
    finish,
    seeded,
    session,
    start,
)

WAITING = RunFilter(state=RunState.REQUIRES_APPROVAL)
PAGE = 2  # rows per page: every list below takes several


async def wait_for_approval(
    store: Store, key: SessionKey, run_id: str, start_time_us: int, arguments: str = "{}"
) -> None:
    """Starts a run that stops for approval; it keeps the session until it is decided."""
    run, lease = await start(store, key, run_id, start_time_us=start_time_us)
    waiting = dataclasses.replace(
        run,
        approvals=(ToolApproval("call-1", "transfer", arguments),),
        approval_expire_time_us=now_us() + LEASE_US,
    )
    await store.pause_run(waiting, lease=lease, run_state=b"{}", events=[])


async def completed(store: Store, key: SessionKey, run_id: str, start_time_us: int) -> None:
    run, lease = await start(store, key, run_id, start_time_us=start_time_us)
    await finish(store, run, lease)


Row = tuple[str, str, str, RunState]  # agent, session, run, state


@pytest.fixture
async def runs(store: Store) -> list[Row]:
    """Runs of two agents' sessions (one session id under both agents), and another
    tenant's; several share a start time, and two share a run id too. Newest first."""
    s1, s2 = await seeded(store, "s1", "s2")
    o1, o3 = await seeded(store, "s1", "s3", agent_id="other")
    await store.create_agent(agent("helper", tenant=OTHER_TENANT), None)
    await store.create_session(session("s1", tenant=OTHER_TENANT), None)
    elsewhere = SessionKey(OTHER_TENANT, "helper", "s1")

    await completed(store, s1, "a", 1_000)
    await completed(store, s1, "b", 2_000)
    await completed(store, s2, "c", 2_000)  # the same start time as b
    await completed(store, o1, "b", 2_000)  # the same start time and run id as b
    await completed(store, o3, "d", 3_000)
    await wait_for_approval(store, s1, "e", 4_000)
    await wait_for_approval(store, o1, "e", 4_000)  # the same again, waiting
    await wait_for_approval(store, o3, "f", 5_000)
    run, _ = await start(store, s2, "g", start_time_us=6_000)  # still running
    await wait_for_approval(store, elsewhere, "h", 7_000)
    assert run.state == RunState.RUNNING

    done = RunState.COMPLETED
    waits = RunState.REQUIRES_APPROVAL
    # Ties of (start time, run id) go to the later session, whose row is higher.
    return [
        ("helper", "s2", "g", RunState.RUNNING),
        ("other", "s3", "f", waits),
        ("other", "s1", "e", waits),
        ("helper", "s1", "e", waits),
        ("other", "s3", "d", done),
        ("helper", "s2", "c", done),
        ("other", "s1", "b", done),
        ("helper", "s1", "b", done),
        ("helper", "s1", "a", done),
    ]


def row(entry: RunPageEntry) -> Row:
    run = entry.run
    return (run.key.agent_id, run.key.session_id, run.run_id, run.state)


async def walk(store: Store, query: RunQuery, budget: int | None = None) -> list[Row]:
    """Every run `query` lists, PAGE at a time, as the domain pages: a full page goes on
    after its last run, a scan that stopped at its budget after the last run it examined."""
    seen: list[Row] = []
    after: RunCursor | None = None
    for _ in range(100):
        page_query = dataclasses.replace(query, after=after, limit=PAGE + 1)
        end = None
        if budget is None:
            entries = await store.find_runs(page_query)
        else:
            scan = await store.scan_runs(page_query, budget)
            entries, end = scan.entries, scan.end
        for entry in entries:
            assert entry.run.key.tenant == query.tenant
        seen += [row(e) for e in entries[:PAGE]]
        if len(entries) > PAGE:
            after = entries[PAGE - 1].cursor
        elif end is not None:
            after = end
        else:
            return seen
    raise AssertionError(f"the list did not end: {seen}")


async def test_a_tenants_runs_newest_first_across_agents(store: Store, runs: list[Row]) -> None:
    assert await walk(store, RunQuery(TENANT)) == runs


async def test_a_tenants_runs_waiting_for_approval(store: Store, runs: list[Row]) -> None:
    waiting = [r for r in runs if r[3] == RunState.REQUIRES_APPROVAL]
    assert len(waiting) == 3
    assert await walk(store, RunQuery(TENANT, filter=WAITING)) == waiting
    other = await walk(store, RunQuery(OTHER_TENANT, filter=WAITING))
    assert other == [("helper", "s1", "h", RunState.REQUIRES_APPROVAL)]
    completed_runs = await walk(store, RunQuery(TENANT, filter=RunFilter(RunState.COMPLETED)))
    assert completed_runs == [r for r in runs if r[3] == RunState.COMPLETED]


@pytest.mark.parametrize("budget", [1, 2, 3, 50])
async def test_an_agents_runs_are_scanned_within_the_budget(
    store: Store, runs: list[Row], budget: int
) -> None:
    for agent_id in ("helper", "other"):
        mine = [r for r in runs if r[0] == agent_id]
        assert await walk(store, RunQuery(TENANT, agent_id), budget) == mine
        query = RunQuery(TENANT, agent_id, filter=WAITING)
        assert await walk(store, query, budget) == [
            r for r in mine if r[3] == RunState.REQUIRES_APPROVAL
        ]
    assert await walk(store, RunQuery(TENANT, "ghost"), budget) == []


@pytest.mark.parametrize("budget", [1, 2, 50])
async def test_a_sessions_runs_by_state_are_scanned_within_the_budget(
    store: Store, runs: list[Row], budget: int
) -> None:
    query = RunQuery(TENANT, "helper", "s1", filter=RunFilter(RunState.COMPLETED))
    assert await walk(store, query, budget) == [
        ("helper", "s1", "b", RunState.COMPLETED),
        ("helper", "s1", "a", RunState.COMPLETED),
    ]


async def test_a_scan_examines_at_most_its_budget(store: Store, runs: list[Row]) -> None:
    # The newest run is not the agent "other"'s: one call that may look at one run finds
    # nothing and says where the next call goes on.
    scan = await store.scan_runs(RunQuery(TENANT, "other", limit=10), 1)
    assert scan.entries == [] and scan.end is not None
    assert (scan.end.start_time_us, scan.end.run_id) == (6_000, "g")
    scan = await store.scan_runs(RunQuery(TENANT, "other", after=scan.end, limit=10), 2)
    assert [row(e) for e in scan.entries] == [
        ("other", "s3", "f", RunState.REQUIRES_APPROVAL),
        ("other", "s1", "e", RunState.REQUIRES_APPROVAL),
    ]
    assert scan.end == scan.entries[-1].cursor


async def test_a_sessions_runs_are_its_own(store: Store, runs: list[Row]) -> None:
    for agent_id, session_id in (("helper", "s1"), ("other", "s1"), ("helper", "s2")):
        query = RunQuery(TENANT, agent_id, session_id)
        assert await walk(store, query) == [r for r in runs if r[:2] == (agent_id, session_id)]


async def test_a_page_of_runs_ends_at_its_bytes(store: Store) -> None:
    """A call's arguments are the model's, of any length: the runs waiting on long ones
    fill a page's bytes before its count."""
    keys = await seeded(store, *(f"s{n}" for n in range(5)))
    arguments = '{"text": "' + "x" * (PAGE_BYTES // 3) + '"}'
    for n, key in enumerate(keys):
        await wait_for_approval(store, key, f"r{n}", 1_000 + n, arguments)
    query = RunQuery(TENANT, filter=WAITING, limit=10, max_bytes=PAGE_BYTES)
    entries = await store.find_runs(query)
    # Reading stops at the run that does not fit: three runs, of which the page keeps two.
    assert [e.run.run_id for e in entries] == ["r4", "r3", "r2"]
    assert entries[0].run.approvals[0].arguments_json == arguments
