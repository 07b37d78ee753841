"""GetSession against a bare grpc.aio server, AddItems against the SDK's SQLiteSession."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import Executor
from pathlib import Path

from . import baselines, clients, prepare, processes
from .measure import Load, Row, median, percentile

# A user message of about 100 bytes, as the SDK stores it.
ITEM_JSON = json.dumps(
    {"role": "user", "content": "The quick brown fox jumps over the lazy dog, twice over."},
    separators=(",", ":"),
)
ADD_CALLERS = 50


def get_session(work: Path, pool: Executor, reps: int, seconds: float) -> list[Row]:
    """GetSession at concurrency 1 and 64, alternating service and baseline runs."""
    with processes.service(work / "get.db") as server:
        sessions = prepare.create_sessions(server.address, 64)
        names = [s.name for s in sessions]
        message = work / "session.bin"
        message.write_bytes(sessions[0].SerializeToString())
        with processes.bare_server(message) as bare:
            rows: list[Row] = []
            for concurrency in (1, 64):
                runs: dict[str, list[Load]] = {"service": [], "baseline": []}
                cpu: dict[str, list[float]] = {"service": [], "baseline": []}
                # A short warm-up of each, then the measured runs, interleaved against drift.
                for target in (server, bare):
                    warm = (target.address, names, concurrency, 0.5)
                    pool.submit(clients.get_session, *warm).result()
                for _ in range(reps):
                    for label, target in (("service", server), ("baseline", bare)):
                        before = target.cpu_seconds()
                        load = pool.submit(
                            clients.get_session, target.address, names, concurrency, seconds
                        ).result()
                        cpu[label].append((target.cpu_seconds() - before) / max(load.count, 1))
                        runs[label].append(load)
                rows += _get_rows(concurrency, runs, cpu)
    return rows


def _get_rows(
    concurrency: int, runs: dict[str, list[Load]], cpu: dict[str, list[float]]
) -> list[Row]:
    service = median([x.rate for x in runs["service"]])
    baseline = median([x.rate for x in runs["baseline"]])
    scenario = f"GetSession c={concurrency}"
    target = ">= 0.8" if concurrency == 64 else ""
    met = service >= 0.8 * baseline if concurrency == 64 else None
    p50 = median([percentile(x.latencies, 0.5) * 1000 for x in runs["service"]])
    p50_base = median([percentile(x.latencies, 0.5) * 1000 for x in runs["baseline"]])
    p99 = median([percentile(x.latencies, 0.99) * 1000 for x in runs["service"]])
    p99_base = median([percentile(x.latencies, 0.99) * 1000 for x in runs["baseline"]])
    details = {
        "repetitions": [x.rate for x in runs["service"]],
        "baseline_repetitions": [x.rate for x in runs["baseline"]],
        "server_cpu_ms_per_call": median(cpu["service"]) * 1000,
        "baseline_cpu_ms_per_call": median(cpu["baseline"]) * 1000,
    }
    return [
        Row(scenario, "requests/s", service, baseline, target, met, "/s", details),
        Row(scenario, "latency p50", p50, p50_base, unit="ms"),
        Row(scenario, "latency p99", p99, p99_base, unit="ms"),
    ]


def add_items(work: Path, pool: Executor, reps: int, seconds: float) -> list[Row]:
    """50 concurrent callers, one item per call; then SIGKILL: is every acknowledged item there?"""
    runs: dict[str, list[Load]] = {"service": [], "baseline": []}
    db = work / "add.db"
    sdk_db = work / "sdk.db"
    with processes.service(db) as server:
        parents = [s.name for s in prepare.create_sessions(server.address, ADD_CALLERS)]
        ids = [f"bench-{i}" for i in range(ADD_CALLERS)]
        pool.submit(clients.add_items, server.address, parents, ITEM_JSON, 0.5).result()
        pool.submit(baselines.sdk_add_items, str(sdk_db), ids, ITEM_JSON, 0.5).result()
        cpu: list[float] = []
        for _ in range(reps):
            before = server.cpu_seconds()
            load = pool.submit(clients.add_items, server.address, parents, ITEM_JSON, seconds)
            runs["service"].append(load.result())
            cpu.append((server.cpu_seconds() - before) / max(runs["service"][-1].count, 1))
            runs["baseline"].append(
                pool.submit(baselines.sdk_add_items, str(sdk_db), ids, ITEM_JSON, seconds).result()
            )
        server.kill()  # no shutdown: what was acknowledged must already be on disk
    acknowledged = {ack for load in runs["service"] for ack in load.acknowledged}
    stored = _stored_items(db)
    lost = len(acknowledged - stored)
    service = median([x.rate for x in runs["service"]])
    baseline = median([x.rate for x in runs["baseline"]])
    p99 = median([percentile(x.latencies, 0.99) * 1000 for x in runs["service"]])
    p99_base = median([percentile(x.latencies, 0.99) * 1000 for x in runs["baseline"]])
    scenario = f"AddItems {ADD_CALLERS} callers"
    details = {
        "repetitions": [x.rate for x in runs["service"]],
        "baseline_repetitions": [x.rate for x in runs["baseline"]],
        "acknowledged": len(acknowledged),
        "lost_after_sigkill": lost,
        "server_cpu_ms_per_item": median(cpu) * 1000,
    }
    return [
        Row(scenario, "items/s", service, baseline, ">= 2", service >= 2 * baseline, "/s", details),
        Row(scenario, "latency p99", p99, p99_base, unit="ms"),
        Row(
            scenario,
            "durable after SIGKILL",
            len(acknowledged) - lost,
            len(acknowledged),
            "= 1",
            lost == 0,
            "items",
        ),
    ]


def _stored_items(db: Path) -> set[tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            """
            SELECT 'agents/' || s.agent_id || '/sessions/' || s.session_id, i.sequence
              FROM items AS i JOIN sessions AS s ON s.pk = i.session_pk
            """
        ).fetchall()
    return {(name, sequence) for name, sequence in rows}
