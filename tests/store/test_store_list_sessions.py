"""Store contract: keyset-paged session lists, every order and filter, each row exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest
from agentsessions.server.domain.models import SessionRecord, SessionState, now_us
from agentsessions.server.store import Store
from agentsessions.server.store.base import (
    SessionFilter,
    SessionOrder,
    SessionPageEntry,
    SessionQuery,
)
from store.store_records import OTHER_TENANT, TENANT, agent, key_of, session

ORDER_FIELDS = ("last_activity_time", "create_time", "update_time")
COUNT = 500


def order_value(record: SessionRecord, field: str) -> int:
    return int(getattr(record, f"{field}_us"))


async def populate(store: Store) -> list[SessionRecord]:
    """500 sessions over two agents, with many equal times so ties need the tie-breaker."""
    for agent_id in ("a", "b"):
        await store.create_agent(agent(agent_id), None)
    await store.create_agent(agent("a", tenant=OTHER_TENANT), None)

    def record(n: int) -> SessionRecord:
        labels = {"team": ("red", "blue")[n % 2]}
        if n % 5 == 0:
            labels["tier"] = "gold"
        name = f"Session {n:03d}" + (" 50%_off" if n % 7 == 0 else "")
        return session(
            f"s{n:03d}",
            ("a", "b")[n % 3 == 0],
            display_name=name,
            state=SessionState(n % 3 + 1),
            labels=labels,
            create_time_us=1_000_000 + (n * 7919) % 97,
            last_activity_time_us=2_000_000 + (n * 104729) % 53,
        )

    created = list(
        await asyncio.gather(*(store.create_session(record(n), None) for n in range(COUNT)))
    )
    # Another tenant's sessions must never show up.
    await asyncio.gather(
        *(store.create_session(session(f"x{n}", "a", tenant=OTHER_TENANT), None) for n in range(5))
    )
    # Give some sessions an update time of their own.
    renamed = range(0, COUNT, 5)
    updates = (
        store.update_session(
            key_of(created[n]),
            lambda s: dataclasses.replace(
                s, display_name=s.display_name + " v2", update_time_us=now_us(), etag="v2"
            ),
        )
        for n in renamed
    )
    for n, updated in zip(renamed, await asyncio.gather(*updates), strict=True):
        assert updated is not None
        created[n] = updated
    return created


@pytest.fixture
async def sessions(store: Store) -> list[SessionRecord]:
    return await populate(store)


async def walk(store: Store, query: SessionQuery, page_size: int) -> list[SessionPageEntry]:
    """Every page of `query` from its cursor on, following the cursors."""
    entries: list[SessionPageEntry] = []
    query = dataclasses.replace(query, limit=page_size)
    while True:
        page = await store.list_sessions(query)
        assert len(page) <= page_size
        entries.extend(page)
        if len(page) < page_size:
            return entries
        query = dataclasses.replace(query, after=page[-1].cursor)


def check_walk(
    entries: list[SessionPageEntry],
    expected: list[SessionRecord],
    order: SessionOrder,
) -> None:
    ids = [(e.session.agent_id, e.session.session_id) for e in entries]
    assert len(ids) == len(set(ids)), "a session was listed twice"
    assert sorted(ids) == sorted((s.agent_id, s.session_id) for s in expected)
    for entry in entries:
        assert entry.session.tenant == TENANT
        assert entry.cursor.value == order_value(entry.session, order.field)
    cursors = [(e.cursor.value, e.cursor.row) for e in entries]
    assert cursors == sorted(cursors, reverse=order.descending)
    assert len(set(cursors)) == len(cursors), "the tie-breaker must make every cursor unique"


@pytest.mark.parametrize("agent_id", [None, "a"])
async def test_every_order_lists_each_session_once_in_order(
    store: Store, sessions: list[SessionRecord], agent_id: str | None
) -> None:
    expected = [s for s in sessions if agent_id is None or s.agent_id == agent_id]
    for field in ORDER_FIELDS:
        for descending in (True, False):
            order = SessionOrder(field, descending)  # type: ignore[arg-type]
            query = SessionQuery(tenant=TENANT, agent_id=agent_id, order=order)
            check_walk(await walk(store, query, page_size=37), expected, order)


async def test_default_order_is_newest_activity_first(
    store: Store, sessions: list[SessionRecord]
) -> None:
    page = await store.list_sessions(SessionQuery(tenant=TENANT, agent_id=None, limit=10))
    newest = max(s.last_activity_time_us for s in sessions)
    assert page[0].session.last_activity_time_us == newest
    assert len(page) == 10


FILTERS: list[tuple[str, SessionFilter, Callable[[SessionRecord], bool]]] = [
    ("state", SessionFilter(state=SessionState.PAUSED), lambda s: s.state == SessionState.PAUSED),
    ("one label", SessionFilter(labels={"team": "red"}), lambda s: s.labels["team"] == "red"),
    (
        "two labels",
        SessionFilter(labels={"team": "blue", "tier": "gold"}),
        lambda s: s.labels["team"] == "blue" and s.labels.get("tier") == "gold",
    ),
    ("missing label", SessionFilter(labels={"nope": "x"}), lambda s: False),
    (
        "display name",
        SessionFilter(display_name="Session 004"),
        lambda s: s.display_name == "Session 004",
    ),
    (
        "contains, wildcards literal",
        SessionFilter(display_name_contains="50%_off"),
        lambda s: "50%_off" in s.display_name,
    ),
    ("contains %", SessionFilter(display_name_contains="%"), lambda s: "%" in s.display_name),
    (
        "everything at once",
        SessionFilter(
            state=SessionState.ACTIVE, labels={"team": "red"}, display_name_contains="v2"
        ),
        lambda s: (
            s.state == SessionState.ACTIVE and s.labels["team"] == "red" and "v2" in s.display_name
        ),
    ),
]


@pytest.mark.parametrize("agent_id", [None, "b"])
async def test_filters_page_through_exactly_the_matching_sessions(
    store: Store, sessions: list[SessionRecord], agent_id: str | None
) -> None:
    for name, conditions, matches in FILTERS:
        expected = [
            s for s in sessions if (agent_id is None or s.agent_id == agent_id) and matches(s)
        ]
        if name not in {"missing label", "display name"} and agent_id is None:
            assert len(expected) > 10, f"{name}: the data should exercise paging"
        for order in (SessionOrder(), SessionOrder("create_time", descending=False)):
            query = SessionQuery(tenant=TENANT, agent_id=agent_id, filter=conditions, order=order)
            check_walk(await walk(store, query, page_size=9), expected, order)


async def test_other_tenant_sees_only_its_own(store: Store, sessions: list[SessionRecord]) -> None:
    page = await store.list_sessions(SessionQuery(tenant=OTHER_TENANT, agent_id=None, limit=100))
    assert sorted(e.session.session_id for e in page) == [f"x{n}" for n in range(5)]
    assert await store.list_sessions(SessionQuery(tenant="nobody", agent_id=None)) == []


async def test_a_session_created_between_pages_appears_once(
    store: Store, sessions: list[SessionRecord]
) -> None:
    query = SessionQuery(
        tenant=TENANT, agent_id=None, order=SessionOrder("create_time", False), limit=100
    )
    first = await store.list_sessions(query)
    # Sessions created after the first page sort after it in this order and still appear.
    late = await store.create_session(
        session("late", "a", create_time_us=3_000_000, last_activity_time_us=3_000_000), None
    )
    rest = await walk(store, dataclasses.replace(query, after=first[-1].cursor), page_size=100)
    listed = [e.session.session_id for e in first + rest]
    assert listed[-1] == late.session_id
    assert len(listed) == COUNT + 1
