"""Store contract: agents, their errors, paging, idempotent create and forced delete."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from agentsessions.server.domain.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    NotFound,
)
from agentsessions.server.domain.models import AgentRecord
from agentsessions.server.store import Store
from store.store_records import (
    OTHER_TENANT,
    TENANT,
    agent,
    full_agent,
    message,
    raises,
    seeded,
    start,
)


async def test_create_then_get_round_trips_every_field(store: Store) -> None:
    created = await store.create_agent(full_agent(), None)
    assert created.etag
    assert created.create_time_us > 0
    assert created.update_time_us == created.create_time_us
    expected = dataclasses.replace(
        full_agent(),
        create_time_us=created.create_time_us,
        update_time_us=created.update_time_us,
        etag=created.etag,
    )
    assert created == expected
    assert await store.get_agent(TENANT, "full") == expected


async def test_get_missing_or_other_tenant_is_none(store: Store) -> None:
    await store.create_agent(agent("helper"), None)
    assert await store.get_agent(TENANT, "nobody") is None
    assert await store.get_agent(OTHER_TENANT, "helper") is None


async def test_duplicate_id_already_exists_but_other_tenant_may_reuse_it(store: Store) -> None:
    first = await store.create_agent(agent("helper"), None)
    error = await raises(
        AlreadyExists, "AGENT_ALREADY_EXISTS", store.create_agent(agent("helper"), None)
    )
    assert error.metadata == {"name": "agents/helper", "agent_id": "helper"}
    assert await store.get_agent(TENANT, "helper") == first
    other = await store.create_agent(agent("helper", tenant=OTHER_TENANT), None)
    assert other.tenant == OTHER_TENANT


async def test_get_agents_returns_only_existing_in_tenant(store: Store) -> None:
    for agent_id in ("a", "b", "c"):
        await store.create_agent(agent(agent_id), None)
    await store.create_agent(agent("d", tenant=OTHER_TENANT), None)
    found = await store.get_agents(TENANT, ["c", "a", "missing", "d"])
    assert sorted(a.agent_id for a in found) == ["a", "c"]
    assert await store.get_agents(TENANT, []) == []


async def test_list_agents_pages_oldest_first_with_ties_broken_by_id(store: Store) -> None:
    # Three agents share each create time, so the id must break the ties.
    ids = [f"agent-{n:02d}" for n in range(25)]
    for n, agent_id in enumerate(reversed(ids)):
        await store.create_agent(agent(agent_id, create_time_us=1_000_000 + (n // 3)), None)
    await store.create_agent(agent("elsewhere", tenant=OTHER_TENANT), None)

    seen = []
    after = None
    while True:
        page = await store.list_agents(TENANT, after=after, limit=7)
        assert len(page) <= 7
        seen.extend(page)
        if len(page) < 7:
            break
        after = (page[-1].create_time_us, page[-1].agent_id)
    keys = [(a.create_time_us, a.agent_id) for a in seen]
    assert keys == sorted(keys)
    assert sorted(a.agent_id for a in seen) == ids
    assert await store.list_agents(TENANT, after=None, limit=0) == []


async def test_update_stores_the_change_of_the_current_row(store: Store) -> None:
    created = await store.create_agent(full_agent(), None)
    seen: list[AgentRecord] = []

    def change(current: AgentRecord) -> AgentRecord:
        seen.append(current)
        return dataclasses.replace(
            current,
            display_name="Renamed",
            tools=(),
            model_settings=dataclasses.replace(current.model_settings, temperature=None),
            update_time_us=current.update_time_us + 1,
            etag="etag-2",
            create_time_us=0,  # ignored: the create time stays
        )

    updated = await store.update_agent(TENANT, "full", change)
    assert seen == [created]
    assert updated is not None and updated.etag == "etag-2"
    assert updated.display_name == "Renamed"
    assert updated.tools == ()
    assert updated.model_settings.temperature is None
    assert updated.create_time_us == created.create_time_us
    assert updated.update_time_us == created.update_time_us + 1
    assert await store.get_agent(TENANT, "full") == updated


async def test_update_that_raises_stores_nothing_and_missing_agent_is_none(store: Store) -> None:
    created = await store.create_agent(agent("helper"), None)

    def refuse(current: AgentRecord) -> AgentRecord:
        raise Aborted("changed since read", reason="ETAG_MISMATCH")

    await raises(Aborted, "ETAG_MISMATCH", store.update_agent(TENANT, "helper", refuse))
    assert await store.get_agent(TENANT, "helper") == created
    assert await store.update_agent(TENANT, "ghost", refuse) is None
    assert await store.update_agent(OTHER_TENANT, "helper", refuse) is None


async def test_concurrent_updates_each_see_the_previous_one(store: Store) -> None:
    """Read-modify-write in one transaction: no update is lost to one read before it."""
    await store.create_agent(agent("helper"), None)
    count = 20

    def add_tool(n: int) -> Callable[[AgentRecord], AgentRecord]:
        return lambda a: dataclasses.replace(a, tools=(*a.tools, f"t{n}"))

    await asyncio.gather(*(store.update_agent(TENANT, "helper", add_tool(n)) for n in range(count)))
    after = await store.get_agent(TENANT, "helper")
    assert after is not None and sorted(after.tools) == sorted(f"t{n}" for n in range(count))


async def test_delete_checks_existence_and_etag(store: Store) -> None:
    await raises(
        NotFound,
        "AGENT_NOT_FOUND",
        store.delete_agent(TENANT, "ghost", force=False, expected_etag=None),
    )
    created = await store.create_agent(agent("helper"), None)
    await raises(
        Aborted,
        "ETAG_MISMATCH",
        store.delete_agent(TENANT, "helper", force=False, expected_etag="stale"),
    )
    await store.delete_agent(TENANT, "helper", force=False, expected_etag=created.etag)
    assert await store.get_agent(TENANT, "helper") is None


async def test_delete_with_sessions_needs_force(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await raises(
        FailedPrecondition,
        "AGENT_HAS_SESSIONS",
        store.delete_agent(TENANT, "helper", force=False, expected_etag=None),
    )
    assert await store.get_agent(TENANT, "helper") is not None
    assert await store.get_session(key) is not None


async def test_forced_delete_cascades_to_sessions_items_and_runs(store: Store) -> None:
    keys = await seeded(store, "s1", "s2")
    for key in keys:
        await store.add_items(key, [message("hello"), message("hi", "assistant")])
        await start(store, key)
    await store.delete_agent(TENANT, "helper", force=True, expected_etag=None)
    assert await store.get_agent(TENANT, "helper") is None
    for key in keys:
        assert await store.get_session(key) is None
        assert await store.get_run(key, "run-1") is None
        await raises(NotFound, "SESSION_NOT_FOUND", store.list_items(key))
    # The same ids come back empty: nothing of the old rows survives.
    (key,) = await seeded(store, "s1")
    assert await store.list_items(key) == []
    fresh = await store.get_session(key)
    assert fresh is not None and fresh.stats.item_count == 0 and fresh.stats.run_count == 0


async def test_create_with_same_request_id_returns_the_first_agent(store: Store) -> None:
    first = await store.create_agent(agent("first"), "req-1")
    again = await store.create_agent(agent("second", display_name="Other"), "req-1")
    assert again == first
    assert await store.get_agent(TENANT, "second") is None
    # Another tenant's request id is another request.
    other = await store.create_agent(agent("first", tenant=OTHER_TENANT), "req-1")
    assert other.tenant == OTHER_TENANT


async def test_request_id_of_a_deleted_agent_creates_anew(store: Store) -> None:
    first = await store.create_agent(agent("first"), "req-1")
    await store.delete_agent(TENANT, "first", force=False, expected_etag=None)
    again = await store.create_agent(agent("first"), "req-1")
    assert again.etag != first.etag
    assert await store.get_agent(TENANT, "first") == again


async def test_concurrent_creates_with_one_request_id_make_one_agent(store: Store) -> None:
    results = await asyncio.gather(
        *(store.create_agent(agent(f"agent-{n}"), "req-same") for n in range(10))
    )
    assert len({r.agent_id for r in results}) == 1
    assert len(await store.list_agents(TENANT, after=None, limit=100)) == 1
