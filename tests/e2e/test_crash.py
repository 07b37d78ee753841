"""SIGKILL in the middle of writes loses nothing acknowledged and leaves no half batch.

The first test kills once during concurrent AddItems. The second kills over and over
(AGENTSESSIONS_KILL_CYCLES times, default 10) while AddItems, SendMessage and CompactSession
run at once, each session written by one caller in turn, so that what the session must hold
is known exactly: what the acknowledged calls left, plus the unacknowledged call in flight
either wholly or not at all. After each kill the file passes `PRAGMA integrity_check`, and the
restarted server's history, stats and runs are checked against that.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from agentsessions.v1 import events_pb2, session_pb2, session_service_pb2_grpc
from agentsessions.v1 import session_service_pb2 as ss
from server_process import ServerProcess

WRITERS = 16
BATCH = 5
KILL_AFTER_ACKS = 300


async def write_until_killed(
    stub, parent: str, writer: int, acked: list[tuple[int, int]], enough: asyncio.Event
) -> None:
    batch_number = 0
    while True:
        items = [
            session_pb2.Item(
                item_json=json.dumps({"role": "user", "content": f"{writer}/{batch_number}/{i}"})
            )
            for i in range(BATCH)
        ]
        try:
            await stub.AddItems(ss.AddItemsRequest(parent=parent, items=items), timeout=10)
        except grpc.aio.AioRpcError:
            return  # the server is gone; this batch was never acknowledged
        acked.append((writer, batch_number))
        if len(acked) >= KILL_AFTER_ACKS:
            enough.set()
        batch_number += 1


@pytest.mark.slow
async def test_sigkill_during_concurrent_add_items(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    acked: list[tuple[int, int]] = []
    with ServerProcess(db) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = session_service_pb2_grpc.SessionServiceStub(channel)
            parents = []
            for s in range(4):
                request = ss.CreateSessionRequest(
                    parent="agents/default",
                    session=session_pb2.Session(display_name=f"s{s}"),
                    session_id=f"s{s}",
                )
                parents.append((await stub.CreateSession(request)).name)
            enough = asyncio.Event()
            writers = [
                asyncio.create_task(write_until_killed(stub, parents[w % 4], w, acked, enough))
                for w in range(WRITERS)
            ]
            await asyncio.wait_for(enough.wait(), timeout=60)
            server.kill()
            await asyncio.gather(*writers)

    with ServerProcess(db) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = session_service_pb2_grpc.SessionServiceStub(channel)
            stored: dict[tuple[int, int], list[tuple[int, int]]] = {}
            for parent in parents:
                sequences = []
                token = ""
                while True:
                    page = await stub.ListItems(
                        ss.ListItemsRequest(parent=parent, page_size=1000, page_token=token)
                    )
                    for item in page.items:
                        sequences.append(item.sequence)
                        writer, batch, index = map(int, item.text.split("/"))
                        stored.setdefault((writer, batch), []).append((item.sequence, index))
                    token = page.next_page_token
                    if not token:
                        break
                assert sequences == list(range(1, len(sequences) + 1)), "sequences stay dense"
                session = await stub.GetSession(ss.GetSessionRequest(name=parent))
                assert session.stats.item_count == len(sequences)

    missing = [batch for batch in acked if batch not in stored]
    assert not missing, f"acknowledged batches lost: {missing[:5]}"
    for batch, entries in stored.items():
        sequences = [sequence for sequence, _ in entries]
        assert [index for _, index in entries] == list(range(BATCH)), f"partial batch {batch}"
        assert sequences == list(range(sequences[0], sequences[0] + BATCH)), f"interleaved {batch}"
    assert len(acked) >= KILL_AFTER_ACKS
    in_flight = len(stored) - len(acked)
    print(f"acknowledged {len(acked)} batches, stored {len(stored)} ({in_flight} in flight)")


# Kill cycles -----------------------------------------------------------------------------

CYCLES = int(os.environ.get("AGENTSESSIONS_KILL_CYCLES", "") or 10)
ADDERS = 3
SUMMARY_PREFIX = "Summary of the earlier conversation:"
KEEP = 4  # items CompactSession keeps
# A reply of 40 words 10 ms apart: a run takes about 0.4 s, so the kill finds one running.
REPLY_WORDS = 40
CYCLE_ENV = {"AGENTSESSIONS_ECHO_WORD_DELAY_SECONDS": "0.01"}
Stub = session_service_pb2_grpc.SessionServiceStub
Tags = list[str]


Change = Callable[[Tags], list[Tags]]


@dataclass
class Model:
    """One session's history as its one caller's acknowledged calls left it (item tags), and
    what its call in flight at the kill may have left instead, if it committed."""

    name: str
    acked: Tags = field(default_factory=list)
    in_flight: Change | None = None

    def candidates(self) -> list[Tags]:
        if self.in_flight is None:
            return [self.acked]
        return [self.acked, *self.in_flight(self.acked)]


def appended(tags: Tags) -> Change:
    return lambda acked: [acked + tags]


def compacted(summary: str) -> Change:
    """CompactSession's rule: all but the newest KEEP items become one summary item."""
    return lambda acked: [acked if len(acked) <= KEEP else [f"S:{summary}", *acked[-KEEP:]]]


