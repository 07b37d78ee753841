"""SendMessage on a busy session: REJECT, WAIT and INTERRUPT (SendMessageRequest.busy_policy)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import grpc
import pytest
from agentsessions.server.runtime import ModelRegistry
from agentsessions.v1 import events_pb2, session_pb2, session_service_pb2_grpc
from agentsessions.v1 import session_service_pb2 as ss
from e2e.test_approvals import Bank, script, start, until_approval
from e2e.test_runs import WORDS, assert_whole_log, first_events, kind, new_session, run_of
from status_details import details_of

Run = session_pb2.Run
Policy = events_pb2.SendMessageRequest.BusyPolicy


def send(session: str, text: str, policy: int = 0, **fields: Any) -> events_pb2.SendMessageRequest:
    return events_pb2.SendMessageRequest(session=session, text=text, busy_policy=policy, **fields)


@pytest.fixture
async def slow(server_factory: Any) -> str:
    server = await server_factory(echo_word_delay_seconds=0.01)
    return f"127.0.0.1:{server.port}"


async def test_interrupt_cancels_the_running_run_and_starts(slow: str) -> None:
    async with grpc.aio.insecure_channel(slow) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel)
        first = stub.SendMessage(send(session, WORDS))
        seen = await first_events(first, 3)

        second = [e async for e in stub.SendMessage(send(session, "never mind", Policy.INTERRUPT))]
        assert kind(second[-1]) == "run_completed"
        assert second[-1].run_completed.final_output == "never mind"

        rest = [e async for e in first]
        assert_whole_log(seen + rest)
        assert rest[-1].run_cancelled.reason == "interrupted by a new message"
        interrupted = await stub.GetRun(ss.GetRunRequest(name=run_of(seen)))
        assert interrupted.state == Run.CANCELLED
        assert interrupted.cancel_mode == Run.CancelMode.IMMEDIATE
        # Whole turns only: the interrupted turn's input stays, its unfinished reply does not.
        items = await stub.ListItems(ss.ListItemsRequest(parent=session))
        assert [(i.role, i.text) for i in items.items] == [
            ("user", WORDS),
            ("user", "never mind"),
            ("assistant", "never mind"),
        ]


async def test_reject_and_wait_are_explicit_and_wait_if_busy_still_works(slow: str) -> None:
    async with grpc.aio.insecure_channel(slow) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel)
        first = stub.SendMessage(send(session, WORDS))
        await first_events(first, 1)
        for request in (
            send(session, "no"),
            send(session, "no", Policy.REJECT),
            # An explicit policy wins over the older field.
            send(session, "no", Policy.REJECT, wait_if_busy=True),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as busy:
                async for _ in stub.SendMessage(request):
                    pass
            assert details_of(busy.value).reason == "SESSION_BUSY"
        waited = [e async for e in stub.SendMessage(send(session, "after", Policy.WAIT))]
        assert kind(waited[-1]) == "run_completed"
        assert kind([e async for e in first][-1]) == "run_completed"  # waited for, not cut
        also = [e async for e in stub.SendMessage(send(session, "again", wait_if_busy=True))]
        assert kind(also[-1]) == "run_completed"


async def test_interrupt_ends_a_run_waiting_for_approval(server_factory: Any) -> None:
    bank = Bank()
    address = await start(server_factory, bank, script("Nothing moved.", "Hello."))
    async with grpc.aio.insecure_channel(address) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel, "agents/banker")
        first = stub.SendMessage(send(session, "Pay 5"))
        run = (await until_approval(first))[-1].approval_required.run
        second = [e async for e in stub.SendMessage(send(session, "Hi", Policy.INTERRUPT))]
        assert kind(second[-1]) == "run_completed"
        assert [kind(e) for e in [e async for e in first]] == ["run_cancelled"]
        ended = await stub.GetRun(ss.GetRunRequest(name=run))
        assert (ended.state, ended.cancel_reason) == (
            Run.CANCELLED,
            "interrupted by a new message",
        )
        assert bank.transfers == []
        items = await stub.ListItems(ss.ListItemsRequest(parent=session))
        assert [i.type for i in items.items] == [
            "message",
            "function_call",
            "function_call_output",
            "message",
            "message",
        ]


async def test_an_unknown_busy_policy_is_invalid(server_factory: Any) -> None:
    server = await server_factory(models=ModelRegistry())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel)
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            async for _ in stub.SendMessage(send(session, "hi", 99)):
                pass
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert details_of(bad.value).reason == "INVALID_BUSY_POLICY"


async def collect_run(call: Any) -> list[events_pb2.SendMessageResponse]:
    return [e async for e in call]


async def test_enqueue_runs_ten_messages_one_after_another_in_order(slow: str) -> None:
    async with grpc.aio.insecure_channel(slow) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel)
        texts = [f"message{n}" for n in range(10)]
        streams = await asyncio.gather(
            *(collect_run(stub.SendMessage(send(session, t, Policy.ENQUEUE))) for t in texts)
        )
        for text, events in zip(texts, streams, strict=True):
            assert_whole_log(events)
            assert events[-1].run_completed.final_output == text
        queued = [e for e in streams if kind(e[0]) == "run_queued"]
        assert len(queued) >= 8  # all but the first, unless one ended before the last came
        for events in queued:
            assert kind(events[1]) == "run_started"
        runs = (await stub.ListRuns(ss.ListRunsRequest(parent=session))).runs
        by_start = sorted(runs, key=lambda r: (r.start_time.seconds, r.start_time.nanos))
        assert len(by_start) == 10
        for before, after in itertools.pairwise(by_start):
            ended = (before.end_time.seconds, before.end_time.nanos)
            assert ended <= (after.start_time.seconds, after.start_time.nanos), "overlap"
        # In the order they were queued: positions rise with start times.
        position = {e[0].run_queued.run: e[0].run_queued.position for e in queued}
        started = [r.name for r in by_start if r.name in position]
        assert [position[name] for name in started] == sorted(position[n] for n in started)
        items = (await stub.ListItems(ss.ListItemsRequest(parent=session, page_size=100))).items
        assert len(items) == 20
        pairs = [(items[i].text, items[i + 1].text) for i in range(0, 20, 2)]
        assert all(user == reply for user, reply in pairs)
        assert [items[i].role for i in range(20)] == ["user", "assistant"] * 10


async def test_queue_positions_cancel_and_a_full_queue(slow: str) -> None:
    async with grpc.aio.insecure_channel(slow) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        session = await new_session(channel)
        running = stub.SendMessage(send(session, WORDS))
        await first_events(running, 1)
        # The server's default queue holds 16.
        waiting = [
            stub.SendMessage(send(session, f"q{n}", Policy.ENQUEUE, on_disconnect=2))
            for n in range(16)
        ]
        names = [(await first_events(call, 1))[0].run_queued.run for call in waiting]
        runs = [await stub.GetRun(ss.GetRunRequest(name=n)) for n in names]
        assert [(r.state, r.queue_position) for r in runs] == [
            (Run.QUEUED, p) for p in range(1, 17)
        ]
        with pytest.raises(grpc.aio.AioRpcError) as full:
            async for _ in stub.SendMessage(send(session, "the 17th", Policy.ENQUEUE)):
                pass
        assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert details_of(full.value).reason == "QUEUE_FULL"

        cancelled = await stub.CancelRun(ss.CancelRunRequest(name=names[1]))
        assert cancelled.state == Run.CANCELLED
        assert [kind(e) for e in [e async for e in waiting[1]]] == ["run_cancelled"]
        third = await stub.GetRun(ss.GetRunRequest(name=names[2]))
        assert third.queue_position == 2
        rest = [[e async for e in call] for call in [running, waiting[0], *waiting[2:]]]
        assert [kind(events[-1]) for events in rest] == ["run_completed"] * 16
        assert (await stub.GetRun(ss.GetRunRequest(name=names[2]))).queue_position == 0
