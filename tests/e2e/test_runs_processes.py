"""Runs against real server processes: SIGKILL in the middle of a run, a killed worker, one
session sent to from two workers at once, SIGTERM with a stalled reader, and a reader that
never reads a long reply.

Every wait polls with a deadline; every test runs under an overall timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from agentsessions.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    events_pb2,
    session_pb2,
    session_service_pb2_grpc,
)
from agentsessions.v1 import session_service_pb2 as ss
from google.rpc import error_details_pb2, status_pb2
from server_process import ServerProcess
from status_details import details_of

Run = session_pb2.Run
Event = events_pb2.SendMessageResponse
Stub = session_service_pb2_grpc.SessionServiceStub
V = TypeVar("V")

T = 60.0  # deadline of a call
TERMINAL = {"run_completed", "run_failed", "run_cancelled"}
WORD_DELAY = "AGENTSESSIONS_ECHO_WORD_DELAY_SECONDS"
LEASE = "AGENTSESSIONS_LEASE_SECONDS"
GRACE = "AGENTSESSIONS_GRACE_SECONDS"
OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
# A subchannel pool of its own: the channel is a connection of its own, which one worker of
# `serve --workers` accepts.
OWN_CONNECTION = [*OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
MiB = 1024 * 1024


# Helpers -----------------------------------------------------------------------------------


def words(count: int, stem: str = "w") -> str:
    return " ".join(f"{stem}{i}" for i in range(count))


def kinds(events: list[Event]) -> list[str]:
    return [str(event.WhichOneof("event")) for event in events]


def assert_one_whole_run(events: list[Event]) -> None:
    """Sequences 1, 2, … with no gap or repeat; run_started first (after run_queued for a
    queued run); exactly one terminal, last."""
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    names = kinds(events)
    assert names[names[0] == "run_queued"] == "run_started"
    assert names[-1] in TERMINAL, names[-5:]
    assert not TERMINAL & set(names[:-1])


def reason_of(status: status_pb2.Status) -> str:
    """The ErrorInfo reason in a google.rpc.Status (a run's error)."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            assert info.domain == "agentsessions"
            return info.reason
    raise AssertionError(f"no ErrorInfo in {status}")


async def until(check: Callable[[], Awaitable[V | None]], seconds: float, what: str) -> V:
    """Polls `check` every 20 ms until it returns a value; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value is not None:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {seconds:g} s"
        await asyncio.sleep(0.02)


async def collect(call: grpc.aio.UnaryStreamCall, seconds: float = T) -> list[Event]:
    """The call's (remaining) events; `read()`, so a call already read from can be finished."""
    events = []
    async with asyncio.timeout(seconds):
        while (event := await call.read()) is not grpc.aio.EOF:
            events.append(event)
    return events


async def new_session(stub: Stub, session_id: str) -> str:
    request = ss.CreateSessionRequest(
        parent="agents/default",
        session_id=session_id,
        session=session_pb2.Session(display_name=session_id),
    )
    return (await stub.CreateSession(request, timeout=T)).name


async def all_items(stub: Stub, session: str) -> list[session_pb2.Item]:
    items: list[session_pb2.Item] = []
    token = ""
    while True:
        page = await stub.ListItems(
            ss.ListItemsRequest(parent=session, page_size=1000, page_token=token), timeout=T
        )
        items += page.items
        token = page.next_page_token
        if not token:
            return items


def send(session: str, text: str, **fields: object) -> events_pb2.SendMessageRequest:
    return events_pb2.SendMessageRequest(session=session, text=text, **fields)  # type: ignore[arg-type]


def replay(stub: Stub, run: str, after: int = 0) -> grpc.aio.UnaryStreamCall:
    request = ss.StreamRunEventsRequest(name=run, after_sequence=after)
    return stub.StreamRunEvents(request, timeout=T)


def run_owner(db: Path, run: str) -> int:
    """The pid of the process that executes `run`, from its row (owner is host/pid/start)."""
    with closing(sqlite3.connect(db, timeout=10)) as connection:
        row = connection.execute(
            "SELECT owner FROM runs WHERE run_id = ?", (run.rsplit("/", 1)[1],)
        ).fetchone()
    assert row is not None, f"no row for {run}"
    return int(row[0].split("/")[1])


def accepted(pids: list[int], port: int) -> set[tuple[int, int]]:
    """(pid, client port) of each established connection to `port` that one of `pids` holds."""
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


class Channels:
    """Channels of one connection each, sorted by the worker of `serve --workers` holding it.

    A channel is opened and answered one at a time; the one connection the workers accepted
    meanwhile (from /proc) is the channel's, and the worker holding it serves its calls.
    """

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.workers = server.children()
        self.by_worker: dict[int, list[grpc.aio.Channel]] = {pid: [] for pid in self.workers}
        self.opened: list[grpc.aio.Channel] = []

    async def spread(self, per_worker: int, attempts: int = 80) -> None:
        """Opens channels until every worker holds `per_worker` of them."""
        for _ in range(attempts):
            if all(len(held) >= per_worker for held in self.by_worker.values()):
                return
            await self.open()
        raise AssertionError(
            f"channels per worker: { {p: len(c) for p, c in self.by_worker.items()} }"
        )

    async def open(self) -> None:
        before = accepted(self.workers, self.server.port)
        channel = grpc.aio.insecure_channel(self.server.address, options=OWN_CONNECTION)
        self.opened.append(channel)
        agents = agent_pb2_grpc.AgentServiceStub(channel)
        await agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/default"), timeout=10)
        new = accepted(self.workers, self.server.port) - before
        assert len(new) == 1, f"connections accepted while one channel connected: {new}"
        ((pid, _),) = new
        self.by_worker[pid].append(channel)

    def stub(self, pid: int, index: int = 0) -> Stub:
        return Stub(self.by_worker[pid][index])

    async def aclose(self) -> None:
        for channel in self.opened:
            await channel.close()


# 1. SIGKILL in the middle of a run, then a restart on the same file -------------------------


@pytest.mark.slow
async def test_a_run_killed_mid_reply_is_interrupted_and_its_session_goes_on(
    tmp_path: Path,
) -> None:
    db = tmp_path / "killed.db"
    first = words(400, "first")  # 400 words 0.05 s apart: 20 s, far longer than we wait
    second = "now a reply that is allowed to finish"
    async with asyncio.timeout(180):
        with ServerProcess(db, env={WORD_DELAY: "0.05"}) as server:
            async with grpc.aio.insecure_channel(server.address, options=OPTIONS) as channel:
                stub = Stub(channel)
                session = await new_session(stub, "killed")
                call = stub.SendMessage(send(session, first), timeout=T)
                seen: list[Event] = []
                while kinds(seen).count("text_delta") < 5:
                    event = await call.read()
                    assert event is not grpc.aio.EOF
                    seen.append(event)
                server.kill()
        run = seen[0].run_started.run

        with ServerProcess(db) as server:
            async with grpc.aio.insecure_channel(server.address, options=OPTIONS) as channel:
                stub = Stub(channel)
                interrupted = await stub.GetRun(ss.GetRunRequest(name=run), timeout=T)
                assert interrupted.state == Run.FAILED
                assert interrupted.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
                assert reason_of(interrupted.error) == "RUN_INTERRUPTED"

                events = await collect(replay(stub, run))
                assert_one_whole_run(events)
                assert events[: len(seen)] == seen, "the replay starts with what the caller saw"
                assert kinds(events)[-1] == "run_failed"
                assert "message_completed" not in kinds(events), "killed before the reply ended"
                failed = events[-1].run_failed
                assert reason_of(failed.error) == "RUN_INTERRUPTED"
                assert failed.run.state == Run.FAILED
                assert interrupted.last_event_sequence == events[-1].sequence

                began = time.monotonic()
                call = stub.SendMessage(send(session, second), timeout=T)
                started = await call.read()  # SESSION_BUSY would raise here
                accepted_after = time.monotonic() - began
                assert started.WhichOneof("event") == "run_started"
                rest = await collect(call)
                assert_one_whole_run([started, *rest])
                assert rest[-1].run_completed.final_output == second
                assert accepted_after < 5.0

                items = await all_items(stub, session)
                runs = (await stub.ListRuns(ss.ListRunsRequest(parent=session), timeout=T)).runs
                stats = (await stub.GetSession(ss.GetSessionRequest(name=session), timeout=T)).stats

    # Whole turns only: each run's items are its user message, then (if it got that far) its
    # assistant message complete; the interrupted run left no part of a reply.
    assert [item.sequence for item in items] == list(range(1, len(items) + 1))
    sent = {run: first, started.run_started.run: second}
    assert {r.name for r in runs} == set(sent)
    by_run: dict[str, list[session_pb2.Item]] = {}
    for item in items:
        by_run.setdefault(f"{session}/runs/{item.run_id}", []).append(item)
    assert set(by_run) == set(sent)
    for name, its in by_run.items():
        assert (its[0].role, its[0].text) == ("user", sent[name])
        for reply in its[1:]:
            assert (reply.type, reply.role, reply.text) == ("message", "assistant", sent[name])
            content = json.loads(reply.item_json)["content"]
            assert "".join(part["text"] for part in content) == sent[name]
    assert len(by_run[run]) == 1
    assert len(by_run[started.run_started.run]) == 2
    assert stats.item_count == len(items) == 3
    assert stats.message_count == sum(item.type == "message" for item in items)
    assert stats.run_count == 2
    assert failed.session_stats.item_count == 1


# 2. A worker of `serve --workers 2` SIGKILLed in the middle of a run --------------------------


@pytest.mark.slow
async def test_a_killed_workers_run_is_interrupted_within_the_lease(tmp_path: Path) -> None:
    lease = 2.0
    env = {LEASE: str(lease), WORD_DELAY: "0.05", GRACE: "1"}
    db = tmp_path / "workers.db"
    async with asyncio.timeout(180):
        with ServerProcess(db, "--workers", "2", env=env) as server:
            channels = Channels(server)
            try:
                await channels.spread(per_worker=2)
                stub = Stub(channels.opened[0])
                session = await new_session(stub, "orphan")
                request = send(session, words(400), on_disconnect=Run.CONTINUE)
                call = stub.SendMessage(request, timeout=T)
                seen: list[Event] = []
                while kinds(seen).count("text_delta") < 3:
                    event = await call.read()
                    assert event is not grpc.aio.EOF
                    seen.append(event)
                run = seen[0].run_started.run
                owner = run_owner(db, run)
                (survivor,) = set(channels.workers) - {owner}
                survivors = channels.stub(survivor)
                running = await survivors.GetRun(ss.GetRunRequest(name=run), timeout=T)
                assert running.state == Run.RUNNING

                os.kill(owner, signal.SIGKILL)
                killed_at = time.monotonic()

                async def ended() -> Run | None:
                    got = await survivors.GetRun(ss.GetRunRequest(name=run), timeout=T)
                    return got if got.state != Run.RUNNING else None

                interrupted = await until(ended, lease + 10, "the run ended")
                took = time.monotonic() - killed_at
                print(f"killed worker's run seen interrupted after {took:.3f} s")
                assert interrupted.state == Run.FAILED
                assert reason_of(interrupted.error) == "RUN_INTERRUPTED"
                assert took <= lease + 1.0

                # The caller's stream went down with its worker.
                with pytest.raises(grpc.aio.AioRpcError) as broken:
                    await collect(call, 10)
                assert broken.value.code() == grpc.StatusCode.UNAVAILABLE

                events = await collect(replay(survivors, run))
                assert_one_whole_run(events)
                assert kinds(events)[-1] == "run_failed"
                assert events[: len(seen)] == seen

                again = await collect(survivors.SendMessage(send(session, "still here"), timeout=T))
                assert_one_whole_run(again)
                assert again[-1].run_completed.final_output == "still here"
                runs = (await survivors.ListRuns(ss.ListRunsRequest(parent=session))).runs
                assert sorted(r.state for r in runs) == [Run.COMPLETED, Run.FAILED]
            finally:
                await channels.aclose()
            assert await asyncio.to_thread(server.stop) == 0


# 3. One session, 50 sends at once over both workers; a run followed from the other worker -----


async def test_one_session_is_busy_across_workers_and_followed_from_the_other(
    tmp_path: Path,
) -> None:
    db = tmp_path / "busy.db"
    text = words(100)  # 100 words 0.05 s apart: 5 s for the 50 sends to arrive meanwhile
    async with asyncio.timeout(120):
        with ServerProcess(db, "--workers", "2", env={WORD_DELAY: "0.05"}) as server:
            channels = Channels(server)
            try:
                await channels.spread(per_worker=4)
                pool = [(pid, c) for pid, held in channels.by_worker.items() for c in held]
                session = await new_session(Stub(pool[0][1]), "busy")
                starts: asyncio.Queue[tuple[int, str]] = asyncio.Queue()

                async def one(index: int) -> tuple[int, list[Event] | grpc.aio.AioRpcError]:
                    pid, channel = pool[index % len(pool)]
                    events: list[Event] = []
                    try:
                        async for event in Stub(channel).SendMessage(
                            send(session, text), timeout=T
                        ):
                            events.append(event)
                            if len(events) == 1:
                                starts.put_nowait((pid, event.run_started.run))
                    except grpc.aio.AioRpcError as error:
                        return pid, error
                    return pid, events

                sends = [asyncio.create_task(one(i)) for i in range(50)]
                sender, run = await asyncio.wait_for(starts.get(), T)
                owner = run_owner(db, run)
                assert owner == sender, "the run executes on the worker its SendMessage reached"
                (other,) = set(channels.workers) - {owner}
                follower = channels.stub(other)
                before = await follower.GetRun(ss.GetRunRequest(name=run), timeout=T)
                assert before.state == Run.RUNNING
                followed = await collect(replay(follower, run))
                results = await asyncio.gather(*sends)

                winners = [events for _, events in results if isinstance(events, list)]
                losers = [(pid, e) for pid, e in results if isinstance(e, grpc.aio.AioRpcError)]
                assert len(winners) == 1
                assert len(losers) == 49
                for _, error in losers:
                    details = details_of(error)
                    assert (details.code, details.reason) == (
                        grpc.StatusCode.ABORTED,
                        "SESSION_BUSY",
                    )
                    assert details.error_info.metadata["run"] == run
                assert {pid for pid, _ in losers} == set(channels.workers)
                runs = (await follower.ListRuns(ss.ListRunsRequest(parent=session))).runs
                assert [r.name for r in runs] == [run]

                assert_one_whole_run(followed)
                assert kinds(followed)[-1] == "run_completed"
                # Most of the run was followed live, as the owner appended it.
                assert before.last_event_sequence < len(followed) - 50
                assert followed == winners[0]
                assert followed == await collect(replay(channels.stub(owner), run))
                assert followed == await collect(replay(follower, run))
            finally:
                await channels.aclose()
            assert await asyncio.to_thread(server.stop) == 0


# 4. SIGTERM with a live reader and a stalled one ---------------------------------------------


@pytest.mark.slow
async def test_sigterm_ends_live_and_stalled_readers_with_a_terminal_event(
    tmp_path: Path,
) -> None:
    grace = 3.0
    env = {GRACE: str(grace), WORD_DELAY: "0.01"}
    # Both runs take 1,500 words 0.01 s apart, 15 s or more: they outlast the grace period.
    live_text = words(1500)
    # Long words make large events, so the stalled stream soon fills its flow-control window
    # (64 KiB without BDP probing) and the server's writes to it wait.
    stalled_text = " ".join(f"{i:04d}{'x' * 500}" for i in range(1500))
    stalled_options = [*OWN_CONNECTION, ("grpc.http2.bdp_probe", 0)]
    async with asyncio.timeout(120):
        with ServerProcess(tmp_path / "stop.db", env=env) as server:
            async with (
                grpc.aio.insecure_channel(server.address, options=OPTIONS) as channel,
                grpc.aio.insecure_channel(server.address, options=stalled_options) as slow,
            ):
                stub = Stub(channel)
                live_session = await new_session(stub, "live")
                stalled_session = await new_session(stub, "stalled")
                live_call = stub.SendMessage(send(live_session, live_text), timeout=T)
                live = asyncio.create_task(collect(live_call))
                stalled_call = Stub(slow).SendMessage(
                    send(stalled_session, stalled_text), timeout=T
                )
                stalled = [await stalled_call.read() for _ in range(3)]
                stalled_run = stalled[0].run_started.run

                async def backlog() -> int | None:
                    got = await stub.GetRun(ss.GetRunRequest(name=stalled_run), timeout=T)
                    assert got.state == Run.RUNNING
                    return got.last_event_sequence if got.last_event_sequence >= 400 else None

                await until(backlog, 30, "400 unread events")  # ~200 KB behind the reader

                assert server.process is not None
                server.process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                exit_code = asyncio.create_task(asyncio.to_thread(server.process.wait, 30))
                # The stalled reader comes back a second later, and reads to the end.
                await asyncio.sleep(1.0)
                async with asyncio.timeout(grace + 5):
                    while (event := await stalled_call.read()) is not grpc.aio.EOF:
                        stalled.append(event)
                live_events = await asyncio.wait_for(live, grace + 5)
                assert await exit_code == 0
                took = time.monotonic() - signalled
    print(f"stopped {took:.2f} s after SIGTERM (grace {grace:g} s)")

    for events in (live_events, stalled):
        assert_one_whole_run(events)
        last = events[-1]
        if last.WhichOneof("event") == "run_cancelled":
            assert last.run_cancelled.reason == "the server is stopping"
            assert last.run_cancelled.run.state == Run.CANCELLED
        else:
            assert last.WhichOneof("event") == "run_completed"
    assert len(stalled) > 400
    # Runs get grace - 1 s, their readers the rest; then the store closes and Python exits.
    assert took <= grace + 2.0


# 5. A reader that never reads a 300,000-word reply --------------------------------------------

REPLY_WORDS = 300_000
# Measured on a 2-core development machine (three runs): RSS rose 0.4-0.5 MiB while the unread
# events went from 10 % to 90 % of the run; over the idle server it stood about 7 MiB higher
# for the run, with a peak of 13.0-14.5 MiB in its first second. (Before the echo model
# iterated its words, its list of all 300,000 of them put the peak at 35 MiB.)
UNREAD_GROWTH_BOUND = 4 * MiB
RSS_GROWTH_BOUND = 20 * MiB


@pytest.mark.slow
async def test_a_reader_that_never_reads_costs_the_server_no_memory(tmp_path: Path) -> None:
    text = " ".join(["w"] * REPLY_WORDS)
    async with asyncio.timeout(600):
        with ServerProcess(tmp_path / "memory.db") as server:
            async with (
                grpc.aio.insecure_channel(server.address, options=OWN_CONNECTION) as channel,
                grpc.aio.insecure_channel(server.address, options=OWN_CONNECTION) as watcher,
            ):
                stub, watch = Stub(channel), Stub(watcher)
                session = await new_session(stub, "memory")
                for _ in range(2):  # warm-up: a shorter reply, read as it comes
                    warm = await collect(stub.SendMessage(send(session, words(3000)), timeout=T))
                    assert warm[-1].WhichOneof("event") == "run_completed"
                idle = server.rss_bytes()

                call = stub.SendMessage(send(session, text), timeout=600)
                first = await call.read()  # then nothing until the run has ended
                run = first.run_started.run
                began = time.monotonic()
                samples: list[tuple[int, int]] = []  # (events appended, RSS) while running

                async def done() -> Run | None:
                    got = await watch.GetRun(ss.GetRunRequest(name=run), timeout=T)
                    samples.append((got.last_event_sequence, server.rss_bytes()))
                    return got if got.state != Run.RUNNING else None

                ended = await until(done, 500, "the 300,000-word run ended")
                took = time.monotonic() - began
                events = [first]
                while (event := await call.read()) is not grpc.aio.EOF:
                    events.append(event)

    peak = max(rss for _, rss in samples)
    middle = [rss for seq, rss in samples if REPLY_WORDS // 10 <= seq <= REPLY_WORDS * 9 // 10]
    unread_growth = max(middle) - middle[0]
    trail = [
        f"#{seq} +{(rss - idle) / MiB:.1f}"
        for seq, rss in samples[:: max(1, len(samples) // 10)] + samples[-1:]
    ]
    print(
        f"idle {idle / MiB:.1f} MiB after warm-up; peak +{(peak - idle) / MiB:.1f} MiB while the"
        f" reader slept; +{unread_growth / MiB:.2f} MiB from 10 % to 90 % of the events;"
        f" run {took:.1f} s; RSS by events appended: {trail}"
    )
    assert ended.state == Run.COMPLETED
    assert_one_whole_run(events)
    names = kinds(events)
    # run_started, agent_updated (the first agent), the words, message_completed, run_completed
    assert names[:2] == ["run_started", "agent_updated"]
    assert names[2:-2] == ["text_delta"] * REPLY_WORDS
    assert names[-2:] == ["message_completed", "run_completed"]
    assert "".join(e.text_delta.delta for e in events[2:-2]) == text
    assert events[-1].run_completed.final_output == text
    # The unread events are not held in the server: RSS does not grow as they pile up ...
    assert unread_growth <= UNREAD_GROWTH_BOUND, trail
    # ... and the whole run stays within a few MiB of the idle server.
    assert peak - idle <= RSS_GROWTH_BOUND, (
        f"server RSS grew {(peak - idle) / MiB:.1f} MiB (bound {RSS_GROWTH_BOUND / MiB:.0f}) while"
        f" a reader did not read; RSS by events appended: {trail}"
    )
