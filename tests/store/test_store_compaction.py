"""Store contract: compaction puts a summary in place of the oldest items; batch deletes."""

from __future__ import annotations

import dataclasses
import json

from agentsessions.server.domain.errors import Aborted, InvalidArgument, NotFound
from agentsessions.server.domain.models import (
    SessionKey,
    SessionRecord,
    SessionStats,
    Usage,
)
from agentsessions.server.store import Store
from store.store_records import (
    TENANT,
    function_call,
    function_output,
    message,
    raises,
    seeded,
    start,
)


async def session_of(store: Store, key: SessionKey) -> SessionRecord:
    session = await store.get_session(key)
    assert session is not None
    return session


async def version_of(store: Store, key: SessionKey) -> int:
    version = await store.get_history_version(key)
    assert version is not None
    return version


async def contents(store: Store, key: SessionKey) -> list[tuple[int, str]]:
    return [
        (i.sequence, json.loads(i.item_json).get("content", i.type))
        for i in await store.list_items(key)
    ]


async def history_of_eight(store: Store) -> SessionKey:
    (key,) = await seeded(store, "s1")
    await store.add_items(key, [message("m1"), message("m2", "assistant"), message("m3")])
    await store.add_items(key, [function_call(), function_output()], run_id="run-1")
    await store.add_items(key, [message("m6", "assistant"), message("m7"), message("m8")])
    return key


async def test_summary_becomes_item_one_and_the_rest_follow_densely(store: Store) -> None:
    key = await history_of_eight(store)
    before = await session_of(store, key)
    kept_before = (await store.list_items(key))[3:]

    done = await store.compact_items(
        key,
        through_sequence=3,
        summary=message("Summary: m1 to m3"),
        expected_history_version=await version_of(store, key),
        usage=Usage(requests=1, input_tokens=7, output_tokens=3, total_tokens=10),
    )

    assert done.removed_item_count == 3
    assert done.summary is not None and done.summary.sequence == 1
    assert (done.summary.role, done.summary.text) == ("user", "Summary: m1 to m3")
    items = await store.list_items(key)
    assert [i.sequence for i in items] == [1, 2, 3, 4, 5, 6]
    assert items[0] == done.summary
    # The kept items are the same items, moved: json, run id and time unchanged.
    moved = [(i.item_json, i.type, i.run_id, i.create_time_us) for i in items[1:]]
    assert moved == [(i.item_json, i.type, i.run_id, i.create_time_us) for i in kept_before]
    assert done.session.stats == SessionStats(
        item_count=6,
        message_count=4,
        function_call_count=1,
        input_tokens=7,
        output_tokens=3,
        total_tokens=10,
    )
    assert await session_of(store, key) == done.session
    assert done.session.last_activity_time_us >= before.last_activity_time_us
    assert done.session.etag == before.etag  # history is not the session's fields


async def test_the_history_goes_on_after_compaction(store: Store) -> None:
    key = await history_of_eight(store)
    await store.compact_items(
        key,
        through_sequence=6,
        summary=message("S"),
        expected_history_version=await version_of(store, key),
    )
    added = await store.add_items(key, [message("m9")])
    assert [i.sequence for i in added] == [4]
    popped = await store.pop_item(key)
    assert popped is not None and popped.sequence == 4
    assert await contents(store, key) == [(1, "S"), (2, "m7"), (3, "m8")]
    assert (await session_of(store, key)).stats.item_count == 3


async def test_without_a_summary_the_kept_items_start_at_one(store: Store) -> None:
    key = await history_of_eight(store)
    done = await store.compact_items(
        key, through_sequence=5, summary=None, expected_history_version=await version_of(store, key)
    )
    assert (done.removed_item_count, done.summary) == (5, None)
    assert await contents(store, key) == [(1, "m6"), (2, "m7"), (3, "m8")]
    assert done.session.stats == SessionStats(item_count=3, message_count=3)


async def test_the_whole_history_or_a_single_item_can_be_replaced(store: Store) -> None:
    key = await history_of_eight(store)
    await store.compact_items(
        key,
        through_sequence=1,
        summary=message("S1"),
        expected_history_version=await version_of(store, key),
    )
    assert [c for _, c in await contents(store, key)][:2] == ["S1", "m2"]
    assert (await session_of(store, key)).stats.item_count == 8

    done = await store.compact_items(
        key,
        through_sequence=8,
        summary=message("all"),
        expected_history_version=await version_of(store, key),
    )
    assert done.removed_item_count == 8
    assert await contents(store, key) == [(1, "all")]
    assert done.session.stats == SessionStats(item_count=1, message_count=1)


