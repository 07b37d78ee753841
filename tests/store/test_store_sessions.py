"""Store contract: sessions' create, get, update, delete, their errors and idempotency."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from agentsessions.server.domain.errors import Aborted, AlreadyExists, NotFound
from agentsessions.server.domain.models import (
    Lease,
    RunRecord,
    RunState,
    SessionKey,
    SessionRecord,
    SessionState,
    SessionStats,
    Usage,
    now_us,
)
from agentsessions.server.store import Store
from store.store_records import (
    LEASE_US,
    OTHER_TENANT,
    OWNER,
    TENANT,
    agent,
    function_call,
    key_of,
    message,
    raises,
    running,
    seeded,
    session,
    start,
    terminal_body,
)


async def test_create_then_get_round_trips(store: Store) -> None:
    await store.create_agent(agent("helper"), None)
    record = session(
        "s1",
        display_name="Trip to Kraków",
        state=SessionState.PAUSED,
        labels={"team": "travel", "a.b": 'quote"d'},
        expire_time_us=2_000_000_000_000_000,
    )
    created = await store.create_session(record, None)
    assert created.etag
    assert created.create_time_us > 0
    assert created.update_time_us == created.create_time_us
    assert created.last_activity_time_us == created.create_time_us
    assert created.stats == SessionStats()
    assert created == dataclasses.replace(
        record,
        create_time_us=created.create_time_us,
        update_time_us=created.update_time_us,
        last_activity_time_us=created.last_activity_time_us,
        etag=created.etag,
    )
    assert await store.get_session(key_of(record)) == created


async def test_create_keeps_given_times(store: Store) -> None:
    await store.create_agent(agent("helper"), None)
    created = await store.create_session(
        session("s1", create_time_us=1_000, last_activity_time_us=5_000), None
    )
    assert (created.create_time_us, created.last_activity_time_us) == (1_000, 5_000)


async def test_get_is_scoped_by_tenant_and_agent(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    assert await store.get_session(SessionKey(OTHER_TENANT, key.agent_id, key.session_id)) is None
    assert await store.get_session(SessionKey(key.tenant, "other", key.session_id)) is None
    assert await store.get_session(SessionKey(key.tenant, key.agent_id, "nope")) is None


async def test_create_for_missing_agent_is_not_found(store: Store) -> None:
    error = await raises(
        NotFound, "AGENT_NOT_FOUND", store.create_session(session("s1", "ghost"), None)
    )
    assert error.metadata == {"name": "agents/ghost", "agent_id": "ghost"}
    # Another tenant's agent of that id does not count.
    await store.create_agent(agent("ghost", tenant=OTHER_TENANT), None)
    await raises(NotFound, "AGENT_NOT_FOUND", store.create_session(session("s1", "ghost"), None))


async def test_duplicate_session_id_already_exists_within_one_agent_only(store: Store) -> None:
    await seeded(store, "s1")
    error = await raises(
        AlreadyExists, "SESSION_ALREADY_EXISTS", store.create_session(session("s1"), None)
    )
    assert error.metadata == {
        "name": "agents/helper/sessions/s1",
        "agent_id": "helper",
        "session_id": "s1",
    }
    await store.create_agent(agent("other"), None)
    assert (await store.create_session(session("s1", "other"), None)).agent_id == "other"


async def test_same_request_id_returns_the_first_session(store: Store) -> None:
    await store.create_agent(agent("helper"), None)
    first = await store.create_session(session("s1"), "req-1")
    again = await store.create_session(session("s2", display_name="Other"), "req-1")
    assert again == first
    assert await store.get_session(SessionKey(TENANT, "helper", "s2")) is None


async def test_request_id_of_a_deleted_session_creates_anew(store: Store) -> None:
    await store.create_agent(agent("helper"), None)
    first = await store.create_session(session("s1"), "req-1")
    await store.delete_session(key_of(first), expected_etag=None)
    again = await store.create_session(session("s1"), "req-1")
    assert again.etag != first.etag


async def test_session_request_ids_are_scoped_to_their_agent(store: Store) -> None:
    await store.create_agent(agent("a"), None)
    await store.create_agent(agent("b"), None)
    in_a = await store.create_session(session("s1", "a"), "req-1")
    in_b = await store.create_session(session("s1", "b"), "req-1")
    assert (in_a.agent_id, in_b.agent_id) == ("a", "b")


async def test_update_stores_the_change_of_the_current_row_keeping_stats(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await store.add_items(key, [message("hi"), function_call()])
    current = await store.get_session(key)
    assert current is not None
    seen: list[SessionRecord] = []

    def change(stored: SessionRecord) -> SessionRecord:
        seen.append(stored)
        return dataclasses.replace(
            stored,
            display_name="Renamed",
            state=SessionState.COMPLETED,
            labels={"k": "v"},
            expire_time_us=123,
            update_time_us=stored.update_time_us + 1,
            etag="etag-2",
            stats=SessionStats(),  # ignored: stats are the store's
        )

    updated = await store.update_session(key, change)
    assert seen == [current]
    assert updated is not None and updated.etag == "etag-2"
    assert (updated.display_name, updated.state, updated.labels, updated.expire_time_us) == (
        "Renamed",
        SessionState.COMPLETED,
        {"k": "v"},
        123,
    )
    assert updated.stats == current.stats
    assert updated.create_time_us == current.create_time_us
    assert updated.last_activity_time_us == current.last_activity_time_us
    assert updated.update_time_us == current.update_time_us + 1
    assert await store.get_session(key) == updated
    cleared = await store.update_session(
        key, lambda s: dataclasses.replace(s, labels={}, expire_time_us=None)
    )
    assert cleared is not None and (cleared.labels, cleared.expire_time_us) == ({}, None)


async def test_update_that_raises_stores_nothing_and_missing_session_is_none(
    store: Store,
) -> None:
    (key,) = await seeded(store, "s1")
    current = await store.get_session(key)
    assert current is not None

    def refuse(stored: SessionRecord) -> SessionRecord:
        raise Aborted("changed since read", reason="ETAG_MISMATCH")

    await raises(Aborted, "ETAG_MISMATCH", store.update_session(key, refuse))
    assert await store.get_session(key) == current
    assert await store.update_session(key_of(session("ghost")), refuse) is None


async def test_concurrent_updates_each_see_the_previous_one(store: Store) -> None:
    """Read-modify-write in one transaction: no update is lost to one read before it."""
    (key,) = await seeded(store, "s1")
    count = 20

    def add_label(n: int) -> Callable[[SessionRecord], SessionRecord]:
        return lambda s: dataclasses.replace(s, labels={**s.labels, f"k{n}": str(n)})

    await asyncio.gather(*(store.update_session(key, add_label(n)) for n in range(count)))
    after = await store.get_session(key)
    assert after is not None
    assert after.labels == {f"k{n}": str(n) for n in range(count)}


async def test_delete_checks_etag_then_cascades(store: Store) -> None:
    (key, other) = await seeded(store, "s1", "s2")
    await store.add_items(key, [message("hi")])
    await store.add_items(other, [message("kept")])
    await start(store, key)
    current = await store.get_session(key)
    assert current is not None
    await raises(Aborted, "ETAG_MISMATCH", store.delete_session(key, expected_etag="stale"))
    await store.delete_session(key, expected_etag=current.etag)
    assert await store.get_session(key) is None
    assert await store.get_run(key, "run-1") is None
    await raises(NotFound, "SESSION_NOT_FOUND", store.delete_session(key, expected_etag=None))
    # A new session of that id starts empty; the neighbour is untouched.
    await store.create_session(session("s1"), None)
    assert await store.list_items(key) == []
    assert [i.text for i in await store.list_items(other)] == ["kept"]


async def test_missing_session_is_not_found_everywhere(store: Store) -> None:
    await store.create_agent(agent("helper"), None)
    key = SessionKey(TENANT, "helper", "ghost")
    for call in (
        store.add_items(key, [message("x")]),
        store.list_items(key),
        store.pop_item(key),
        store.clear_items(key),
        store.start_run(running(key, "r"), lease_expire_time_us=now_us() + LEASE_US),
        store.finish_run(
            RunRecord(key, "r", RunState.COMPLETED, usage=Usage()),
            lease=Lease(key, "r", OWNER, 1, now_us() + LEASE_US),
            terminal=terminal_body,
        ),
        store.acquire_lease(key, owner=OWNER, expire_time_us=now_us() + LEASE_US),
    ):
        error = await raises(NotFound, "SESSION_NOT_FOUND", call)
        assert error.metadata == {
            "name": "agents/helper/sessions/ghost",
            "agent_id": "helper",
            "session_id": "ghost",
        }
    assert await store.get_run(key, "r") is None
