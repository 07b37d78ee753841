"""ENQUEUE across `serve --workers 2`: sends spread over both workers run one after another."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from agentsessions.v1 import events_pb2
from agentsessions.v1 import session_service_pb2 as ss
from e2e.test_runs_processes import (
    WORD_DELAY,
    Channels,
    T,
    assert_one_whole_run,
    collect,
    new_session,
    run_owner,
)
from server_process import ServerProcess

ENQUEUE = events_pb2.SendMessageRequest.BusyPolicy.ENQUEUE


@pytest.mark.slow
async def test_queued_sends_over_two_workers_run_in_turn(tmp_path: Path) -> None:
    db = tmp_path / "queue.db"
    async with asyncio.timeout(120):
        with ServerProcess(db, "--workers", "2", env={WORD_DELAY: "0.02"}) as server:
            channels = Channels(server)
            try:
                await channels.spread(per_worker=2)
                pool = [channels.stub(pid, i) for pid in channels.workers for i in range(2)]
                session = await new_session(pool[0], "queue")
                texts = [f"a b c d e message{n}" for n in range(10)]
                calls = [
                    pool[n % len(pool)].SendMessage(
                        events_pb2.SendMessageRequest(
                            session=session, text=text, busy_policy=ENQUEUE
                        ),
                        timeout=T,
                    )
                    for n, text in enumerate(texts)
                ]
                streams = await asyncio.gather(*(collect(call) for call in calls))
                for text, events in zip(texts, streams, strict=True):
                    assert_one_whole_run(events)
                    assert events[-1].run_completed.final_output == text
                runs = (await pool[1].ListRuns(ss.ListRunsRequest(parent=session))).runs
                ordered = sorted(runs, key=lambda r: (r.start_time.seconds, r.start_time.nanos))
                for before, after in itertools.pairwise(ordered):
                    assert (before.end_time.seconds, before.end_time.nanos) <= (
                        after.start_time.seconds,
                        after.start_time.nanos,
                    ), "two runs of one session overlapped"
                assert len(runs) == 10
                # Whichever worker frees the session starts the next: the one that ran the
                # first run, here, though half the sends reached the other.
                assert all(run_owner(db, r.name) in channels.workers for r in runs)
                items = await pool[2].ListItems(
                    ss.ListItemsRequest(parent=session, page_size=100), timeout=T
                )
                assert [i.role for i in items.items] == ["user", "assistant"] * 10
            finally:
                await channels.aclose()
            assert await asyncio.to_thread(server.stop) == 0
