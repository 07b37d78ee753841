"""Following a run from another worker: `serve --workers 2`, a run on one worker, its events
read with StreamRunEvents through a connection the other worker holds.

The echo model pauses DELAY seconds between words, so the run appends text deltas at a steady
pace rather than as fast as it can. For each delta, the latency is the time it was received
minus its `event_time`, which the server sets when it makes the event (the same machine clock).
The baseline is the same events as the SendMessage stream that started the run receives them:
a reader on the run's own worker, woken as each batch is committed, where a reader on another
worker learns of new events by polling SQLite's data version (every 5 ms).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from concurrent.futures import Executor
from contextlib import closing
from pathlib import Path

import grpc
from agentsessions.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    events_pb2,
    session_pb2,
    session_service_pb2,
    session_service_pb2_grpc,
)

from . import processes
from .measure import Row, median, percentile

DELAY = 0.002  # seconds between the echo model's words
# The pause and the run's own work for one word, as measured on the development machine; it
# sizes a run to last about `seconds`.
SECONDS_PER_WORD = 0.0027
MIN_WORDS = 500
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.use_local_subchannel_pool", 1),  # a connection of its own, held by one worker
]


def follow(work: Path, pool: Executor, reps: int, seconds: float) -> list[Row]:
    """One run per repetition, about `seconds` long, followed from the other worker."""
    db = work / "follow.db"
    command = [sys.executable, "-m", "agentsessions.server.cli", "serve", "--port", "0"]
    command += ["--db", str(db), "--workers", "2"]
    env = {"AGENTSESSIONS_ECHO_WORD_DELAY_SECONDS": str(DELAY)}
    words = max(MIN_WORDS, int(seconds / SECONDS_PER_WORD))
    with processes.Process(command, env=env) as server:
        workers = sorted(server.children_cpu_seconds())
        result = pool.submit(
            follow_runs, server.address, server.port, workers, str(db), reps, words
        ).result()
        server.stop()
    return _rows(result, words)


def _rows(result: dict[str, list[list[float]]], words: int) -> list[Row]:
    remote, local = result["remote"], result["local"]
    scenario = "StreamRunEvents from the other worker"
    details = {
        "words_per_run": words,
        "word_delay_seconds": DELAY,
        "events_per_repetition": [len(x) for x in remote],
        "remote_p50_ms": [percentile(x, 0.5) * 1000 for x in remote],
        "remote_p99_ms": [percentile(x, 0.99) * 1000 for x in remote],
        "local_p50_ms": [percentile(x, 0.5) * 1000 for x in local],
        "local_p99_ms": [percentile(x, 0.99) * 1000 for x in local],
        # Over every event of every repetition together.
        "pooled_events": sum(len(x) for x in remote),
        "pooled_remote_p50_p99_ms": _pooled(remote),
        "pooled_local_p50_p99_ms": _pooled(local),
    }
    rows = []
    for name, fraction in (("p50", 0.5), ("p99", 0.99)):
        rows.append(
            Row(
                scenario,
                f"follow latency {name}",
                median([percentile(x, fraction) * 1000 for x in remote]),
                median([percentile(x, fraction) * 1000 for x in local]),
                unit="ms",
                details=details if name == "p50" else {},
            )
        )
    return rows


def _pooled(latencies: list[list[float]]) -> list[float]:
    every = [v for x in latencies for v in x]
    return [percentile(every, 0.5) * 1000, percentile(every, 0.99) * 1000]


# The client, in a process of its own -----------------------------------------------------------


def _accepted(pids: list[int], port: int) -> set[tuple[int, int]]:
    """(pid, client port) of each established connection to `port` one of `pids` holds."""
    holder: dict[str, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                holder[target[len("socket:[") : -1]] = pid
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port and inode in holder:
                found.add((holder[inode], int(remote.rsplit(":", 1)[1], 16)))
    return found


async def _channel_per_worker(
    address: str, port: int, workers: list[int], opened: list[grpc.aio.Channel]
) -> dict[int, grpc.aio.Channel]:
    """Opens channels one at a time until each worker holds one (its connection, from /proc)."""
    found: dict[int, grpc.aio.Channel] = {}
    for _ in range(64):
        if len(found) == len(workers):
            return found
        before = _accepted(workers, port)
        channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        opened.append(channel)
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        await stub.GetAgent(agent_pb2.GetAgentRequest(name="agents/default"), timeout=10)
        new = _accepted(workers, port) - before
        if len(new) == 1:
            ((pid, _),) = new
            found.setdefault(pid, channel)
    raise RuntimeError(f"no connection to every worker: {sorted(found)} of {workers}")


def _owner(db: str, run: str) -> int:
    with closing(sqlite3.connect(db, timeout=10)) as connection:
        (owner,) = connection.execute(
            "SELECT owner FROM runs WHERE run_id = ?", (run.rsplit("/", 1)[1],)
        ).fetchone()
    return int(owner.split("/")[1])


async def _read(call: grpc.aio.UnaryStreamCall, into: dict[int, tuple[float, float]]) -> float:
    """Reads to the end: sequence -> (event_time, received) of each text delta; returns when
    the first event arrived."""
    first = 0.0
    while (event := await call.read()) is not grpc.aio.EOF:
        received = time.time()
        first = first or received
        if event.WhichOneof("event") == "text_delta":
            made = event.event_time.seconds + event.event_time.nanos / 1e9
            into[event.sequence] = (made, received)
    return first


def follow_runs(
    address: str, port: int, workers: list[int], db: str, reps: int, words: int
) -> dict[str, list[list[float]]]:
    """`reps` runs (after a warm-up), each sent to one worker and followed from the other;
    the latencies of the deltas made after the follower's first event arrived."""
    texts = {rep: " ".join(f"w{i}" for i in range(words)) for rep in range(reps)}
    texts[-1] = " ".join(f"w{i}" for i in range(words // 10))  # the warm-up: a short run

    async def run() -> dict[str, list[list[float]]]:
        opened: list[grpc.aio.Channel] = []
        result: dict[str, list[list[float]]] = {"remote": [], "local": []}
        try:
            by_worker = await _channel_per_worker(address, port, workers, opened)
            for rep in range(-1, reps):
                sender_pid = workers[rep % 2]  # alternate the worker that runs it
                (follower_pid,) = set(workers) - {sender_pid}
                sender = session_service_pb2_grpc.SessionServiceStub(by_worker[sender_pid])
                follower = session_service_pb2_grpc.SessionServiceStub(by_worker[follower_pid])
                session = await sender.CreateSession(
                    session_service_pb2.CreateSessionRequest(
                        parent="agents/default",
                        session=session_pb2.Session(display_name=f"follow {rep}"),
                    )
                )
                request = events_pb2.SendMessageRequest(session=session.name, text=texts[rep])
                call = sender.SendMessage(request, timeout=300)
                started = await call.read()
                assert started is not grpc.aio.EOF
                name = started.run_started.run
                if _owner(db, name) != sender_pid:
                    raise RuntimeError(f"{name} runs on {_owner(db, name)}, not {sender_pid}")
                local: dict[int, tuple[float, float]] = {}
                remote: dict[int, tuple[float, float]] = {}
                stream = follower.StreamRunEvents(
                    session_service_pb2.StreamRunEventsRequest(name=name), timeout=300
                )
                _, live_from = await asyncio.gather(_read(call, local), _read(stream, remote))
                if rep < 0:
                    continue
                followed = [s for s, (made, _) in remote.items() if made > live_from]
                if len(followed) < words // 2:
                    raise RuntimeError(f"only {len(followed)} of {words} deltas followed live")
                result["remote"].append([remote[s][1] - remote[s][0] for s in followed])
                result["local"].append([local[s][1] - local[s][0] for s in followed])
        finally:
            for channel in opened:
                await channel.close()
        return result

    return asyncio.run(run())
