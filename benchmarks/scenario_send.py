"""SendMessage with the echo model against Runner.run_streamed in-process with SQLiteSession."""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path

from . import baselines, clients, prepare, processes
from .measure import Load, Row, median, percentile

TEXT = "Hello there, could you repeat this short sentence back to me?"
# Turns per session before a caller moves on to a fresh one: a short conversation.
TURNS = 10
# Enough sessions for this many turns a second, so a caller seldom comes back to one.
MAX_TURNS_PER_SECOND = 120


def _sessions_per_caller(concurrency: int, seconds: float) -> int:
    return max(2, int(MAX_TURNS_PER_SECOND * seconds / concurrency / TURNS) + 1)


def send_message(work: Path, pool: Executor, reps: int, seconds: float) -> list[Row]:
    """One caller sending messages back to back, then 16 callers at once."""
    rows: list[Row] = []
    with processes.service(work / "send.db") as server:
        for concurrency in (1, 16):
            per_caller = _sessions_per_caller(concurrency, seconds)
            runs: dict[str, list[Load]] = {"service": [], "baseline": []}
            cpu: list[float] = []
            sdk_db = str(work / f"sdk{concurrency}.db")
            for rep in range(-1, reps):  # -1: the warm-up
                prefix = f"c{concurrency}-r{rep + 1}"
                names = [
                    s.name
                    for s in prepare.create_sessions(
                        server.address, concurrency * per_caller, prefix
                    )
                ]
                ids = [f"{prefix}-{i}" for i in range(concurrency * per_caller)]
                served = [names[i::concurrency] for i in range(concurrency)]
                local = [ids[i::concurrency] for i in range(concurrency)]
                length = 0.5 if rep < 0 else seconds
                before = server.cpu_seconds()
                load = pool.submit(
                    clients.send_message, server.address, served, TEXT, length, TURNS
                ).result()
                sdk = pool.submit(
                    baselines.sdk_send_message, sdk_db, local, TEXT, length, TURNS
                ).result()
                if rep >= 0:
                    cpu.append((server.cpu_seconds() - before) / max(load.count, 1))
                    runs["service"].append(load)
                    runs["baseline"].append(sdk)
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
        "turns_per_session": TURNS,
    }
    return [
        Row(
            scenario,
            "turns/s",
            service,
            baseline,
            ">= 0.8",
            service >= 0.8 * baseline and errors == 0,
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
