"""Resuming a broken run stream, without a server: scripted calls that break with UNAVAILABLE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from agentsessions.client import (
    AsyncMessageStream,
    EventsMissing,
    MessageStream,
    NotFound,
    Retry,
    Unavailable,
)
from agentsessions.client._requests import send_message
from agentsessions.client._stream import StreamRequest
from agentsessions.v1 import events_pb2, session_pb2
from agentsessions.v1 import session_service_pb2 as ss

RUN = "agents/default/sessions/s/runs/r1"
FAST = Retry(initial=0.001, maximum=0.002, max_attempts=4)


def started(sequence: int = 1) -> events_pb2.SendMessageResponse:
    return events_pb2.SendMessageResponse(
        sequence=sequence, run_started=events_pb2.RunStarted(run=RUN)
    )


def delta(sequence: int, text: str) -> events_pb2.SendMessageResponse:
    return events_pb2.SendMessageResponse(
        sequence=sequence, text_delta=events_pb2.TextDelta(delta=text)
    )


def completed(sequence: int, text: str) -> events_pb2.SendMessageResponse:
    run = session_pb2.Run(name=RUN, state=session_pb2.Run.COMPLETED)
    return events_pb2.SendMessageResponse(
        sequence=sequence, run_completed=events_pb2.RunCompleted(run=run, final_output=text)
    )


class Broken(grpc.RpcError):
    """What a blocking call raises: an RpcError that is also the call."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return f"scripted {self._code.name}"

    def trailing_metadata(self) -> tuple[()]:
        return ()


# One scripted call: the events it delivers, then the code it breaks with (None: it ends).
Script = tuple[list[events_pb2.SendMessageResponse], grpc.StatusCode | None]


class FakeAioCall:
    def __init__(self, script: Script) -> None:
        self.events, self.breaks = script
        self.cancelled = False

    def __aiter__(self) -> AsyncIterator[events_pb2.SendMessageResponse]:
        return self._run()

    async def _run(self) -> AsyncIterator[events_pb2.SendMessageResponse]:
        for event in self.events:
            await asyncio.sleep(0)
            yield event
        if self.breaks is not None:
            raise grpc.aio.AioRpcError(
                self.breaks, grpc.aio.Metadata(), grpc.aio.Metadata(), "scripted"
            )

    def cancel(self) -> None:
        self.cancelled = True


class FakeSyncCall:
    def __init__(self, script: Script) -> None:
        self.events, self.breaks = script
        self.cancelled = False

    def __iter__(self) -> Iterator[events_pb2.SendMessageResponse]:
        yield from self.events
        if self.breaks is not None:
            raise Broken(self.breaks)

    def cancel(self) -> None:
        self.cancelled = True


class Calls:
    """Opens the scripted calls in turn and records each request it was given."""

    def __init__(self, *scripts: Script, sync: bool = False) -> None:
        self.scripts = list(scripts)
        self.requests: list[StreamRequest] = []
        self.timeouts: list[float | None] = []
        self.sync = sync

    def __call__(self, request: StreamRequest, timeout: float | None) -> object:
        self.requests.append(request)
        self.timeouts.append(timeout)
        script = self.scripts.pop(0)
        return FakeSyncCall(script) if self.sync else FakeAioCall(script)


UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


def hello_request(**fields) -> events_pb2.SendMessageRequest:
    return send_message("agents/default/sessions/s", "hello", None, False, 0, **fields)


async def test_a_break_after_the_run_started_resumes_with_stream_run_events() -> None:
    calls = Calls(
        ([started(), delta(2, "a "), delta(3, "b ")], UNAVAILABLE),
        # The log replays from the position asked for; an event seen twice is dropped.
        ([delta(3, "b "), delta(4, "c"), completed(5, "a b c")], None),
    )
    stream = AsyncMessageStream(calls, hello_request(), timeout=60, resume=FAST)
    sequences = [event.sequence async for event in stream]
    assert sequences == [1, 2, 3, 4, 5]
    assert await stream.final_text() == "a b c"
    assert (stream.run, stream.last_sequence, stream.text) == (RUN, 5, "a b c")
    assert stream.resumptions == 1
    resumed = calls.requests[1]
    assert resumed == ss.StreamRunEventsRequest(name=RUN, after_sequence=3)
    assert calls.timeouts[1] is not None and calls.timeouts[1] <= 60


async def test_a_break_before_the_run_started_sends_again_with_the_same_request_id() -> None:
    calls = Calls(
        ([], UNAVAILABLE),
        ([], UNAVAILABLE),
        ([started(), delta(2, "hello"), completed(3, "hello")], None),
    )
    request = hello_request()
    stream = AsyncMessageStream(calls, request, timeout=60, resume=FAST)
    assert await stream.final_text() == "hello"
    assert stream.request_id and stream.request_id == request.request_id
    assert [type(r) for r in calls.requests] == [events_pb2.SendMessageRequest] * 3
    assert all(r == request for r in calls.requests)
    assert stream.resumptions == 2


async def test_a_gap_in_the_sequences_raises_events_missing() -> None:
    calls = Calls(([started(), delta(2, "a"), delta(4, "c")], None))
    stream = AsyncMessageStream(calls, hello_request(), timeout=60, resume=FAST)
    seen = []
    with pytest.raises(EventsMissing) as caught:
        async for event in stream:
            seen.append(event.sequence)
    assert seen == [1, 2]
    assert caught.value.code == grpc.StatusCode.DATA_LOSS
    assert caught.value.reason == "EVENTS_MISSING"


