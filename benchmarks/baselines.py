"""The in-process baselines: the Agents SDK's own SQLiteSession and Runner, no server between.

Like `clients`, every function is a process entry point that returns a `Load`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

from agents import SQLiteSession

from .measure import Load


def sdk_add_items(db: str, session_ids: Sequence[str], item_json: str, seconds: float) -> Load:
    """One task per SQLiteSession on one file, each adding one item per call."""

    async def run() -> Load:
        sessions = [SQLiteSession(session_id, db) for session_id in session_ids]
        item = json.loads(item_json)
        latencies: list[float] = []
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(session: SQLiteSession) -> None:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                await session.add_items([item])
                latencies.append(time.perf_counter() - began)

        try:
            await asyncio.gather(*(worker(s) for s in sessions))
        finally:
            for session in sessions:
                session.close()
        return Load(len(latencies), time.perf_counter() - start, latencies)

    return asyncio.run(run())


def sdk_send_message(
    db: str, session_ids: Sequence[Sequence[str]], text: str, seconds: float, turns: int
) -> Load:
    """Runner.run_streamed with the server's echo model and SQLiteSessions, one task per list.

    Each task starts a run, reads its stream to the end and starts the next one, moving on
    to its next session every `turns` runs, as `clients.send_message` does.
    """
    from agents import Agent, RunConfig, Runner
    from agentsessions.server.runtime.echo import EchoModel

    async def run() -> Load:
        agent = Agent(name="bench", instructions="Repeat the user.", model=EchoModel())
        config = RunConfig(tracing_disabled=True)
        sessions = [[SQLiteSession(i, db) for i in ids] for ids in session_ids]
        latencies: list[float] = []
        first_delta: list[float] = []
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(mine: list[SQLiteSession]) -> None:
            sent = 0
            while time.perf_counter() < deadline:
                session = mine[sent // turns % len(mine)]
                sent += 1
                began = time.perf_counter()
                first = 0.0
                result = Runner.run_streamed(agent, text, session=session, run_config=config)
                async for event in result.stream_events():
                    if (
                        not first
                        and event.type == "raw_response_event"
                        and event.data.type == "response.output_text.delta"
                    ):
                        first = time.perf_counter() - began
                latencies.append(time.perf_counter() - began)
                first_delta.append(first)

        try:
            await asyncio.gather(*(worker(s) for s in sessions))
        finally:
            for session in (s for mine in sessions for s in mine):
                session.close()
        return Load(len(latencies), time.perf_counter() - start, latencies, first_delta=first_delta)

    return asyncio.run(run())
