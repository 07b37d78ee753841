"""Store contract: AddItems under a request_id stores once and replays the first result."""

from __future__ import annotations

import asyncio

from agentsessions.server.domain.errors import NotFound
from agentsessions.server.domain.models import ItemRecord, now_us
from agentsessions.server.store import Store
from agentsessions.server.store.base import ItemsRequest
from store.store_records import function_call, key_of, message, raises, seeded, session


def request(request_id: str, request_hash: str = "h1", forget_before_us: int = 0) -> ItemsRequest:
    return ItemsRequest(request_id, request_hash, forget_before_us)


def named(items: list[ItemRecord]) -> list[tuple[int, str, str, int]]:
    return [(i.sequence, i.type, i.role, i.create_time_us) for i in items]


async def test_first_call_stores_and_a_repeat_replays_it(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    first = await store.add_items_once(key, [message("a"), function_call()], request("r1"))
    assert not first.replayed and first.request_hash == "h1"
    assert [i.sequence for i in first.items] == [1, 2]
    assert first.items[0].item_json  # the first call has the stored items whole

    # The history moves on; the repeat still names what the first call stored.
    await store.add_items(key, [message("b")])
    await store.pop_item(key)
    await store.pop_item(key)
    again = await store.add_items_once(key, [message("other")], request("r1", "h2"))
    assert again.replayed and again.request_hash == "h1"
    assert named(again.items) == named(first.items)
    assert all(i.item_json == "" and i.text == "" for i in again.items)
    session = await store.get_session(key)
    assert session is not None and session.stats.item_count == 1


async def test_request_ids_are_per_session(store: Store) -> None:
    one, two = await seeded(store, "s1", "s2")
    await store.add_items_once(one, [message("a")], request("r1"))
    other = await store.add_items_once(two, [message("a"), message("b")], request("r1"))
    assert not other.replayed and [i.sequence for i in other.items] == [1, 2]


async def test_concurrent_repeats_store_once(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    results = await asyncio.gather(
        *(store.add_items_once(key, [message("once")], request("r1")) for _ in range(10))
    )
    assert sum(not r.replayed for r in results) == 1
    assert {tuple(named(r.items)) for r in results} == {tuple(named(results[0].items))}
    session = await store.get_session(key)
    assert session is not None and session.stats.item_count == 1


async def test_older_requests_are_forgotten_when_the_session_is_added_to(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await store.add_items_once(key, [message("a")], request("old"))
    later = now_us() + 1
    await store.add_items_once(key, [message("b")], request("new", forget_before_us=later))
    forgotten = await store.add_items_once(key, [message("a")], request("old"))
    assert not forgotten.replayed and forgotten.items[0].sequence == 3
    kept = await store.add_items_once(key, [message("b")], request("new"))
    assert kept.replayed and kept.items[0].sequence == 2


async def test_missing_session_is_not_found(store: Store) -> None:
    await seeded(store)
    await raises(
        NotFound,
        "SESSION_NOT_FOUND",
        store.add_items_once(key_of(session("ghost")), [message("x")], request("r1")),
    )


async def test_deleting_the_session_drops_its_requests(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await store.add_items_once(key, [message("a")], request("r1"))
    await store.delete_session(key, expected_etag=None)
    await store.create_session(session("s1"), None)
    fresh = await store.add_items_once(key, [message("a")], request("r1"))
    assert not fresh.replayed and fresh.items[0].sequence == 1
