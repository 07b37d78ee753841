"""Store contract: items keep dense sequences and the session's stats in step."""

from __future__ import annotations

import json

from agentsessions.server.domain.models import (
    NewItem,
    SessionKey,
    SessionStats,
    Usage,
)
from agentsessions.server.store import Store
from store.store_records import finish, function_call, function_output, message, seeded, start


async def stats(store: Store, key: SessionKey) -> SessionStats:
    session = await store.get_session(key)
    assert session is not None
    return session.stats


async def sequences(store: Store, key: SessionKey) -> list[int]:
    return [item.sequence for item in await store.list_items(key)]


async def test_add_returns_dense_sequences_and_counts_stats(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    before = await store.get_session(key)
    assert before is not None
    added = await store.add_items(
        key, [message("hi"), function_call(), function_output()], run_id="run-1"
    )
    assert [i.sequence for i in added] == [1, 2, 3]
    assert [i.type for i in added] == ["message", "function_call", "function_call_output"]
    assert {i.run_id for i in added} == {"run-1"}
    assert all(i.create_time_us > 0 for i in added)
    more = await store.add_items(key, [message("bye", "assistant")])
    assert [i.sequence for i in more] == [4]
    assert more[0].run_id == ""
    assert await store.list_items(key) == added + more
    after = await store.get_session(key)
    assert after is not None
    assert after.stats == SessionStats(item_count=4, message_count=2, function_call_count=1)
    assert after.last_activity_time_us >= more[0].create_time_us
    assert after.last_activity_time_us >= before.last_activity_time_us
    assert after.etag == before.etag  # history is not the session's fields


async def test_add_nothing_changes_nothing(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    before = await store.get_session(key)
    assert await store.add_items(key, []) == []
    assert await store.get_session(key) == before


async def test_item_json_round_trips_exactly(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    raw = json.dumps(
        {"role": "user", "content": [{"type": "input_text", "text": 'zażółć 🚀 \u0000 "q"'}]},
        ensure_ascii=False,
    )
    big = json.dumps({"role": "assistant", "content": "x" * 300_000})
    await store.add_items(key, [NewItem(raw, "message", "user", "zażółć"), NewItem(big, "message")])
    items = await store.list_items(key)
    assert [i.item_json for i in items] == [raw, big]
    assert (items[0].role, items[0].text) == ("user", "zażółć")


async def test_list_after_newest_and_limit(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await store.add_items(key, [message(f"m{n}") for n in range(1, 11)])

    async def listed(**kwargs: int) -> list[int]:
        return [i.sequence for i in await store.list_items(key, **kwargs)]

    assert await listed() == list(range(1, 11))
    assert await listed(after_sequence=7) == [8, 9, 10]
    assert await listed(newest_count=3) == [8, 9, 10]
    assert await listed(newest_count=30) == list(range(1, 11))
    assert await listed(limit=4) == [1, 2, 3, 4]
    assert await listed(after_sequence=4, limit=2) == [5, 6]
    assert await listed(newest_count=5, limit=2) == [6, 7]
    assert await listed(newest_count=5, after_sequence=8) == [9, 10]
    assert await listed(after_sequence=10) == []
    assert await listed(limit=0) == []
    assert [i.text for i in await store.list_items(key, newest_count=1)] == ["m10"]


async def test_empty_session_lists_nothing(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    assert await store.list_items(key) == []
    assert await store.list_items(key, newest_count=5, limit=1) == []


async def test_items_belong_to_their_session(store: Store) -> None:
    (one, two) = await seeded(store, "s1", "s2")
    await store.add_items(one, [message("one")])
    await store.add_items(two, [message("two-a"), message("two-b")])
    assert [i.text for i in await store.list_items(one)] == ["one"]
    assert [i.sequence for i in await store.list_items(two)] == [1, 2]


async def test_pop_returns_the_newest_and_keeps_sequences_dense(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await store.add_items(key, [message("a"), function_call(), message("c")])
    popped = await store.pop_item(key)
    assert popped is not None and (popped.sequence, popped.text) == (3, "c")
    popped = await store.pop_item(key)
    assert popped is not None and (popped.sequence, popped.type) == (2, "function_call")
    assert await stats(store, key) == SessionStats(item_count=1, message_count=1)
    added = await store.add_items(key, [message("d"), message("e")])
    assert [i.sequence for i in added] == [2, 3]
    assert await sequences(store, key) == [1, 2, 3]
    assert [i.text for i in await store.list_items(key, newest_count=2)] == ["d", "e"]
    assert await stats(store, key) == SessionStats(item_count=3, message_count=3)


async def test_pop_on_empty_session_is_none(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    assert await store.pop_item(key) is None
    await store.add_items(key, [message("only")])
    assert await store.pop_item(key) is not None
    assert await store.pop_item(key) is None
    assert await stats(store, key) == SessionStats()


async def test_clear_removes_items_but_keeps_token_and_run_stats(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    run, lease = await start(store, key)
    await store.add_items(
        key, [message("a"), function_call(), function_output()], run_id=run.run_id, fence=lease
    )
    usage = Usage(requests=1, input_tokens=10, output_tokens=5, total_tokens=15)
    await finish(store, run, lease, usage=usage)
    assert await store.clear_items(key) == 3
    assert await store.list_items(key) == []
    assert await stats(store, key) == SessionStats(
        input_tokens=10, output_tokens=5, total_tokens=15, run_count=1
    )
    assert await store.clear_items(key) == 0
    assert [i.sequence for i in await store.add_items(key, [message("again")])] == [1]
