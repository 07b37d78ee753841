"""SendMessage on a busy session: REJECT, WAIT and INTERRUPT (SendMessageRequest.busy_policy)."""

from __future__ import annotations

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
