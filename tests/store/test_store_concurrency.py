"""Store contract under concurrency: no lost or torn writes, cancellation, close and reopen."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

import pytest
from agentsessions.server.domain.errors import AlreadyExists, NotFound, Unavailable
from agentsessions.server.domain.models import SessionKey
from agentsessions.server.store import Store
from store.conftest import Reopen
from store.store_records import TENANT, agent, message, seeded

WRITERS = 50
BATCH = 3


async def test_concurrent_add_items_lose_nothing_and_stay_dense(store: Store) -> None:
    (key,) = await seeded(store, "s1")

    async def writer(n: int) -> list[int]:
        added = await store.add_items(key, [message(f"w{n}-{i}") for i in range(BATCH)])
        return [item.sequence for item in added]

    returned = await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    items = await store.list_items(key)
    assert [i.sequence for i in items] == list(range(1, WRITERS * BATCH + 1))
    by_text = {i.text: i.sequence for i in items}
    for n, sequences in enumerate(returned):
        # One batch is one transaction: its items are consecutive and in order.
        assert sequences == [by_text[f"w{n}-{i}"] for i in range(BATCH)]
        assert sequences == list(range(sequences[0], sequences[0] + BATCH))
    session = await store.get_session(key)
    assert session is not None
    assert session.stats.item_count == session.stats.message_count == WRITERS * BATCH


async def test_concurrent_adds_and_pops_keep_sequences_dense(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await store.add_items(key, [message(f"seed{n}") for n in range(20)])
    calls: list[Awaitable[object]] = []
    for n in range(30):
        calls.append(store.add_items(key, [message(f"a{n}"), message(f"b{n}")]))
        if n % 3 == 0:
            calls.append(store.pop_item(key))
    await asyncio.gather(*calls)
    items = await store.list_items(key)
    assert [i.sequence for i in items] == list(range(1, 20 + 60 - 10 + 1))
    session = await store.get_session(key)
    assert session is not None and session.stats.item_count == len(items)


async def test_a_failing_write_does_not_affect_concurrent_ones(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    missing = SessionKey(TENANT, "helper", "ghost")
    results = await asyncio.gather(
        store.add_items(key, [message("one")]),
        store.add_items(missing, [message("lost")]),
        store.create_agent(agent("helper"), None),
        store.add_items(key, [message("two")]),
        return_exceptions=True,
    )
    assert isinstance(results[1], NotFound) and results[1].reason == "SESSION_NOT_FOUND"
    assert isinstance(results[2], AlreadyExists)
    assert [i.text for i in await store.list_items(key)] == ["one", "two"]


async def test_a_cancelled_add_items_leaves_its_whole_batch_or_none(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    for steps in range(12):
        texts = [f"c{steps}-{i}" for i in range(4)]
        call = asyncio.create_task(store.add_items(key, [message(t) for t in texts]))
        for _ in range(steps):
            await asyncio.sleep(0)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        stored = {i.text for i in await store.list_items(key)}
        present = [t in stored for t in texts]
        assert all(present) or not any(present), f"torn batch after {steps} steps: {present}"
    items = await store.list_items(key)
    assert [i.sequence for i in items] == list(range(1, len(items) + 1))
    session = await store.get_session(key)
    assert session is not None and session.stats.item_count == len(items)


async def test_cancelling_under_a_timeout_keeps_the_store_usable(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    for _ in range(5):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0):
                await store.add_items(key, [message("x"), message("y")])
    count = len(await store.list_items(key))
    assert count % 2 == 0
    assert [i.sequence for i in await store.add_items(key, [message("z")])] == [count + 1]


async def test_close_waits_for_writes_in_flight_and_reopen_sees_them(
    store: Store, reopen: Reopen
) -> None:
    (key,) = await seeded(store, "s1")
    calls = [asyncio.create_task(store.add_items(key, [message(f"m{n}")])) for n in range(20)]
    await asyncio.sleep(0)  # one loop turn: every call has handed its write over
    await store.close()
    assert all(len(added) == 1 for added in await asyncio.gather(*calls))
    again = await reopen()
    assert len(await again.list_items(key)) == 20
    assert (await again.get_agent(TENANT, "helper")) is not None


async def test_write_after_close_is_refused(store: Store) -> None:
    (key,) = await seeded(store, "s1")
    await store.close()
    with pytest.raises(Unavailable):
        await asyncio.wait_for(store.add_items(key, [message("late")]), 5)
    with pytest.raises(Unavailable):
        await asyncio.wait_for(store.list_items(key), 5)