async def test_a_changed_history_or_a_bad_boundary_changes_nothing(store: Store) -> None:
    key = await history_of_eight(store)
    before = (await session_of(store, key), await store.list_items(key))

    await raises(
        Aborted,
        "HISTORY_CHANGED",
        store.compact_items(
            key,
            through_sequence=3,
            summary=message("S"),
            expected_history_version=await version_of(store, key) - 1,
        ),
    )
    for bad in (0, 9):
        await raises(
            InvalidArgument,
            "INVALID_ARGUMENT",
            store.compact_items(
                key,
                through_sequence=bad,
                summary=message("S"),
                expected_history_version=await version_of(store, key),
            ),
        )
    assert (await session_of(store, key), await store.list_items(key)) == before
    missing = SessionKey(TENANT, "helper", "nope")
    await raises(
        NotFound,
        "SESSION_NOT_FOUND",
        store.compact_items(missing, through_sequence=1, summary=None, expected_history_version=0),
    )


async def test_every_write_to_the_history_changes_its_version(store: Store) -> None:
    key = await history_of_eight(store)
    seen = [await version_of(store, key)]
    writes = [
        lambda: store.add_items(key, [message("m9")]),
        lambda: store.pop_item(key),
        lambda: store.compact_items(
            key, through_sequence=2, summary=None, expected_history_version=seen[-1]
        ),
        lambda: store.clear_items(key),
    ]
    for write in writes:
        await write()
        seen.append(await version_of(store, key))
    assert len(set(seen)) == len(seen), seen
    # Writes to the session that are not its history leave the version alone.
    await store.update_session(key, lambda s: dataclasses.replace(s, display_name="renamed"))
    assert await version_of(store, key) == seen[-1]
    assert await store.get_history_version(SessionKey(TENANT, "helper", "nope")) is None


async def test_a_pop_then_an_add_after_the_read_refuses_the_compaction(store: Store) -> None:
    """The item count is what it was, but the items are not: nothing may be lost."""
    key = await history_of_eight(store)
    version = await version_of(store, key)  # the compaction reads the history here
    for _ in range(3):
        await store.pop_item(key)
    await store.add_items(key, [message("a"), message("b"), message("c")])
    after = await store.list_items(key)
    assert (await session_of(store, key)).stats.item_count == 8

    await raises(
        Aborted,
        "HISTORY_CHANGED",
        store.compact_items(
            key, through_sequence=6, summary=message("S"), expected_history_version=version
        ),
    )
    assert await store.list_items(key) == after
    # Read again, the compaction goes through.
    done = await store.compact_items(
        key,
        through_sequence=6,
        summary=message("S"),
        expected_history_version=await version_of(store, key),
    )
    assert await contents(store, key) == [(1, "S"), (2, "b"), (3, "c")]
    assert done.removed_item_count == 6


async def test_delete_sessions_removes_them_with_items_and_runs(store: Store) -> None:
    one, two, three = await seeded(store, "s1", "s2", "s3")
    for key in (one, two, three):
        await store.add_items(key, [message("hi")])
        await start(store, key)

    await store.delete_sessions([one, three])

    assert await store.get_session(one) is None and await store.get_session(three) is None
    assert await store.get_run(one, "run-1") is None
    await raises(NotFound, "SESSION_NOT_FOUND", store.list_items(three))
    assert [i.text for i in await store.list_items(two)] == ["hi"]
    assert await store.get_run(two, "run-1") is not None


async def test_delete_sessions_is_all_or_nothing(store: Store) -> None:
    one, two = await seeded(store, "s1", "s2")
    missing = SessionKey(TENANT, "helper", "gone")
    other_tenant = SessionKey("tenant-b", "helper", "s2")

    error = await raises(NotFound, "SESSION_NOT_FOUND", store.delete_sessions([one, missing, two]))
    assert "agents/helper/sessions/gone" in error.message
    await raises(NotFound, "SESSION_NOT_FOUND", store.delete_sessions([one, other_tenant]))
    assert await store.get_session(one) is not None and await store.get_session(two) is not None

    await store.delete_sessions([])
    await store.delete_sessions([two])
    assert await store.get_session(two) is None and await store.get_session(one) is not None