async def test_a_resumed_stream_that_skips_an_event_raises_rather_than_hide_it() -> None:
    calls = Calls(
        ([started(), delta(2, "a")], UNAVAILABLE),
        ([delta(4, "c"), completed(5, "a b c")], None),
    )
    stream = AsyncMessageStream(calls, hello_request(), timeout=60, resume=FAST)
    with pytest.raises(EventsMissing):
        await stream.final_text()


async def test_other_errors_are_not_resumed() -> None:
    calls = Calls(([], grpc.StatusCode.NOT_FOUND))
    with pytest.raises(NotFound):
        await AsyncMessageStream(calls, hello_request(), timeout=60, resume=FAST).final_text()
    assert len(calls.requests) == 1


async def test_resumption_is_bounded_and_can_be_turned_off() -> None:
    calls = Calls(*[([], UNAVAILABLE)] * FAST.max_attempts)
    with pytest.raises(Unavailable):
        await AsyncMessageStream(calls, hello_request(), timeout=60, resume=FAST).final_text()
    assert len(calls.requests) == FAST.max_attempts

    calls = Calls(([started()], UNAVAILABLE))
    with pytest.raises(Unavailable):
        await AsyncMessageStream(calls, hello_request(), timeout=60, resume=None).final_text()
    assert len(calls.requests) == 1


async def test_each_event_that_arrives_starts_the_count_of_attempts_again() -> None:
    # Five breaks, each after one new event: more than max_attempts breaks in all.
    scripts: list[Script] = [([started()], UNAVAILABLE)]
    scripts += [([delta(n, f"{n} ")], UNAVAILABLE) for n in range(2, 7)]
    scripts.append(([completed(7, "done")], None))
    calls = Calls(*scripts)
    stream = AsyncMessageStream(calls, hello_request(), timeout=60, resume=FAST)
    assert await stream.final_text() == "done"
    assert stream.resumptions == 6 > FAST.max_attempts


async def test_stream_run_events_starts_after_its_position() -> None:
    calls = Calls(
        ([delta(3, "c")], UNAVAILABLE),
        ([delta(4, "d"), completed(5, "abcd")], None),
    )
    request = ss.StreamRunEventsRequest(name=RUN, after_sequence=2)
    stream = AsyncMessageStream(calls, request, timeout=None, resume=FAST)
    assert [event.sequence async for event in stream] == [3, 4, 5]
    assert stream.run == RUN and stream.request_id == ""
    assert calls.requests[1] == ss.StreamRunEventsRequest(name=RUN, after_sequence=3)
    assert calls.timeouts == [None, None]

    calls = Calls(([delta(4, "d")], None))
    with pytest.raises(EventsMissing):
        await AsyncMessageStream(calls, request, timeout=None, resume=FAST).final_text()


async def test_after_sequence_of_a_send_message_that_starts_a_new_run() -> None:
    # after_sequence only matters when joining: a new run streams from its first event.
    calls = Calls(([started(), completed(2, "new")], None))
    stream = AsyncMessageStream(calls, hello_request(after_sequence=7), timeout=60, resume=FAST)
    assert [event.sequence async for event in stream] == [1, 2]

    # Joining after 7, the first event is 8.
    calls = Calls(([delta(8, "x"), completed(9, "joined")], None))
    stream = AsyncMessageStream(calls, hello_request(after_sequence=7), timeout=60, resume=FAST)
    assert await stream.final_text() == "joined"
    assert stream.last_sequence == 9 and stream.run == RUN


def test_the_blocking_stream_resumes_the_same_way() -> None:
    calls = Calls(
        ([], UNAVAILABLE),
        ([started(), delta(2, "a ")], UNAVAILABLE),
        ([delta(2, "a "), delta(3, "b"), completed(4, "a b")], None),
        sync=True,
    )
    stream = MessageStream(calls, hello_request(), timeout=60, resume=FAST)
    assert [event.sequence for event in stream] == [1, 2, 3, 4]
    assert stream.final_text() == "a b"
    assert isinstance(calls.requests[1], events_pb2.SendMessageRequest)
    assert calls.requests[2] == ss.StreamRunEventsRequest(name=RUN, after_sequence=2)

    calls = Calls(([started(), delta(3, "b")], None), sync=True)
    with pytest.raises(EventsMissing):
        MessageStream(calls, hello_request(), timeout=60, resume=FAST).final_text()


def test_request_ids_are_generated_per_call_and_kept_when_given() -> None:
    first, second = hello_request(), hello_request()
    assert first.request_id and second.request_id and first.request_id != second.request_id
    given = hello_request(request_id="5f0c6f8e-7c2f-4b59-9a53-8e9a3d3b1f00")
    assert given.request_id == "5f0c6f8e-7c2f-4b59-9a53-8e9a3d3b1f00"
    assert hello_request(on_disconnect="continue").on_disconnect == session_pb2.Run.CONTINUE
    assert hello_request(on_disconnect=session_pb2.Run.CANCEL).on_disconnect == 1
    with pytest.raises(ValueError):
        hello_request(on_disconnect="sometimes")
