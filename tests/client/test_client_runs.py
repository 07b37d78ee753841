"""Runs outlive their stream: request_id joins, stream_run_events, cancel_run, resumption."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from agentsessions.client import (
    AsyncClient,
    AsyncMessageStream,
    Cancelled,
    Client,
    EventsExpired,
    InvalidArgument,
    NotFound,
    OutOfRange,
    RequestIdReused,
)
from agentsessions.client import exceptions as ex
from agentsessions.server.runtime import ModelRegistry
from agentsessions.v1 import events_pb2, session_pb2
from cli_run import cli_env
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from readme_examples import blocks
from server_process import ServerProcess

Run = session_pb2.Run
WORDS = " ".join(f"w{n}" for n in range(1, 11))  # ten words: ten text deltas
T = 30  # every call's deadline: a run that wrongly never ends fails the test instead of hanging


async def new_session(client: AsyncClient) -> str:
    return (await client.create_session("agents/default", {"display_name": "runs"})).name


async def collect(stream: AsyncMessageStream) -> list[events_pb2.SendMessageResponse]:
    return [event async for event in stream]


def kinds(events: list[events_pb2.SendMessageResponse]) -> list[str]:
    return [str(event.WhichOneof("event")) for event in events]


def assert_dense(events: list[events_pb2.SendMessageResponse], first: int = 1) -> None:
    assert [e.sequence for e in events] == list(range(first, first + len(events)))


@pytest.fixture
async def slow_client(server_factory) -> AsyncIterator[AsyncClient]:
    """A client of a server whose echo model waits 0.1 s before each word."""
    server = await server_factory(models=ModelRegistry(echo_word_delay=0.1))
    async with AsyncClient(f"127.0.0.1:{server.port}") as client:
        yield client


async def until_started(stream: AsyncMessageStream) -> events_pb2.SendMessageResponse:
    first = await anext(aiter(stream))
    assert first.WhichOneof("event") == "run_started" and stream.run
    return first


# request_id


async def test_the_same_request_id_joins_the_run_instead_of_starting_another(
    slow_client: AsyncClient,
) -> None:
    session = await new_session(slow_client)
    request_id = str(uuid.uuid4())
    first = slow_client.send_message(session, text=WORDS, request_id=request_id, timeout=T)
    await until_started(first)
    # While the run goes on, a repeat joins it (no SESSION_BUSY) and streams it from the start.
    joined = slow_client.send_message(session, text=WORDS, request_id=request_id, timeout=T)
    rest_of_first, all_of_joined = await asyncio.gather(collect(first), collect(joined))
    assert first.request_id == joined.request_id == request_id
    assert joined.run == first.run
    assert_dense(all_of_joined)
    assert all_of_joined[1:] == rest_of_first
    assert kinds(all_of_joined)[-1] == "run_completed"

    # Once the run has ended, the same id replays it, from the start or after a position.
    replayed = await collect(
        slow_client.send_message(session, text=WORDS, request_id=request_id, timeout=T)
    )
    assert replayed == all_of_joined
    tail = slow_client.send_message(
        session, text=WORDS, request_id=request_id, after_sequence=3, timeout=T
    )
    assert await collect(tail) == all_of_joined[3:]
    assert tail.last_sequence == all_of_joined[-1].sequence

    runs = [run async for run in await slow_client.list_runs(session)]
    assert [run.name for run in runs] == [first.run]
    assert runs[0].request_id == request_id
    assert runs[0].last_event_sequence == all_of_joined[-1].sequence
    # One run, one user message and one reply in the history.
    assert [i.text async for i in await slow_client.list_items(session)] == [WORDS, WORDS]


async def test_the_same_request_id_with_another_input_is_refused(client: AsyncClient) -> None:
    session = await new_session(client)
    request_id = str(uuid.uuid4())
    assert await client.send_message(
        session, text="first", request_id=request_id, timeout=T
    ).final_text()
    with pytest.raises(RequestIdReused) as caught:
        await client.send_message(
            session, text="second", request_id=request_id, timeout=T
        ).final_text()
    assert isinstance(caught.value, InvalidArgument)
    assert caught.value.reason == "REQUEST_ID_REUSED"
    assert len([run async for run in await client.list_runs(session)]) == 1


async def test_every_call_gets_its_own_request_id(client: AsyncClient) -> None:
    session = await new_session(client)
    one = client.send_message(session, text="same words", timeout=T)
    two = client.send_message(session, text="same words", wait_if_busy=True, timeout=T)
    assert await one.final_text() == await two.final_text() == "same words"
    assert one.request_id != two.request_id and one.run != two.run
    run = await client.get_run(one.run)
    assert run.request_id == one.request_id


# stream_run_events


async def test_stream_run_events_replays_what_the_live_stream_showed(client: AsyncClient) -> None:
    session = await new_session(client)
    live_stream = client.send_message(session, text="replay me please", timeout=T)
    live = await collect(live_stream)
    assert_dense(live)

    replay_stream = client.stream_run_events(live_stream.run, timeout=T)
    assert await collect(replay_stream) == live
    assert replay_stream.run == live_stream.run and replay_stream.request_id == ""
    assert (
        await client.stream_run_events(live_stream.run, timeout=T).final_text()
        == "replay me please"
    )

    after = client.stream_run_events(live_stream.run, after_sequence=2, timeout=T)
    assert await collect(after) == live[2:]
    last = live[-1].sequence
    assert (
        await collect(client.stream_run_events(live_stream.run, after_sequence=last, timeout=T))
        == []
    )

    run = await client.get_run(live_stream.run)
    assert run.last_event_sequence == last
    assert run.HasField("events_expire_time")


async def test_stream_run_events_follows_a_run_still_going(slow_client: AsyncClient) -> None:
    session = await new_session(slow_client)
    live_stream = slow_client.send_message(session, text=WORDS, timeout=T)
    started = await until_started(live_stream)
    follower = slow_client.stream_run_events(live_stream.run, timeout=T)
    rest, followed = await asyncio.gather(collect(live_stream), collect(follower))
    assert followed == [started, *rest]
    assert follower.text == WORDS and await follower.final_text() == WORDS


async def test_stream_run_events_of_an_unknown_run_or_past_its_end(client: AsyncClient) -> None:
    session = await new_session(client)
    with pytest.raises(NotFound):
        await client.stream_run_events(f"{session}/runs/nope", timeout=T).final_text()
    stream = client.send_message(session, text="hi", timeout=T)
    await stream.final_text()
    with pytest.raises(OutOfRange):
        await collect(
            client.stream_run_events(stream.run, after_sequence=stream.last_sequence + 1, timeout=T)
        )


async def test_expired_events_raise_events_expired(server_factory) -> None:
    server = await server_factory(event_retention_seconds=1.0)
    async with AsyncClient(f"127.0.0.1:{server.port}") as client:
        session = await new_session(client)
        stream = client.send_message(session, text="soon gone", timeout=T)
        assert await stream.final_text() == "soon gone"
        with pytest.raises(EventsExpired) as caught:
            for _ in range(100):  # until a second has passed since the run ended
                await collect(client.stream_run_events(stream.run, timeout=T))
                await asyncio.sleep(0.1)
        assert isinstance(caught.value, OutOfRange)
        assert caught.value.reason == "EVENTS_EXPIRED"
        # The run itself and its history stay.
        assert (await client.get_run(stream.run)).state == Run.COMPLETED


# cancel_run


async def test_cancel_run_stops_a_running_run_and_is_idempotent(slow_client: AsyncClient) -> None:
    session = await new_session(slow_client)
    stream = slow_client.send_message(session, text=WORDS, on_disconnect="continue", timeout=T)
    await until_started(stream)
    cancelled = await slow_client.cancel_run(stream.run, timeout=T)
    assert cancelled.state == Run.CANCELLED
    assert cancelled.cancel_mode == Run.IMMEDIATE
    assert cancelled.cancel_reason
    assert cancelled.HasField("end_time")
    events = await collect(stream)
    assert kinds(events)[-1] == "run_cancelled"
    with pytest.raises(Cancelled):
        await stream.final_text()

    again = await slow_client.cancel_run(stream.run, mode=Run.IMMEDIATE, timeout=T)
    assert again == cancelled
    assert await slow_client.get_run(stream.run) == cancelled
    # The session is free for the next message.
    assert await slow_client.send_message(session, text="next", timeout=T).final_text() == "next"


async def test_cancel_run_after_the_run_ended_returns_it_unchanged(client: AsyncClient) -> None:
    session = await new_session(client)
    stream = client.send_message(session, text="all done", timeout=T)
    assert await stream.final_text() == "all done"
    ended = await client.get_run(stream.run)
    assert await client.cancel_run(stream.run, timeout=T) == ended
    assert await client.cancel_run(stream.run, mode="after_turn", timeout=T) == ended
    assert ended.state == Run.COMPLETED and not ended.cancel_mode
    with pytest.raises(NotFound):
        await client.cancel_run(f"{session}/runs/nope", timeout=T)
    with pytest.raises(ValueError):
        await client.cancel_run(stream.run, mode="eventually", timeout=T)


async def test_cancel_after_turn_keeps_the_turn_whole(slow_client: AsyncClient) -> None:
    session = await new_session(slow_client)
    stream = slow_client.send_message(session, text=WORDS, on_disconnect="continue", timeout=T)
    await until_started(stream)
    run = await slow_client.cancel_run(stream.run, mode="after_turn", timeout=T)
    assert run.cancel_mode == Run.AFTER_TURN
    assert run.state in (Run.CANCELLED, Run.COMPLETED)
    await collect(stream)
    history = [(i.role, i.text) async for i in await slow_client.list_items(session)]
    # The model's one turn finished and was stored whole before the run stopped.
    assert history == [("user", WORDS), ("assistant", WORDS)]


async def test_cancel_run_whose_deadline_comes_first_returns_the_run_still_going(
    slow_client: AsyncClient,
) -> None:
    session = await new_session(slow_client)
    words = " ".join([WORDS] * 3)  # three seconds of reply
    stream = slow_client.send_message(session, text=words, on_disconnect="continue", timeout=T)
    await until_started(stream)
    run = await slow_client.cancel_run(stream.run, mode="after_turn", timeout=1.0)
    assert run.state == Run.RUNNING and run.cancel_mode == Run.AFTER_TURN
    await collect(stream)  # the cancellation stands: the run ends after its turn
    assert (await slow_client.get_run(stream.run)).state in (Run.CANCELLED, Run.COMPLETED)


async def test_a_run_that_continues_on_disconnect_outlives_its_call(
    slow_client: AsyncClient,
) -> None:
    session = await new_session(slow_client)
    async with slow_client.send_message(
        session, text=WORDS, on_disconnect="continue", timeout=T
    ) as stream:
        await until_started(stream)
        stream.cancel()  # only this call ends
    run = await slow_client.get_run(stream.run)
    assert run.on_disconnect == Run.CONTINUE
    assert await slow_client.stream_run_events(stream.run, timeout=T).final_text() == WORDS
    assert (await slow_client.get_run(stream.run)).state == Run.COMPLETED


async def test_the_blocking_client_has_the_same_run_methods(sync_client: Client) -> None:
    def use() -> tuple[list[events_pb2.SendMessageResponse], list[events_pb2.SendMessageResponse]]:
        session = sync_client.create_session("agents/default", {"display_name": "s"}).name
        with sync_client.send_message(session, text="sync runs", timeout=T) as stream:
            live = list(stream)
        replay = list(sync_client.stream_run_events(stream.run, timeout=T))
        assert sync_client.cancel_run(stream.run, timeout=T).state == Run.COMPLETED
        return live, replay

    live, replay = await asyncio.to_thread(use)
    assert live == replay and kinds(live)[-1] == "run_completed"


# Resuming after UNAVAILABLE


async def wait_for_state(channel: grpc.aio.Channel, wanted: grpc.ChannelConnectivity) -> None:
    state = channel.get_state()
    while state != wanted:
        await channel.wait_for_state_change(state)
        state = channel.get_state()


async def test_send_message_while_the_server_is_down_starts_one_run_once_it_is_back(
    server_factory,
) -> None:
    server = await server_factory()
    port = server.port
    async with AsyncClient(f"127.0.0.1:{port}") as client:
        session = await new_session(client)
        await server.stop(0)
        reply = asyncio.create_task(
            client.send_message(session, text="are you back", timeout=T).final_text()
        )
        await asyncio.wait_for(
            wait_for_state(client.channel, grpc.ChannelConnectivity.TRANSIENT_FAILURE), 10
        )
        assert not reply.done(), "the call is sent again with its request_id"
        await server_factory(port=port)
        assert await asyncio.wait_for(reply, 30) == "are you back"
        assert len([run async for run in await client.list_runs(session)]) == 1


@pytest.mark.slow
async def test_a_stream_resumes_across_a_server_crash_without_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "crash.db"
    # A reply slow enough to kill the server in the middle of it, and a short lease: the
    # restarted server soon finds the dead one's run and ends it.
    monkeypatch.setenv("AGENTSESSIONS_ECHO_WORD_DELAY_SECONDS", "0.2")
    monkeypatch.setenv("AGENTSESSIONS_LEASE_SECONDS", "1")
    first = await asyncio.to_thread(ServerProcess(db).start)
    second: ServerProcess | None = None
    killed_after = 0
    try:
        async with AsyncClient(first.address) as client:
            session = await new_session(client)
            stream = client.send_message(session, text=" ".join(["word"] * 40), timeout=60)
            events = []
            async for event in stream:
                events.append(event)
                if kinds(events).count("text_delta") == 2 and second is None:
                    killed_after = len(events)  # mid-reply
                    first.kill()
                    second = await asyncio.to_thread(ServerProcess(db, port=first.port).start)
            assert stream.resumptions >= 1
            assert_dense(events)
            assert kinds(events)[0] == "run_started"
            assert 0 < killed_after < len(events)
            assert kinds(events)[-1] == "run_failed"
            assert "run_failed" not in kinds(events)[:-1]
            failed = events[-1].run_failed
            assert failed.run.name == stream.run and failed.run.state == Run.FAILED
            assert ex.from_status(failed.error).reason == "RUN_INTERRUPTED"
            run = await client.get_run(stream.run)
            assert run.state == Run.FAILED
            assert run.last_event_sequence == events[-1].sequence
            # Following it again replays exactly what the resumed stream showed.
            assert await collect(client.stream_run_events(stream.run, timeout=T)) == events
    finally:
        first.__exit__(None, None, None)
        if second is not None:
            second.__exit__(None, None, None)


# Typed errors without a server


def rpc_error(code: grpc.StatusCode, reason: str) -> grpc.aio.AioRpcError:
    packed = any_pb2.Any()
    packed.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="agentsessions"))
    status = status_pb2.Status(code=code.value[0], message="no", details=[packed])
    trailing = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, "no")


@pytest.mark.parametrize(
    ("code", "reason", "expected", "parent"),
    [
        (grpc.StatusCode.OUT_OF_RANGE, "EVENTS_EXPIRED", ex.EventsExpired, ex.OutOfRange),
        (
            grpc.StatusCode.INVALID_ARGUMENT,
            "REQUEST_ID_REUSED",
            ex.RequestIdReused,
            ex.InvalidArgument,
        ),
        (grpc.StatusCode.OUT_OF_RANGE, "PAGE_TOKEN_EXPIRED", ex.OutOfRange, ex.AgentSessionsError),
    ],
)
def test_run_reasons_have_exceptions_of_their_own(code, reason, expected, parent) -> None:
    error = ex.from_rpc_error(rpc_error(code, reason))
    assert type(error) is expected and isinstance(error, parent)
    assert (error.code, error.reason) == (code, reason)


# The README's example


async def test_the_readme_runs_example_runs(address: str, tmp_path: Path) -> None:
    (code,) = [block for block in blocks("client", "python") if "stream_run_events" in block]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(AGENTSESSIONS_ADDRESS=address),
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    text = out.decode()
    assert "Tell me a story" in text and "COMPLETED" in text


async def test_busy_policy_interrupt_replaces_the_running_run(slow_client: AsyncClient) -> None:
    session = await new_session(slow_client)
    first = slow_client.send_message(session, text=WORDS * 20, timeout=T)
    await anext(aiter(first))
    second = slow_client.send_message(session, text="instead", busy_policy="interrupt", timeout=T)
    assert await second.final_text() == "instead"
    with pytest.raises(Cancelled):
        await first.final_text()
    with pytest.raises(ValueError, match="unknown busy policy"):
        slow_client.send_message(session, text="x", busy_policy="queue")


async def test_busy_policy_enqueue_waits_its_turn(slow_client: AsyncClient) -> None:
    session = await new_session(slow_client)
    first = slow_client.send_message(session, text=WORDS, timeout=T)
    await anext(aiter(first))
    second = slow_client.send_message(session, text="next", busy_policy="enqueue", timeout=T)
    queued = await anext(aiter(second))
    assert queued.run_queued.position == 1 and second.run == queued.run_queued.run
    waiting = await slow_client.get_run(second.run)
    assert (waiting.state, waiting.queue_position) == (Run.QUEUED, 1)
    assert await second.final_text() == "next"
    assert await first.final_text() == WORDS
