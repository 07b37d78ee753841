"""SendMessage with the echo model against Runner.run_streamed in-process with SQLiteSession."""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path

from . import baselines, clients, prepare, processes
from .measure import Load, Row, median, percentile

TEXT = "Hello there, could you repeat this short sentence back to me?"


def send_message(work: Path, pool: Executor, reps: int, seconds: float) -> list[Row]:
    """One session sending messages back to back, then 16 sessions at once."""
    rows: list[Row] = []
    with processes.service(work / "send.db") as server:
        for concurrency in (1, 16):
            sessions = [
                s.name
                for s in prepare.create_sessions(server.address, concurrency, f"send{concurrency}")
            ]
            ids = [f"send{concurrency}-{i}" for i in range(concurrency)]
            sdk_db = str(work / f"sdk{concurrency}.db")
            runs: dict[str, list[Load]] = {"service": [], "baseline": []}
            cpu: list[float] = []
            pool.submit(clients.send_message, server.address, sessions, TEXT, 0.5).result()
            pool.submit(baselines.sdk_send_message, sdk_db, ids, TEXT, 0.5).result()
            for _ in range(reps):
                before = server.cpu_seconds()
                load = pool.submit(
                    clients.send_message, server.address, sessions, TEXT, seconds
                ).result()
                cpu.append((server.cpu_seconds() - before) / max(load.count, 1))
                runs["service"].append(load)
                runs["baseline"].append(
                    pool.submit(baselines.sdk_send_message, sdk_db, ids, TEXT, seconds).result()
                )
            rows += _rows(concurrency, runs, cpu)
    return rows


def _rows(concurrency: int, runs: dict[str, list[Load]], cpu: list[float]) -> list[Row]:
    scenario = (
        "SendMessage sequential" if concurrency == 1 else f"SendMessage {concurrency} sessions"
    )
    service = median([x.rate for x in runs["service"]])
    baseline = median([x.rate for x in runs["baseline"]])
    first = median([percentile(x.first_delta, 0.5) * 1000 for x in runs["service"]])
    first_base = median([percentile(x.first_delta, 0.5) * 1000 for x in runs["baseline"]])
    errors = sum(x.errors for x in runs["service"])
    details = {
        "repetitions": [x.rate for x in runs["service"]],
        "baseline_repetitions": [x.rate for x in runs["baseline"]],
        "server_cpu_ms_per_turn": median(cpu) * 1000,
        "errors": errors,
    }
    return [
        Row(
            scenario,
            "turns/s",
            service,
            baseline,
            ">= 0.8",
            service >= 0.8 * baseline,
            "/s",
            details,
        ),
        Row(
            scenario,
            "first delta p50",
            first,
            first_base,
            "<= base + 1 ms",
            first <= first_base + 1.0,
            "ms",
        ),
    ]
