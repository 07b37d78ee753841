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
