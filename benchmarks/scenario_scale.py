"""Reads on a large store against the same reads on a small one, and the server's memory.

Each size is built by `bulk_load` under the work folder, served by its own server process,
measured at concurrency 1 (latency, not throughput) and deleted before the next.
"""

from __future__ import annotations

import random
import sys
from concurrent.futures import Executor
from pathlib import Path

from agentsessions.v1 import session_service_pb2 as ss
from google.protobuf.message import Message

from . import bulk_load, clients, processes
from .measure import Load, Row, median, percentile

# (sessions, items): the first is the baseline, a store as good as empty but with full pages
# of 50 sessions per agent; the last is the target size.
SIZES = [(1_000, 10_000), (10_000, 100_000), (100_000, 1_000_000), (1_000_000, 10_000_000)]
TARGET_P99_MS = {"GetSession": 5.0, "ListSessions": 10.0, "ListItems": 10.0}
MEMORY_LIMIT_MB = 200.0
MEMORY_GROWTH_MB = 50.0


def _requests(shape: bulk_load.Shape, rng: random.Random) -> dict[str, list[Message]]:
    def session(index: int) -> str:
        return f"agents/{bulk_load.agent_id(index)}/sessions/{bulk_load.session_id(index)}"

    return {
        "GetSession": [
            ss.GetSessionRequest(name=session(rng.randrange(shape.sessions))) for _ in range(2000)
        ],
        "ListSessions": [
            ss.ListSessionsRequest(parent=f"agents/bench-{k}", page_size=50)
            for k in range(bulk_load.AGENTS)
        ],
        # The long sessions: newest 50 of a few hundred items.
        "ListItems": [
            ss.ListItemsRequest(
                parent=session(rng.randrange(shape.long_sessions)), newest_count=50, page_size=50
            )
            for _ in range(2000)
        ],
    }


def measure_size(
    work: Path, pool: Executor, shape: bulk_load.Shape, reps: int, seconds: float
) -> dict[str, object]:
    """Builds, serves and reads one size; returns per-call latencies and memory."""
    db = work / f"scale-{shape.sessions}.db"
    load_seconds = bulk_load.load(db, shape)
    size_gb = db.stat().st_size / 1e9
    requests = _requests(shape, random.Random(shape.sessions))
    figures: dict[str, object] = {
        "sessions": shape.sessions,
        "items": shape.items,
        "load_seconds": round(load_seconds, 1),
        "file_gb": round(size_gb, 3),
    }
    rss: list[float] = []
    try:
        with processes.service(db) as server:
            rss.append(server.rss_bytes() / 1e6)
            for method, batch in requests.items():
                pool.submit(clients.read_calls, server.address, method, batch, 1, 0.5).result()
            for method, batch in requests.items():
                loads: list[Load] = []
                for _ in range(reps):
                    loads.append(
                        pool.submit(
                            clients.read_calls, server.address, method, batch, 1, seconds
                        ).result()
                    )
                    rss.append(server.rss_bytes() / 1e6)
                figures[method] = {
                    "p50_ms": median([percentile(x.latencies, 0.5) * 1000 for x in loads]),
                    "p99_ms": median([percentile(x.latencies, 0.99) * 1000 for x in loads]),
                    "requests_per_s": median([x.rate for x in loads]),
                }
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    figures["rss_mb"] = max(rss)
    return figures


def scale(
    work: Path,
    pool: Executor,
    reps: int,
    seconds: float,
    sizes: list[tuple[int, int]] | None = None,
) -> list[Row]:
    """Every size in turn; rows compare the largest with the smallest.

    The memory row's details hold every size's figures, for the plot.
    """
    measured = []
    for sessions, items in sizes or SIZES:
        print(f"  store of {sessions:,} sessions, {items:,} items", file=sys.stderr, flush=True)
        measured.append(measure_size(work, pool, bulk_load.Shape(sessions, items), reps, seconds))
    empty, full = measured[0], measured[-1]
    scenario = f"{full['sessions']:,} sessions"
    rows = []
    for method, limit in TARGET_P99_MS.items():
        value = full[method]["p99_ms"]  # type: ignore[index]
        base = empty[method]["p99_ms"]  # type: ignore[index]
        rows.append(
            Row(scenario, f"{method} p99", value, base, f"<= {limit:g} ms", value <= limit, "ms")
        )
    memory, memory_base = float(full["rss_mb"]), float(empty["rss_mb"])  # type: ignore[arg-type]
    met = memory <= MEMORY_LIMIT_MB and memory <= memory_base + MEMORY_GROWTH_MB
    rows.append(
        Row(
            scenario,
            "server memory",
            memory,
            memory_base,
            "<= 200, <= base + 50",
            met,
            "MB",
            {"sizes": measured},
        )
    )
    return rows
