"""Store contract: session leases (fencing tokens), run event logs, cancel requests, retention.

A run holds its session's lease from `start_run` to `finish_run`; every write of the holder
names its lease, and a write with a lease that no longer holds the session is refused
(Aborted, LEASE_LOST) without writing anything. A run's events are appended under its lease
and end with exactly one terminal event, which `finish_run` builds from the run as recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses

from agentsessions.server.domain.errors import Aborted, FailedPrecondition
from agentsessions.server.domain.models import (
    CancelMode,
    EventPage,
    ItemRecord,
    Lease,
    LoggedEvent,
    RunRecord,
    RunState,
    SessionKey,
    SessionStats,
    Usage,
    now_us,
)
from agentsessions.server.store import Store
from store.conftest import Reopen
from store.store_records import (
    LEASE_US,
    OWNER,
    TENANT,
    finish,
    message,
    raises,
    running,
    seeded,
    session,
    start,
    terminal_body,
)

OTHER_OWNER = "process-2"
ALL_BYTES = 1 << 30


def events(first: int, last: int) -> list[LoggedEvent]:
    """Events `first`..`last`, each body exactly 10 bytes."""
    return [LoggedEvent(n, False, f"event-{n:04d}".encode()) for n in range(first, last + 1)]


async def read(
    store: Store,
    key: SessionKey,
    run_id: str = "run-1",
    after: int = 0,
    *,
    limit: int = 1000,
    max_bytes: int = ALL_BYTES,
) -> EventPage:
    page = await store.read_run_events(
        key, run_id, after_sequence=after, limit=limit, max_bytes=max_bytes
    )
    assert page is not None
    return page


def sequences(page: EventPage) -> list[int]:
    return [e.sequence for e in page.events]


class Terminal:
    """A TerminalEncoder that records what the store handed it."""

    def __init__(self) -> None:
        self.calls: list[tuple[RunRecord, SessionStats, int]] = []

    def __call__(self, run: RunRecord, stats: SessionStats, sequence: int) -> bytes:
        self.calls.append((run, stats, sequence))
        return terminal_body(run, stats, sequence)


def expiry() -> int:
    return now_us() + LEASE_US


async def acquire(store: Store, key: SessionKey, owner: str = OWNER) -> Lease:
    lease, holder = await store.acquire_lease(key, owner=owner, expire_time_us=expiry())
    assert lease is not None and holder is None, holder
    return lease


async def store_start(
    store: Store, key: SessionKey, run_id: str, expire_time_us: int
) -> tuple[RunRecord, Lease]:
    """Starts a run whose lease expires at `expire_time_us`."""
    started = await store.start_run(running(key, run_id), lease_expire_time_us=expire_time_us)
    assert started.run is not None and started.lease is not None
    return started.run, started.lease


async def item_texts(store: Store, key: SessionKey) -> list[str]:
    return [item.text for item in await store.list_items(key)]


# Leases -----------------------------------------------------------------------------------


async def test_start_run_takes_the_lease_and_every_holder_gets_a_greater_token(
    store: Store,
) -> None:
    (key,) = await seeded(store, "s1")
    expire = expiry()
    run, first = await store_start(store, key, "run-1", expire)
    assert (first.key, first.run_id, first.owner, first.expire_time_us) == (
        key,
        "run-1",
        OWNER,
        expire,
    )
    assert await store.list_leases(limit=10) == [first]
    await finish(store, run, first)
    assert await store.list_leases(limit=10) == []

    run, second = await start(store, key, "run-2")
    assert second.token > first.token
    await finish(store, run, second)
    third = await acquire(store, key)
    assert third.run_id == "" and third.token > second.token
    assert await store.release_lease(third)
    _, fourth = await start(store, key, "run-3")
    assert fourth.token > third.token


async def test_start_on_a_held_session_is_busy_with_the_holders_lease(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    run, lease = await start(store, key, "run-1")
    busy = await store.start_run(running(key, "run-2"), lease_expire_time_us=expiry())
    assert (busy.run, busy.lease, busy.joined, busy.busy) == (None, None, False, lease)
    assert await store.get_run(key, "run-2") is None
    session = await store.get_session(key)
    assert session is not None and session.stats.run_count == 1

    await finish(store, run, lease)
    held = await acquire(store, key, OTHER_OWNER)
    busy = await store.start_run(running(key, "run-2"), lease_expire_time_us=expiry())
    assert (busy.run, busy.busy) == (None, held)


async def test_a_request_id_joins_its_first_run_even_after_it_finished(store: Store) -> None:
    (key, other) = await seeded(store, "s1", "s2")
    first, lease = await start(store, key, "run-1", request_id="req-1", request_hash="h1")
    assert (first.request_id, first.request_hash) == ("req-1", "h1")

    # While it runs: the same request joins it rather than finding the session busy.
    again = running(key, "run-2", request_id="req-1", request_hash="h2")
    joined = await store.start_run(again, lease_expire_time_us=expiry())
    assert (joined.run, joined.lease, joined.joined, joined.busy) == (first, None, True, None)

    finished = await finish(store, first, lease)
    joined = await store.start_run(again, lease_expire_time_us=expiry())
    assert joined.joined and joined.run == finished.run
    assert joined.run is not None and joined.run.state == RunState.COMPLETED
    assert joined.lease is None and joined.busy is None
    assert await store.get_run(key, "run-2") is None
    assert await store.list_leases(limit=10) == []
    session = await store.get_session(key)
    assert session is not None and session.stats.run_count == 1

    # Another session's request of that id is another request; so is a send without one.
    elsewhere, _ = await start(store, other, "run-1", request_id="req-1")
    assert elsewhere.key == other
    await start(store, key, "run-3")


async def test_a_lease_for_an_operation_that_is_not_a_run(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    expire = expiry()
    lease, holder = await store.acquire_lease(key, owner=OTHER_OWNER, expire_time_us=expire)
    assert holder is None and lease is not None
    assert (lease.key, lease.run_id, lease.owner, lease.expire_time_us) == (
        key,
        "",
        OTHER_OWNER,
        expire,
    )
    assert await store.acquire_lease(key, owner=OWNER, expire_time_us=expiry()) == (None, lease)
    busy = await store.start_run(running(key), lease_expire_time_us=expiry())
    assert busy.busy == lease and busy.run is None
    # The holder writes the history under it.
    await store.add_items(key, [message("summary")], fence=lease)
    assert await item_texts(store, key) == ["summary"]
    assert await store.release_lease(lease)
    await start(store, key)


async def test_release_needs_the_holders_token(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    lease = await acquire(store, key)
    stale = dataclasses.replace(lease, token=lease.token - 1)
    forged = dataclasses.replace(lease, token=lease.token + 1)
    assert not await store.release_lease(stale)
    assert not await store.release_lease(forged)
    assert await store.list_leases(limit=10) == [lease]
    assert await store.release_lease(lease)
    assert await store.list_leases(limit=10) == []
    assert not await store.release_lease(lease)
    # A later holder is not freed by an earlier one's lease.
    later = await acquire(store, key)
    assert not await store.release_lease(lease)
    assert await store.list_leases(limit=10) == [later]


async def test_renew_moves_the_expiry_of_one_owners_leases(store: Store) -> None:
    (s1, s2, s3) = await seeded(store, "s1", "s2", "s3")
    base = now_us()
    _, run_lease = await store_start(store, s1, "run-1", base + 1_000)
    mine = await store.acquire_lease(s2, owner=OWNER, expire_time_us=base + 2_000)
    theirs = await store.acquire_lease(s3, owner=OTHER_OWNER, expire_time_us=base + 3_000)
    assert mine[0] is not None and theirs[0] is not None

    later = base + LEASE_US
    assert await store.renew_leases(OWNER, later) == 2
    leases = {lease.key.session_id: lease for lease in await store.list_leases(limit=10)}
    assert leases == {
        "s1": dataclasses.replace(run_lease, expire_time_us=later),
        "s2": dataclasses.replace(mine[0], expire_time_us=later),
        "s3": theirs[0],
    }
    assert await store.renew_leases("process-gone", later) == 0
    # Renewal keeps the token: the holder's writes still pass with the lease it was given.
    await store.append_run_events(run_lease, events(1, 1))
    await store.add_items(s1, [message("still mine")], run_id="run-1", fence=run_lease)
    assert sequences(await read(store, s1)) == [1]


async def test_list_leases_soonest_to_expire_first(store: Store) -> None:
    keys = await seeded(store, "s1", "s2", "s3", "s4")
    base = now_us()
    for key, offset in zip(keys[:3], (3_000, 1_000, 2_000), strict=True):
        await store.acquire_lease(key, owner=OWNER, expire_time_us=base + offset)
    listed = await store.list_leases(limit=10)
    assert [lease.key.session_id for lease in listed] == ["s2", "s3", "s1"]
    assert [lease.expire_time_us for lease in listed] == [base + 1_000, base + 2_000, base + 3_000]
    assert await store.list_leases(limit=2) == listed[:2]


# Fencing ----------------------------------------------------------------------------------


async def test_after_a_new_run_took_over_the_old_lease_writes_nothing(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    run, old = await start(store, key, "run-1")
    await store.append_run_events(old, events(1, 2))
    await store.add_items(key, [message("hi")], run_id="run-1", fence=old)
    # The run is ended (by its owner, or by recovery) and the next run holds the session.
    await finish(store, run, old)
    _, new = await start(store, key, "run-2")
    before = await read(store, key)
    session = await store.get_session(key)

    await raises(Aborted, "LEASE_LOST", store.append_run_events(old, events(4, 4)))
    error = await raises(
        Aborted, "LEASE_LOST", store.add_items(key, [message("late")], run_id="run-1", fence=old)
    )
    assert error.metadata["run_id"] == "run-1"
    assert await read(store, key) == before
    assert await item_texts(store, key) == ["hi"]
    assert await store.get_session(key) == session
    # The new holder is unaffected.
    await store.append_run_events(new, events(1, 1))
    assert sequences(await read(store, key, "run-2")) == [1]


async def test_after_release_and_acquire_the_old_lease_writes_nothing(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    run, old = await start(store, key, "run-1")
    await store.append_run_events(old, events(1, 2))
    assert await store.release_lease(old)
    # Free: the old lease no longer holds the session either.
    await raises(Aborted, "LEASE_LOST", store.append_run_events(old, events(3, 3)))
    compaction = await acquire(store, key, OTHER_OWNER)
    session = await store.get_session(key)
    terminal = Terminal()

    await raises(Aborted, "LEASE_LOST", store.append_run_events(old, events(3, 3)))
    await raises(Aborted, "LEASE_LOST", store.add_items(key, [message("late")], fence=old))
    await raises(
        Aborted,
        "LEASE_LOST",
        store.finish_run(
            dataclasses.replace(run, state=RunState.COMPLETED, usage=Usage(total_tokens=9)),
            lease=old,
            terminal=terminal,
        ),
    )
    assert terminal.calls == []
    page = await read(store, key)
    assert sequences(page) == [1, 2] and page.run.state == RunState.RUNNING
    assert page.run.last_sequence == 2
    assert await store.list_items(key) == []
    assert await store.get_session(key) == session
    assert await store.list_leases(limit=10) == [compaction]


async def test_finish_with_the_lease_of_a_run_that_lost_it_to_the_next(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    run, old = await start(store, key, "run-1")
    assert await store.release_lease(old)
    _, new = await start(store, key, "run-2")
    await raises(Aborted, "LEASE_LOST", finish(store, run, old))
    first = await store.get_run(key, "run-1")
    assert first is not None and first.state == RunState.RUNNING and first.last_sequence == 0
    assert await store.list_leases(limit=10) == [new]


async def test_a_lease_of_another_token_or_run_does_not_hold_the_session(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    _, lease = await start(store, key, "run-1")
    for wrong in (
        dataclasses.replace(lease, token=lease.token + 1),
        dataclasses.replace(lease, token=lease.token - 1),
        dataclasses.replace(lease, run_id="run-other"),
        dataclasses.replace(lease, run_id=""),
    ):
        await raises(Aborted, "LEASE_LOST", store.add_items(key, [message("x")], fence=wrong))
    await raises(
        Aborted,
        "LEASE_LOST",
        store.append_run_events(dataclasses.replace(lease, token=lease.token + 1), events(1, 1)),
    )
    assert await store.list_items(key) == []
    assert sequences(await read(store, key)) == []


async def test_finish_needs_the_runs_own_lease(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    first, old = await start(store, key, "run-1")
    assert await store.release_lease(old)
    _, new = await start(store, key, "run-2")
    # run-2's lease holds the session, but it is not run-1's: finishing run-1 with it
    # would end run-1 and free the session from under run-2.
    await raises(Aborted, "LEASE_LOST", finish(store, first, new))
    assert await store.list_leases(limit=10) == [new]


async def test_a_stale_lease_does_not_release_a_recreated_sessions_holder(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    stale = await acquire(store, key, OTHER_OWNER)  # say, a compaction
    await store.delete_session(key, expected_etag=None)
    await store.create_session(session("s1"), None)
    _, lease = await start(store, key, "run-1")
    assert not await store.release_lease(stale)
    assert await store.list_leases(limit=10) == [lease]


async def test_a_stale_lease_does_not_fence_a_recreated_session(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    stale = await acquire(store, key, OTHER_OWNER)
    await store.delete_session(key, expected_etag=None)
    await store.create_session(session("s1"), None)
    await acquire(store, key, OWNER)
    await raises(Aborted, "LEASE_LOST", store.add_items(key, [message("late")], fence=stale))
    assert await store.list_items(key) == []


# Run events -------------------------------------------------------------------------------


async def test_events_round_trip_after_a_sequence(store: Store) -> None:
    (key, other) = await seeded(store, "s1", "s2")
    _, lease = await start(store, key)
    await store.append_run_events(lease, events(1, 3))
    await store.append_run_events(lease, [])
    await store.append_run_events(lease, events(4, 5))

    page = await read(store, key)
    assert page.events == events(1, 5) and not page.expired
    assert (page.run.run_id, page.run.state, page.run.last_sequence) == (
        "run-1",
        RunState.RUNNING,
        5,
    )
    assert page.run == await store.get_run(key, "run-1")
    assert (await read(store, key, after=3)).events == events(4, 5)
    last = await read(store, key, after=5)
    assert last.events == [] and not last.expired
    assert (
        await store.read_run_events(key, "ghost", after_sequence=0, limit=10, max_bytes=ALL_BYTES)
        is None
    )
    assert (
        await store.read_run_events(other, "run-1", after_sequence=0, limit=10, max_bytes=ALL_BYTES)
        is None
    )
    missing = SessionKey(TENANT, "helper", "ghost")
    assert (
        await store.read_run_events(
            missing, "run-1", after_sequence=0, limit=10, max_bytes=ALL_BYTES
        )
        is None
    )


async def test_a_runs_items_and_their_events_are_stored_together(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    _, lease = await start(store, key)
    await store.add_items(key, [message("before")])
    handed: list[list[int]] = []

    def encode(records: list[ItemRecord]) -> list[LoggedEvent]:
        handed.append([r.sequence for r in records])
        return [
            LoggedEvent(3 + i, False, f"item-{r.sequence}".encode()) for i, r in enumerate(records)
        ]

    records, written = await store.add_run_items(
        lease, [message("a"), message("b", "assistant")], pending=events(1, 2), encode=encode
    )

    assert [r.sequence for r in records] == [2, 3] and handed == [[2, 3]]
    assert {r.run_id for r in records} == {"run-1"}
    assert written == [
        *events(1, 2),
        LoggedEvent(3, False, b"item-2"),
        LoggedEvent(4, False, b"item-3"),
    ]
    page = await read(store, key)
    assert page.events == written and page.run.last_sequence == 4
    assert await item_texts(store, key) == ["before", "a", "b"]


async def test_a_runs_items_are_refused_with_their_events_once_it_lost_the_lease(
    store: Store,
) -> None:
    (key,) = await seeded(store, "s1")
    run, old = await start(store, key)
    await store.append_run_events(old, events(1, 1))
    await finish(store, run, old)
    before = await read(store, key)

    def encode(records: list[ItemRecord]) -> list[LoggedEvent]:
        raise AssertionError("nothing is encoded for a refused write")

    await raises(
        Aborted,
        "LEASE_LOST",
        store.add_run_items(old, [message("late")], pending=events(2, 3), encode=encode),
    )
    assert await read(store, key) == before
    assert await store.list_items(key) == []


async def test_a_failing_encoder_stores_neither_items_nor_events(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    _, lease = await start(store, key)
    session = await store.get_session(key)

    def encode(records: list[ItemRecord]) -> list[LoggedEvent]:
        raise ValueError("cannot encode")

    try:
        await store.add_run_items(lease, [message("a")], pending=events(1, 1), encode=encode)
    except ValueError:
        pass
    else:
        raise AssertionError("the encoder's failure was not raised")
    assert (await read(store, key)).events == []
    assert await store.list_items(key) == []
    assert await store.get_session(key) == session


async def test_events_page_by_count_and_by_bytes(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    _, lease = await start(store, key)
    await store.append_run_events(lease, events(1, 7))

    pages = []
    after = 0
    while page := (await read(store, key, after=after, limit=3)).events:
        pages.append([e.sequence for e in page])
        after = page[-1].sequence
    assert pages == [[1, 2, 3], [4, 5, 6], [7]]

    # Bodies are 10 bytes: 20 bytes is two events, and never less than one.
    assert sequences(await read(store, key, max_bytes=20)) == [1, 2]
    assert sequences(await read(store, key, after=2, max_bytes=20, limit=1)) == [3]
    assert sequences(await read(store, key, max_bytes=1)) == [1]
    assert sequences(await read(store, key, after=6, max_bytes=1)) == [7]

    # Any budget pages through every event, in order, without a gap.
    seen: list[LoggedEvent] = []
    after = 0
    while page := (await read(store, key, after=after, max_bytes=25)).events:
        assert sum(len(e.body) for e in page[:-1]) < 25
        seen.extend(page)
        after = page[-1].sequence
    assert seen == events(1, 7)


async def test_a_large_event_is_read_alone_past_the_byte_budget(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    _, lease = await start(store, key)
    big = LoggedEvent(1, False, b"x" * 100_000)
    await store.append_run_events(lease, [big, *events(2, 3)])
    assert (await read(store, key, max_bytes=1_000)).events == [big]


async def test_finish_appends_one_terminal_event_built_from_the_recorded_run(
    store: Store,
) -> None:
    (key,) = await seeded(store, "s1")
    await store.add_items(key, [message("before")])
    run, lease = await start(store, key, last_agent_id="helper")
    await store.append_run_events(lease, events(1, 3))
    usage = Usage(requests=1, input_tokens=7, output_tokens=3, total_tokens=10)
    terminal = Terminal()
    finished = await store.finish_run(
        dataclasses.replace(
            run,
            state=RunState.COMPLETED,
            usage=usage,
            end_time_us=run.start_time_us + 5,
            events_expire_time_us=run.start_time_us + 10**12,
        ),
        lease=lease,
        terminal=terminal,
    )

    assert len(terminal.calls) == 1
    encoded_run, encoded_stats, sequence = terminal.calls[0]
    assert sequence == 4
    assert encoded_run == finished.run == await store.get_run(key, "run-1")
    assert (encoded_run.state, encoded_run.usage, encoded_run.last_sequence) == (
        RunState.COMPLETED,
        usage,
        4,
    )
    assert encoded_run.end_time_us == run.start_time_us + 5
    assert encoded_run.events_expire_time_us == run.start_time_us + 10**12
    assert encoded_stats == finished.stats
    assert finished.stats == SessionStats(
        item_count=1,
        message_count=1,
        input_tokens=7,
        output_tokens=3,
        total_tokens=10,
        run_count=1,
    )
    session = await store.get_session(key)
    assert session is not None and session.stats == finished.stats

    page = await read(store, key)
    assert page.events[:3] == events(1, 3)
    assert page.events[3] == LoggedEvent(4, True, terminal_body(*terminal.calls[0]))
    assert page.run == finished.run and not page.expired
    # The session is free again.
    assert await store.list_leases(limit=10) == []
    await start(store, key, "run-2")


async def test_a_run_without_events_ends_with_terminal_event_one(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    run, lease = await start(store, key)
    finished = await finish(store, run, lease, RunState.CANCELLED)
    page = await read(store, key)
    assert [(e.sequence, e.terminal) for e in page.events] == [(1, True)]
    assert finished.run.last_sequence == 1 and page.run.state == RunState.CANCELLED


async def test_finish_twice_writes_no_second_terminal_event(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    run, lease = await start(store, key)
    await store.append_run_events(lease, events(1, 2))
    usage = Usage(total_tokens=5)
    await finish(store, run, lease, usage=usage)
    before = await read(store, key)
    terminal = Terminal()
    again = dataclasses.replace(run, state=RunState.FAILED, usage=usage)
    await raises(
        FailedPrecondition,
        "RUN_ALREADY_FINISHED",
        store.finish_run(again, lease=lease, terminal=terminal),
    )
    # Also when a later run holds the session now.
    _, later = await start(store, key, "run-2")
    await raises(
        FailedPrecondition,
        "RUN_ALREADY_FINISHED",
        store.finish_run(again, lease=later, terminal=terminal),
    )
    assert terminal.calls == []
    assert await read(store, key) == before
    assert [e.terminal for e in before.events] == [False, False, True]
    session = await store.get_session(key)
    assert session is not None and session.stats.total_tokens == 5
    assert await store.list_leases(limit=10) == [later]


# Cancel requests --------------------------------------------------------------------------


async def test_request_cancel_immediate_overrides_after_turn_and_the_first_reason_stays(
    store: Store,
) -> None:
    (one, two) = await seeded(store, "s1", "s2")
    await start(store, one)
    asked = await store.request_cancel(one, "run-1", CancelMode.AFTER_TURN, "first")
    assert asked is not None and asked.state == RunState.RUNNING
    assert (asked.cancel_mode, asked.cancel_reason) == (CancelMode.AFTER_TURN, "first")
    asked = await store.request_cancel(one, "run-1", CancelMode.IMMEDIATE, "second")
    assert asked is not None
    assert (asked.cancel_mode, asked.cancel_reason) == (CancelMode.IMMEDIATE, "first")
    asked = await store.request_cancel(one, "run-1", CancelMode.AFTER_TURN, "third")
    assert asked is not None
    assert (asked.cancel_mode, asked.cancel_reason) == (CancelMode.IMMEDIATE, "first")
    assert await store.get_run(one, "run-1") == asked

    await start(store, two)
    asked = await store.request_cancel(two, "run-1", CancelMode.IMMEDIATE, "now")
    asked = await store.request_cancel(two, "run-1", CancelMode.AFTER_TURN, "later")
    assert asked is not None
    assert (asked.cancel_mode, asked.cancel_reason) == (CancelMode.IMMEDIATE, "now")


async def test_request_cancel_leaves_a_finished_run_and_misses_unknown_runs(
    store: Store,
) -> None:
    (key,) = await seeded(store, "s1")
    run, lease = await start(store, key)
    finished = await finish(store, run, lease)
    assert finished.run.cancel_mode is None
    assert await store.request_cancel(key, "run-1", CancelMode.IMMEDIATE, "late") == finished.run
    assert await store.get_run(key, "run-1") == finished.run
    assert await store.request_cancel(key, "ghost", CancelMode.IMMEDIATE, "x") is None
    missing = SessionKey(TENANT, "helper", "ghost")
    assert await store.request_cancel(missing, "run-1", CancelMode.IMMEDIATE, "x") is None


async def test_cancel_requests_lists_one_owners_running_runs_that_were_asked(
    store: Store,
) -> None:
    (asked, quiet, ended, foreign) = await seeded(store, "s1", "s2", "s3", "s4")
    await start(store, asked, "run-a")
    await start(store, quiet, "run-q")
    run, lease = await start(store, ended, "run-e")
    await start(store, foreign, "run-f", owner=OTHER_OWNER)
    assert await store.cancel_requests(OWNER) == []

    await store.request_cancel(asked, "run-a", CancelMode.AFTER_TURN, "stop")
    await store.request_cancel(ended, "run-e", CancelMode.IMMEDIATE, "stop")
    await store.request_cancel(foreign, "run-f", CancelMode.IMMEDIATE, "stop")
    await finish(store, run, lease, RunState.CANCELLED)

    mine = await store.cancel_requests(OWNER)
    assert [(r.key, r.run_id, r.cancel_mode, r.cancel_reason) for r in mine] == [
        (asked, "run-a", CancelMode.AFTER_TURN, "stop")
    ]
    assert mine == [await store.get_run(asked, "run-a")]
    theirs = await store.cancel_requests(OTHER_OWNER)
    assert [(r.key, r.run_id) for r in theirs] == [(foreign, "run-f")]
    assert await store.cancel_requests("process-gone") == []


# Retention --------------------------------------------------------------------------------


async def ended_run(
    store: Store, key: SessionKey, event_count: int, events_expire_time_us: int | None
) -> RunRecord:
    """A finished run with `event_count` events and its terminal event."""
    run, lease = await start(store, key)
    await store.append_run_events(lease, events(1, event_count))
    finished = await finish(store, run, lease, events_expire_time_us=events_expire_time_us)
    assert finished.run.last_sequence == event_count + 1
    return finished.run


async def test_expired_events_are_unreadable_at_once_and_deleted_in_bounded_steps(
    store: Store,
) -> None:
    (old, young, live) = await seeded(store, "s1", "s2", "s3")
    now = now_us()
    await ended_run(store, old, 5, now - 1)  # 6 events, past retention
    await ended_run(store, young, 3, now + 10**9)  # 4 events, kept
    _, lease = await start(store, live)
    await store.append_run_events(lease, events(1, 2))  # running: no expiry yet
    young_page = await read(store, young)
    live_page = await read(store, live)

    assert await store.expire_run_events(now, runs=10, events=4) == 4
    # Unreadable from the first step on, though some rows remain.
    for after in (0, 3, 5):
        page = await read(store, old, after=after)
        assert page.expired and page.events == [], after
        assert page.run.last_sequence == 6 and page.run.state == RunState.COMPLETED
    caught_up = await read(store, old, after=6)
    assert not caught_up.expired and caught_up.events == []

    assert await store.expire_run_events(now, runs=10, events=4) == 2
    assert await store.expire_run_events(now, runs=10, events=4) == 0
    assert (await read(store, old)).expired
    assert not (await read(store, old, after=6)).expired
    assert await read(store, young) == young_page
    assert await read(store, live) == live_page

    # Once their time has come, the others go too; a running run never does.
    assert await store.expire_run_events(now + 10**9, runs=10, events=100) == 4
    assert (await read(store, young)).expired
    assert await store.expire_run_events(now + 10**12, runs=10, events=100) == 0
    assert await read(store, live) == live_page


async def test_expiry_steps_respect_the_run_and_event_budgets(store: Store) -> None:
    keys = await seeded(store, "s1", "s2", "s3")
    now = now_us()
    for key in keys:
        await ended_run(store, key, 5, now - 10)  # 6 events each
    steps = []
    while deleted := await store.expire_run_events(now, runs=1, events=4):
        assert deleted <= 4
        steps.append(deleted)
    assert sum(steps) == 18 and len(steps) >= 5
    for key in keys:
        assert (await read(store, key)).expired

    more = await seeded(store, "s4", "s5", agent_id="other")
    for key in more:
        await ended_run(store, key, 5, now - 10)
    first = await store.expire_run_events(now, runs=1, events=100)
    assert first == 6  # one run per step
    assert await store.expire_run_events(now, runs=1, events=100) == 6
    assert await store.expire_run_events(now, runs=1, events=100) == 0


async def test_deleting_a_session_takes_its_run_events(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await ended_run(store, key, 2, now_us() - 1)
    await store.delete_session(key, expected_etag=None)
    assert (
        await store.read_run_events(key, "run-1", after_sequence=0, limit=10, max_bytes=ALL_BYTES)
        is None
    )
    # Nothing of them is left for the sweep.
    assert await store.expire_run_events(now_us(), runs=10, events=100) == 0


# Data version -----------------------------------------------------------------------------


async def test_data_version_changes_after_a_commit_by_another_connection(
    store: Store, reopen: Reopen
) -> None:
    (key,) = await seeded(store, "s1")
    version = store.data_version()
    assert store.data_version() == version  # nothing committed meanwhile
    await store.get_session(key)
    assert store.data_version() == version

    await store.add_items(key, [message("through the store's writer")])
    after_own = store.data_version()
    assert after_own != version

    other = await reopen()
    await other.add_items(key, [message("through another store")])
    after_other = store.data_version()
    assert after_other != after_own
    other_version = other.data_version()
    await store.add_items(key, [message("and back")])
    assert other.data_version() != other_version


# Concurrency ------------------------------------------------------------------------------


async def test_concurrent_starts_on_one_session_start_one_run(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    results = await asyncio.gather(
        *(
            store.start_run(running(key, f"run-{n}"), lease_expire_time_us=expiry())
            for n in range(8)
        )
    )
    started = [r for r in results if r.run is not None]
    assert len(started) == 1 and started[0].lease is not None
    assert all(r.busy == started[0].lease for r in results if r is not started[0])
    session = await store.get_session(key)
    assert session is not None and session.stats.run_count == 1
    assert await store.list_leases(limit=10) == [started[0].lease]


async def test_concurrent_sends_of_one_request_start_one_run(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    results = await asyncio.gather(
        *(
            store.start_run(
                running(key, f"run-{n}", request_id="req-1"), lease_expire_time_us=expiry()
            )
            for n in range(8)
        )
    )
    started = [r for r in results if r.lease is not None]
    assert len(started) == 1
    assert all(r.joined and r.run == started[0].run for r in results if r is not started[0])
    assert len(await store.list_runs(key, after=None, limit=10)) == 1
