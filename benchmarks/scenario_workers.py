"""`serve --workers 2` against one server process: GetSession and AddItems, same client load.

SO_REUSEPORT spreads connections, not calls, so the client opens CHANNELS separate
connections to either server. The figure is the two-worker server's rate over the single
process's; server CPU per call is summed over the workers (and their supervisor).
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path

from . import clients, prepare, processes
from .measure import Load, Row, median
from .scenario_unary import ADD_CALLERS, ITEM_JSON

CHANNELS = 16
GET_CONCURRENCY = 64
LABELS = ("1 process", "2 workers")


def workers(work: Path, pool: Executor, reps: int, seconds: float) -> list[Row]:
    """Both servers run at once; their measurements alternate, GetSession first."""
    with (
        processes.service(work / "one.db") as one,
        processes.service(work / "two.db", "--workers", "2") as two,
    ):
        targets = dict(zip(LABELS, (one, two), strict=True))
        names = {
            label: [s.name for s in prepare.create_sessions(server.address, GET_CONCURRENCY)]
            for label, server in targets.items()
        }
        rows: list[Row] = []
        for call in ("GetSession", "AddItems"):
            runs: dict[str, list[Load]] = {label: [] for label in LABELS}
            cpu: dict[str, list[float]] = {label: [] for label in LABELS}
            busiest: list[float] = []  # the busier worker's share of the workers' CPU
            for rep in range(-1, reps):  # -1: a short warm-up of each
                for label, server in targets.items():
                    length = 0.5 if rep < 0 else seconds
                    before, per_worker = server.cpu_seconds(), server.children_cpu_seconds()
                    load = _load(pool, call, server.address, names[label], length)
                    used = server.cpu_seconds() - before
                    if rep < 0:
                        continue
                    runs[label].append(load)
                    cpu[label].append(used / max(load.count, 1))
                    if per_worker:
                        after = server.children_cpu_seconds()
                        shares = [after.get(pid, t) - t for pid, t in per_worker.items()]
                        busiest.append(max(shares) / max(sum(shares), 1e-9))
            rows += _rows(call, runs, cpu, busiest)
    return rows


def _load(pool: Executor, call: str, address: str, names: list[str], seconds: float) -> Load:
    if call == "GetSession":
        get = (address, names, GET_CONCURRENCY, seconds, CHANNELS)
        return pool.submit(clients.get_session, *get).result()
    add = (address, names[:ADD_CALLERS], ITEM_JSON, seconds, CHANNELS)
    return pool.submit(clients.add_items, *add).result()


def _rows(
    call: str, runs: dict[str, list[Load]], cpu: dict[str, list[float]], busiest: list[float]
) -> list[Row]:
    one, two = LABELS
    callers = f"c={GET_CONCURRENCY}" if call == "GetSession" else f"{ADD_CALLERS} callers"
    scenario = f"{call} {callers}, {CHANNELS} channels: 2 workers vs 1"
    metric = "requests/s" if call == "GetSession" else "items/s"
    details = {
        "repetitions": [x.rate for x in runs[two]],
        "baseline_repetitions": [x.rate for x in runs[one]],
        "errors": sum(x.errors for x in runs[two]),
        "busiest_worker_cpu_share": median(busiest),
    }
    return [
        Row(
            scenario,
            metric,
            median([x.rate for x in runs[two]]),
            median([x.rate for x in runs[one]]),
            unit="/s",
            details=details,
        ),
        Row(
            scenario,
            "server CPU per call",
            median(cpu[two]) * 1000,
            median(cpu[one]) * 1000,
            unit="ms",
        ),
    ]
