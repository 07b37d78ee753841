"""Page reads bounded by bytes and scans bounded by rows, at the store and in the page rule."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from agentsessions.server.domain.models import SessionState
from agentsessions.server.domain.paging import page_of, read_page
from agentsessions.server.store import SQLiteStore, Store
from agentsessions.server.store.base import (
    SessionCursor,
    SessionFilter,
    SessionOrder,
    SessionQuery,
    SessionScan,
)
from agentsessions.server.store.sqlite_queries import session_scan_end_sql
from store.store_records import TENANT, agent, message, seeded, session


class Counted:
    """An iterator over `rows` that counts how many were taken from it."""

    def __init__(self, rows: list[int]) -> None:
        self._rows = iter(rows)
        self.taken = 0

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        row = next(self._rows)
        self.taken += 1
        return row


def size(row: int) -> int:
    return row


def test_reading_stops_at_the_first_row_that_does_not_fit() -> None:
    rows = Counted([40, 40, 40, 40, 40, 40])
    assert read_page(rows, 100, 100, size) == [40, 40, 40]
    assert rows.taken == 3  # the third says that more exist; nothing after it is read


def test_a_first_row_past_the_budget_is_read_with_one_more() -> None:
    rows = Counted([500, 1, 1])
    assert read_page(rows, 100, 100, size) == [500, 1]
    assert rows.taken == 2


def test_without_a_byte_bound_only_the_count_applies() -> None:
    assert read_page(Counted([500] * 5), 3, None, size) == [500, 500, 500]
    assert read_page(Counted([500] * 5), -1, None, size) == [500] * 5


@pytest.mark.parametrize(
    ("rows", "entries", "more"),
    [
        ([40, 40, 40], [40, 40], True),  # the third does not fit
        ([40, 60], [40, 60], False),  # exactly the budget
        ([500, 1], [500], True),  # a large first row comes alone
        ([500], [500], False),
        ([10, 10, 10, 10], [10, 10, 10], True),  # the count, read with limit + 1
    ],
)
def test_a_page_ends_before_the_row_that_does_not_fit(
    rows: list[int], entries: list[int], more: bool
) -> None:
    page = page_of(rows, 3, {}, lambda row: [row, "x"], size_of=size, max_bytes=100)
    assert page.entries == entries
    assert bool(page.next_page_token) == more


async def test_list_items_stops_reading_at_the_byte_budget(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await store.add_items(key, [message("x" * 1000) for _ in range(50)])
    items = await store.list_items(key, limit=51, max_bytes=5000)
    # Each item is ~2 KB (its JSON and its text): two fit, the third says more exist.
    assert [i.sequence for i in items] == [1, 2, 3]
    assert len(await store.list_items(key, limit=51)) == 50
    assert await store.list_items(key, limit=0, max_bytes=5000) == []


async def test_the_scan_end_is_the_nth_row_of_the_order(store: Store) -> None:
    await store.create_agent(agent(), None)
    created = [
        await store.create_session(session(f"s{n:02d}", state=SessionState.PAUSED), None)
        for n in range(10)
    ]
    query = SessionQuery(
        tenant=TENANT,
        agent_id=None,
        filter=SessionFilter(state=SessionState.ACTIVE),
        order=SessionOrder("create_time", descending=False),
    )
    scan = await store.scan_sessions(query, 4)
    assert scan.entries == []
    assert scan.end is not None
    assert scan.end.value == created[3].create_time_us
    assert await store.scan_sessions(query, 11) == SessionScan([], None)
    # The filtered list looks no further than the end, whatever the filter.
    everything = SessionQuery(
        tenant=TENANT, agent_id=None, order=SessionOrder("create_time", descending=False)
    )
    listed = await store.list_sessions(dataclasses.replace(everything, until=scan.end, limit=100))
    assert [e.session.session_id for e in listed] == [f"s{n:02d}" for n in range(4)]
    scan = await store.scan_sessions(dataclasses.replace(everything, limit=100), 4)
    assert [e.session.session_id for e in scan.entries] == [f"s{n:02d}" for n in range(4)]


async def test_the_scan_end_reads_the_index_alone(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"
    migrated = SQLiteStore(str(path))
    await migrated.open()
    await migrated.close()
    for agent_id in (None, "helper"):
        query = SessionQuery(
            tenant="t",
            agent_id=agent_id,
            filter=SessionFilter(state=SessionState.ACTIVE),
            after=SessionCursor(value=5, row=3),
        )
        sql, params = session_scan_end_sql(query, 4096)
        with sqlite3.connect(path) as conn:
            plan = "\n".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "COVERING INDEX" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