def turn(user: str, reply: str) -> Change:
    """An interrupted run may have stored its input alone; a finished one its reply too."""
    return lambda acked: [[*acked, user], [*acked, user, reply]]


def tag_of(item: session_pb2.Item) -> str:
    if item.text.startswith(SUMMARY_PREFIX):
        return "S:" + item.text[len(SUMMARY_PREFIX) :].strip()
    return f"{item.role}:{item.text.split(' ', 1)[0]}"


def user_items(tags: Tags) -> list[session_pb2.Item]:
    return [
        session_pb2.Item(item_json=json.dumps({"role": "user", "content": tag})) for tag in tags
    ]


@dataclass
class Cycle:
    """One server's life: its callers' progress, and when to kill it."""

    number: int
    stub: Stub
    adds: int = 0
    compactions: int = 0
    running: bool = False  # a SendMessage run has started and not ended
    killed: bool = False
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    def ready(self) -> bool:
        return self.adds >= 4 * ADDERS and self.compactions >= 1 and self.running

    def moved(self) -> None:
        self.progress.set()

    async def call(self, model: Model, change: Change, call: Awaitable[object]) -> bool:
        """One call of a session's caller; False once the server is gone, the call left in
        flight. Before the kill every call must succeed."""
        model.in_flight = change
        try:
            await call
        except grpc.aio.AioRpcError as error:
            if self.killed:
                return False
            raise AssertionError(f"{model.name}: {error.code().name} {error.details()}") from None
        model.acked, model.in_flight = change(model.acked)[-1], None
        self.moved()
        return True


async def add_loop(cycle: Cycle, model: Model) -> None:
    for n in itertools.count():
        batch = [f"c{cycle.number}/{model.name[-5:]}/b{n}/{i}" for i in range(5)]
        request = ss.AddItemsRequest(parent=model.name, items=user_items(batch))
        change = appended([f"user:{tag}" for tag in batch])
        if not await cycle.call(model, change, cycle.stub.AddItems(request, timeout=60)):
            return
        cycle.adds += 1


async def compact_loop(cycle: Cycle, model: Model) -> None:
    for n in itertools.count():
        batch = [f"c{cycle.number}/k{n}/{i}" for i in range(3)]
        request = ss.AddItemsRequest(parent=model.name, items=user_items(batch))
        change = appended([f"user:{tag}" for tag in batch])
        if not await cycle.call(model, change, cycle.stub.AddItems(request, timeout=60)):
            return
        summary = f"c{cycle.number}/s{n}"
        compact = ss.CompactSessionRequest(
            name=model.name, keep_newest_count=KEEP, summary_text=summary, wait_if_busy=True
        )
        call = cycle.stub.CompactSession(compact, timeout=60)
        if not await cycle.call(model, compacted(summary), call):
            return
        cycle.compactions += 1


