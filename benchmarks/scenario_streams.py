"""1,000 SendMessage streams open at once on one server whose model takes a second to answer."""

from __future__ import annotations

import time
from concurrent.futures import Executor
from pathlib import Path

from . import clients, prepare, processes
from .measure import Row, median, percentile

STREAMS = 1_000
# Ten words, and the echo model waits a tenth of a second before each: a second per answer.
TEXT = "one two three four five six seven eight nine ten"
WORD_DELAY = 0.1


def many_streams(work: Path, pool: Executor, reps: int, seconds: float) -> list[Row]:
    """Opens every stream at once, samples the server's memory until all are done."""
    with processes.slow_service(work / "streams.db", WORD_DELAY) as server:
        sessions = [s.name for s in prepare.create_sessions(server.address, STREAMS, "stream")]
        warm = [[name] for name in sessions[:4]]
        pool.submit(clients.send_message, server.address, warm, TEXT, 1.0, 1).result()
        idle = server.rss_bytes()
        future = pool.submit(clients.many_streams, server.address, sessions, TEXT, 4)
        peak = idle
        while not future.done():
            peak = max(peak, server.rss_bytes())
            time.sleep(0.02)
        load = future.result()
    per_stream_kb = (peak - idle) / STREAMS / 1024
    durations = [x * 1000 for x in load.latencies]
    details = {
        "wall_seconds": load.seconds,
        "idle_rss_mb": idle / 1e6,
        "peak_rss_mb": peak / 1e6,
        "stream_p50_ms": percentile(durations, 0.5),
        "stream_p99_ms": percentile(durations, 0.99),
        "first_delta_p50_ms": median([x * 1000 for x in load.first_delta]),
    }
    scenario = f"{STREAMS:,} streams, 1 s model"
    all_done = load.count == STREAMS and load.errors == 0
    return [
        Row(scenario, "completed", load.count, STREAMS, "all, no errors", all_done, "", details),
        Row(scenario, "errors", load.errors, unit=""),
        Row(scenario, "all done after", load.seconds, unit="s"),
        Row(scenario, "stream p99", percentile(durations, 0.99), unit="ms"),
        Row(scenario, "server memory peak", peak / 1e6, idle / 1e6, unit="MB"),
        Row(scenario, "memory per stream", per_stream_kb, unit="KB"),
    ]
