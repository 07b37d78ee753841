"""Filtered lists that match nothing, four at once, beside the history reads of agent turns.

A store of 200,000 sessions (built by `bulk_load`) is served by one server process. ListItems
(the newest 50 items of a long session, what every SDK turn reads) is measured alone, then
while four callers page through ListSessions with a filter no session matches, each call
examining at most its scan budget of rows. The figures are ListItems' p99 under the scans
(baseline: alone) and the scanning calls' own p99 (baseline: one caller scanning alone).

ListItems is sent at a fixed rate and each call is timed from when it was due, not from
when the previous one returned: a caller that waits for each reply before sending the
next would hide a stall of seconds behind the many fast calls after it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import sys
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path

import grpc
from agentsessions.v1 import session_service_pb2 as ss
from agentsessions.v1 import session_service_pb2_grpc

from . import bulk_load, processes
from .measure import Load, Row, median, percentile

SHAPE = bulk_load.Shape(sessions=200_000, items=400_000)
SCANNERS = 4
NO_MATCH = 'labels.team = "nobody"'
TARGET_LIST_ITEMS_P99_MS = 10.0
TARGET_SCAN_P99_MS = 20.0
LIST_ITEMS_PER_S = 100


def paced_list_items(address: str, requests: list[ss.ListItemsRequest], seconds: float) -> Load:
    """ListItems at LIST_ITEMS_PER_S for `seconds`, each call timed from when it was due."""

    async def run() -> Load:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = session_service_pb2_grpc.SessionServiceStub(channel)
            latencies: list[float] = []

            async def call(due: float, request: ss.ListItemsRequest) -> None:
                await stub.ListItems(request)
                latencies.append(time.perf_counter() - due)

            calls = []
            start = time.perf_counter()
            for n in range(int(seconds * LIST_ITEMS_PER_S)):
                due = start + n / LIST_ITEMS_PER_S
                await asyncio.sleep(max(due - time.perf_counter(), 0))
                calls.append(asyncio.ensure_future(call(due, requests[n % len(requests)])))
            await asyncio.gather(*calls)
            return Load(len(latencies), time.perf_counter() - start, latencies)

    return asyncio.run(run())


def scan_calls(address: str, concurrency: int, seconds: float) -> tuple[Load, list[float]]:
    """`concurrency` callers page through every session with NO_MATCH, starting over at the
    end; returns the calls' load and the seconds of each walk of the whole list completed."""

    async def run() -> tuple[Load, list[float]]:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = session_service_pb2_grpc.SessionServiceStub(channel)
            latencies: list[float] = []
            walks: list[float] = []
            deadline = time.perf_counter() + seconds

            async def caller() -> None:
                token = ""
                walk_start = time.perf_counter()
                while time.perf_counter() < deadline:
                    began = time.perf_counter()
                    page = await stub.ListSessions(
                        ss.ListSessionsRequest(parent="agents/-", filter=NO_MATCH, page_token=token)
                    )
                    latencies.append(time.perf_counter() - began)
                    assert not page.sessions
                    token = page.next_page_token
                    if not token:
                        walks.append(time.perf_counter() - walk_start)
                        walk_start = time.perf_counter()

            start = time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(concurrency)))
            return Load(len(latencies), time.perf_counter() - start, latencies), walks

    return asyncio.run(run())


def _items_requests() -> list[ss.ListItemsRequest]:
    rng = random.Random(SHAPE.sessions)
    return [
        ss.ListItemsRequest(
            parent=(f"agents/{bulk_load.agent_id(index)}/sessions/{bulk_load.session_id(index)}"),
            newest_count=50,
            page_size=50,
        )
        for index in (rng.randrange(SHAPE.long_sessions) for _ in range(2000))
    ]


def _p99_ms(load: Load) -> float:
    return percentile(load.latencies, 0.99) * 1000


def scans(work: Path, pool: Executor, reps: int, seconds: float) -> list[Row]:
    """Alone, then under scans, `reps` times each; medians of the per-repetition p99s."""
    db = work / "scans.db"
    print(f"  store of {SHAPE.sessions:,} sessions", file=sys.stderr, flush=True)
    bulk_load.load(db, SHAPE)
    requests = _items_requests()
    alone: list[Load] = []
    under: list[Load] = []
    scan_alone: list[Load] = []
    scan_under: list[Load] = []
    walk_seconds: list[float] = []
    # A second client process: the scanners and ListItems must not share an event loop.
    context = multiprocessing.get_context("spawn")
    try:
        with (
            processes.service(db) as server,
            ProcessPoolExecutor(max_workers=1, mp_context=context) as scanners,
        ):
            address = server.address
            pool.submit(paced_list_items, address, requests, 0.5).result()
            scanners.submit(scan_calls, address, 1, 0.5).result()
            for _ in range(reps):
                alone.append(pool.submit(paced_list_items, address, requests, seconds).result())
                load, walks = scanners.submit(scan_calls, address, 1, seconds).result()
                scan_alone.append(load)
                walk_seconds += walks
                running: Future[tuple[Load, list[float]]] = scanners.submit(
                    scan_calls, address, SCANNERS, seconds + 1.0
                )
                time.sleep(0.5)  # the scanners are under way before ListItems starts
                under.append(pool.submit(paced_list_items, address, requests, seconds).result())
                scan_under.append(running.result()[0])
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)

    scenario = f"{SCANNERS} non-matching filters over {SHAPE.sessions:,} sessions"
    items_p99 = median([_p99_ms(x) for x in under])
    scan_p99 = median([_p99_ms(x) for x in scan_under])
    details = {
        "list_items_p99_ms": [_p99_ms(x) for x in under],
        "list_items_alone_p99_ms": [_p99_ms(x) for x in alone],
        "scan_p99_ms": [_p99_ms(x) for x in scan_under],
        "scan_alone_p99_ms": [_p99_ms(x) for x in scan_alone],
        "scan_calls_per_s": median([x.rate for x in scan_under]),
        # One caller alone: the calls of a walk of every session, end to end.
        "whole_list_walk_seconds": median(walk_seconds),
    }
    return [
        Row(
            scenario,
            "ListItems p99",
            items_p99,
            median([_p99_ms(x) for x in alone]),
            f"<= {TARGET_LIST_ITEMS_P99_MS:g} ms",
            items_p99 <= TARGET_LIST_ITEMS_P99_MS,
            "ms",
            details,
        ),
        Row(
            scenario,
            "filtered ListSessions p99",
            scan_p99,
            median([_p99_ms(x) for x in scan_alone]),
            f"<= {TARGET_SCAN_P99_MS:g} ms",
            scan_p99 <= TARGET_SCAN_P99_MS,
            "ms",
        ),
    ]