async def send_loop(cycle: Cycle, model: Model) -> None:
    async def run(request: events_pb2.SendMessageRequest) -> None:
        ended = None
        async for event in cycle.stub.SendMessage(request, timeout=60):
            kind = event.WhichOneof("event")
            if kind == "run_started":
                cycle.running = True
                cycle.moved()
            elif kind in ("run_completed", "run_failed", "run_cancelled"):
                ended = kind
        cycle.running = False
        assert ended == "run_completed", f"{model.name}: run ended {ended}"

    for n in itertools.count():
        head = f"c{cycle.number}/m{n}"
        text = " ".join([head, *(f"w{i}" for i in range(REPLY_WORDS))])
        request = events_pb2.SendMessageRequest(session=model.name, text=text, wait_if_busy=True)
        change = turn(f"user:{head}", f"assistant:{head}")
        if not await cycle.call(model, change, run(request)):
            return


async def all_items(stub: Stub, parent: str) -> list[session_pb2.Item]:
    items: list[session_pb2.Item] = []
    token = ""
    while True:
        page = await stub.ListItems(ss.ListItemsRequest(parent=parent, page_token=token))
        items += page.items
        token = page.next_page_token
        if not token:
            return items


async def check_restarted(stub: Stub, models: list[Model]) -> None:
    """Each session holds one of its candidate histories, whole; stats match; no run left
    RUNNING. The model then takes what is stored as acknowledged."""
    for model in models:
        items = await all_items(stub, model.name)
        assert [i.sequence for i in items] == list(range(1, len(items) + 1)), model.name
        stored = [tag_of(item) for item in items]
        assert stored in model.candidates(), (
            f"{model.name}: stored {stored[-8:]}, acknowledged {model.acked[-8:]}"
        )
        model.acked, model.in_flight = stored, None
        session = await stub.GetSession(ss.GetSessionRequest(name=model.name))
        assert session.stats.item_count == len(items)
        assert session.stats.message_count == sum(i.type == "message" for i in items)
        runs = (await stub.ListRuns(ss.ListRunsRequest(parent=model.name, page_size=1000))).runs
        assert session.stats.run_count == len(runs)
        assert all(run.state != session_pb2.Run.RUNNING for run in runs), model.name


def integrity(db: Path) -> str:
    with closing(sqlite3.connect(str(db))) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.slow
async def test_sigkill_cycles_during_adds_sends_and_compactions(tmp_path: Path) -> None:
    db = tmp_path / "cycles.db"
    adders = [Model(f"agents/default/sessions/add-{n}") for n in range(ADDERS)]
    compactor = Model("agents/default/sessions/compact")
    sender = Model("agents/default/sessions/send")
    models = [*adders, compactor, sender]
    interrupted_runs = 0
    async with asyncio.timeout(60 + 30 * CYCLES):
        for number in range(CYCLES + 1):
            with ServerProcess(db, env=CYCLE_ENV) as server:
                async with grpc.aio.insecure_channel(server.address) as channel:
                    stub = Stub(channel)
                    if number == 0:
                        for model in models:
                            await stub.CreateSession(
                                ss.CreateSessionRequest(
                                    parent="agents/default",
                                    session_id=model.name.rsplit("/", 1)[1],
                                    session=session_pb2.Session(display_name="crash"),
                                )
                            )
                    await check_restarted(stub, models)
                    if number == CYCLES:
                        break  # the last start only checks
                    cycle = Cycle(number, stub)
                    tasks = [asyncio.create_task(add_loop(cycle, m)) for m in adders]
                    tasks.append(asyncio.create_task(compact_loop(cycle, compactor)))
                    tasks.append(asyncio.create_task(send_loop(cycle, sender)))
                    while not cycle.ready():
                        failed = [t for t in tasks if t.done() and t.exception()]
                        if failed:
                            await failed[0]
                        cycle.progress.clear()
                        await asyncio.wait(
                            [asyncio.ensure_future(cycle.progress.wait()), *tasks],
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    interrupted_runs += cycle.running
                    cycle.killed = True
                    server.kill()
                    await asyncio.gather(*tasks)
            assert integrity(db) == "ok", f"after kill {number}"
    print(f"{CYCLES} kills; {interrupted_runs} during a run's reply")
