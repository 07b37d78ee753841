"""The per-session run lock: busy, waiting in line, timing out, and forgetting idle sessions."""

from __future__ import annotations

import asyncio

import pytest
from agentsessions.server.domain.errors import Aborted, DeadlineExceeded
from agentsessions.server.domain.models import SessionKey
from agentsessions.server.runtime.locks import SessionLocks

KEY = SessionKey("t", "a", "s1")
OTHER = SessionKey("t", "a", "s2")


async def test_one_holder_per_session_and_no_leftovers() -> None:
    locks = SessionLocks()
    async with locks.hold(KEY, "run-1", wait=False):
        assert locks.busy_with(KEY) == "run-1"
        with pytest.raises(Aborted) as busy:
            async with locks.hold(KEY, "run-2", wait=False):
                pass
        assert busy.value.reason == "SESSION_BUSY"
        assert busy.value.metadata == {"session": "agents/a/sessions/s1", "run": "run-1"}
        async with locks.hold(OTHER, "run-3", wait=False):
            assert len(locks) == 2
    assert len(locks) == 0


async def test_waiters_run_in_turn() -> None:
    locks = SessionLocks()
    order: list[str] = []
    inside = 0

    async def run(name: str) -> None:
        nonlocal inside
        async with locks.hold(KEY, name, wait=True):
            inside += 1
            assert inside == 1
            order.append(name)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(run(f"run-{n}") for n in range(10)))
    assert order == [f"run-{n}" for n in range(10)]
    assert len(locks) == 0


async def test_a_waiting_run_makes_the_session_busy_for_others() -> None:
    locks = SessionLocks()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold(KEY, "run-1", wait=False):
            await release.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    second = asyncio.create_task(locks.hold(KEY, "run-2", wait=True).__aenter__())
    await asyncio.sleep(0)
    release.set()
    await first
    # run-1 let go; run-2 holds the session or is about to: busy for a newcomer either way.
    with pytest.raises(Aborted):
        async with locks.hold(KEY, "run-3", wait=False):
            pass
    await second
    assert locks.busy_with(KEY) == "run-2"


async def test_waiting_times_out_and_cancelled_waiters_leave() -> None:
    locks = SessionLocks()
    async with locks.hold(KEY, "run-1", wait=False):
        with pytest.raises(DeadlineExceeded) as late:
            async with locks.hold(KEY, "run-2", wait=True, wait_seconds=0.01):
                pass
        assert late.value.metadata["run"] == "run-1"
        waiter = asyncio.create_task(locks.hold(KEY, "run-3", wait=True).__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert locks.busy_with(KEY) == "run-1"
    assert len(locks) == 0
