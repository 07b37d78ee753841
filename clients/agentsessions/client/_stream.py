"""MessageStream: the events of one run, as SendMessage or StreamRunEvents streams them.

A stream keeps its place in the run's event log (the run's name and the sequence of the
last event it handed on), so a call that breaks with UNAVAILABLE is resumed from there:
with StreamRunEvents once the run is known, else by sending the same SendMessage again,
whose request_id joins the run the first attempt may have started. Sequences are dense;
an event already handed on is dropped, and a skipped one raises EventsMissing.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

import grpc
from agentsessions.client._defaults import Retry
from agentsessions.client.exceptions import (
    AgentSessionsError,
    ApprovalRequired,
    Cancelled,
    EventsMissing,
    from_rpc_error,
    from_status,
)
from agentsessions.v1 import events_pb2
from agentsessions.v1 import session_service_pb2 as ss

Event = events_pb2.SendMessageResponse
StreamRequest = events_pb2.SendMessageRequest | ss.StreamRunEventsRequest
# Opens one streaming call for a request, with the seconds it may take (None: no deadline).
Opener = Callable[[StreamRequest, float | None], Any]
_TERMINAL = ("run_completed", "run_failed", "run_cancelled")


def opener(stub: Any, metadata: Sequence[tuple[str, str]]) -> Opener:
    """Opens SendMessage or StreamRunEvents calls on a SessionService stub (aio or blocking)."""

    def open_call(request: StreamRequest, timeout: float | None) -> Any:
        if isinstance(request, events_pb2.SendMessageRequest):
            return stub.SendMessage(request, timeout=timeout, metadata=metadata)
        return stub.StreamRunEvents(request, timeout=timeout, metadata=metadata)

    return open_call


def _terminal_run(event: Event) -> str:
    kind = event.WhichOneof("event")
    if kind == "run_completed":
        return event.run_completed.run.name
    if kind == "run_failed":
        return event.run_failed.run.name
    if kind == "run_cancelled":
        return event.run_cancelled.run.name
    return ""


class _Progress:
    """What the events seen so far say about the run, and where the stream stands in it."""

    def __init__(self, request: StreamRequest) -> None:
        self.request_id = ""
        self.run = ""
        if isinstance(request, events_pb2.SendMessageRequest):
            self.request_id = request.request_id
        else:
            self.run = request.name
        self.last_sequence = request.after_sequence
        # SendMessage ignores after_sequence when it starts a new run: its events begin at 1.
        self._may_start_over = isinstance(request, events_pb2.SendMessageRequest)
        self.text = ""
        self.terminal: Event | None = None
        self.approvals: list[events_pb2.ApprovalRequired] = []  # since the run last went on
        self.told = False  # final_text raised ApprovalRequired for these approvals

    def see(self, event: Event) -> bool:
        """Takes in the next event; False for one already handed on.

        Raises:
            EventsMissing: the event's sequence skips over one never received.
        """
        kind = event.WhichOneof("event")
        first = kind in ("run_started", "run_queued")
        if self._may_start_over and first and event.sequence == 1:
            self.last_sequence = 0
        self._may_start_over = False
        if event.sequence <= self.last_sequence:
            return False
        if event.sequence != self.last_sequence + 1:
            raise EventsMissing(
                f"run {self.run or '?'}: event {event.sequence} came after event "
                f"{self.last_sequence}; {event.sequence - self.last_sequence - 1} missing",
                reason="EVENTS_MISSING",
                metadata={"run": self.run, "last_sequence": str(self.last_sequence)},
            )
        self.last_sequence = event.sequence
        if kind == "approval_required":
            if not self.approvals:
                self.told = False
            self.approvals.append(event.approval_required)
            self.run = self.run or event.approval_required.run
        elif self.approvals:
            self.approvals = []  # decided: the run went on
        if kind == "run_started":
            self.run = event.run_started.run
        elif kind == "run_queued":
            self.run = event.run_queued.run
        elif kind == "text_delta":
            self.text += event.text_delta.delta
        elif kind in _TERMINAL:
            self.terminal = event
            self.run = self.run or _terminal_run(event)
        return True

    def waiting(self) -> bool:
        return bool(self.approvals) and self.terminal is None

    def untold_wait(self) -> bool:
        """The run waits for approval and final_text has not said so yet."""
        return self.waiting() and not self.told

    def final_text(self) -> str:
        """The run's final output, or the exception for a run that did not complete."""
        if self.waiting():
            self.told = True  # the next final_text reads on, once the calls are decided
            raise ApprovalRequired(self.run, self.approvals)
        event = self.terminal
        if event is None:
            raise AgentSessionsError(
                "the stream ended without a terminal event", code=grpc.StatusCode.UNKNOWN
            )
        kind = event.WhichOneof("event")
        if kind == "run_failed":
            raise from_status(event.run_failed.error)
        if kind == "run_cancelled":
            raise Cancelled(
                f"run {self.run} was cancelled: {event.run_cancelled.reason}",
                reason="RUN_CANCELLED",
            )
        return event.run_completed.final_output


class _Resumption:
    """When and how a broken call is opened again: backoff with jitter, within the deadline.

    The waits start over whenever an event arrives, so `policy.max_attempts` bounds the
    attempts in a row that bring nothing new, not the resumptions of a long run.
    """

    def __init__(self, request: StreamRequest, timeout: float | None, policy: Retry | None) -> None:
        self._request = request
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._policy = policy
        self._delays = iter(policy.delays() if policy is not None else ())
        self.count = 0

    def remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(self._deadline - time.monotonic(), 0.0)

    def progressed(self) -> None:
        if self._policy is not None:
            self._delays = iter(self._policy.delays())

    def next_delay(self, error: grpc.RpcError, progress: _Progress) -> float | None:
        """How long to wait before resuming, or None to give up with `error`."""
        call: Any = error
        if call.code() != grpc.StatusCode.UNAVAILABLE or progress.terminal is not None:
            return None
        delay = next(self._delays, None)
        if delay is None:
            return None
        delay = random.uniform(delay / 2, delay)
        remaining = self.remaining()
        if remaining is not None and remaining <= delay:
            return None
        return delay

    def next_request(self, progress: _Progress) -> StreamRequest:
        """StreamRunEvents after the last event once the run is known, else SendMessage again."""
        self.count += 1
        after = progress.last_sequence
        if progress.run or not isinstance(self._request, events_pb2.SendMessageRequest):
            return ss.StreamRunEventsRequest(name=progress.run, after_sequence=after)
        again = events_pb2.SendMessageRequest()
        again.CopyFrom(self._request)
        again.after_sequence = after
        return again


class _StreamBase:
    """What both streams share: the request, the progress and the resumption schedule."""

    def __init__(
        self, open_call: Opener, request: StreamRequest, timeout: float | None, resume: Retry | None
    ) -> None:
        self._open = open_call
        self._progress = _Progress(request)
        self._resumption = _Resumption(request, timeout, resume)
        self._cancelled = False
        self._call = open_call(request, self._resumption.remaining())

    @property
    def run(self) -> str:
        """The run's resource name, once known ("" before run_started on SendMessage)."""
        return self._progress.run

    @property
    def request_id(self) -> str:
        """The SendMessage's request_id (generated when not given); "" for StreamRunEvents."""
        return self._progress.request_id

    @property
    def last_sequence(self) -> int:
        """The sequence of the last event handed on (the starting position before any)."""
        return self._progress.last_sequence

    @property
    def text(self) -> str:
        """The assistant text received so far."""
        return self._progress.text

    @property
    def terminal_event(self) -> Event | None:
        """The last event (completed, failed or cancelled), once received."""
        return self._progress.terminal

    @property
    def waiting_calls(self) -> list[events_pb2.ApprovalRequired]:
        """The calls the run stopped for, announced since it last went on; empty while it
        is not waiting for approval."""
        return list(self._progress.approvals) if self._progress.waiting() else []

    @property
    def resumptions(self) -> int:
        """How many times the stream was opened again after a broken call."""
        return self._resumption.count

    def _take(self, event: Event) -> bool:
        """Whether to hand `event` on; a gap ends the call and raises EventsMissing."""
        try:
            fresh = self._progress.see(event)
        except EventsMissing:
            self._call.cancel()
            raise
        if fresh:
            self._resumption.progressed()
        return fresh

    def _reopen(self) -> None:
        if self._cancelled:
            raise Cancelled("the call was cancelled by the client")
        request = self._resumption.next_request(self._progress)
        self._call = self._open(request, self._resumption.remaining())


class AsyncMessageStream(_StreamBase):
    """The events of a run as they arrive; `async for event in stream`.

    SendMessage and StreamRunEvents both return one. A call that breaks with
    UNAVAILABLE is resumed from the last event received (see `METHOD_DEFAULTS`,
    `resume`), never handing on an event twice or skipping one.

    Example:
        >>> stream = client.send_message(session, text="hi")  # doctest: +SKIP
        >>> async for event in stream:  # doctest: +SKIP
        ...     print(event.text_delta.delta, end="")
        >>> text = await client.send_message(session, text="again").final_text()  # doctest: +SKIP

    Attributes:
        run: the run's resource name, once the run has started.
        request_id: the SendMessage's request_id; "" for StreamRunEvents.
        last_sequence: the sequence of the last event received.
        text: the assistant text received so far.
        terminal_event: the last event (completed, failed or cancelled), once received.
        resumptions: how many times a broken call was resumed.
    """

    def __init__(
        self,
        open_call: Opener,
        request: StreamRequest,
        *,
        timeout: float | None,
        resume: Retry | None,
    ) -> None:
        super().__init__(open_call, request, timeout, resume)
        self._events = self._read()

    async def _read(self) -> AsyncIterator[Event]:
        while True:
            try:
                async for event in self._call:
                    if self._take(event):
                        yield event
                return
            except grpc.aio.AioRpcError as error:
                delay = self._resumption.next_delay(error, self._progress)
                if delay is None or self._cancelled:
                    raise from_rpc_error(error) from error
            except asyncio.CancelledError:
                # grpc.aio reports a call cancelled by cancel() as a cancelled task; only a
                # cancelled task should look like one.
                if not self._cancelled:
                    raise
                raise Cancelled("the call was cancelled by the client") from None
            await asyncio.sleep(delay)
            self._reopen()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events

    async def final_text(self) -> str:
        """Reads the rest of the stream and returns the final output of the run.

        Raises:
            ApprovalRequired: the run stopped for tool calls that wait for a decision; the
                stream can be read on once they are decided.
            AgentSessionsError: the call failed, or the run failed (the subclass for
                the run's error) or was cancelled (Cancelled).
        """
        if not self._progress.untold_wait():
            async for _ in self._events:
                if self._progress.waiting():
                    break
        return self._progress.final_text()

    def cancel(self) -> None:
        """Cancels the call. The server cancels the run when this SendMessage started it
        with on_disconnect CANCEL (the default); otherwise the run goes on (`cancel_run`)."""
        self._cancelled = True
        self._call.cancel()

    async def __aenter__(self) -> AsyncMessageStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress.terminal is None:
            self.cancel()


class MessageStream(_StreamBase):
    """The events of a run as they arrive, on a blocking channel; `for event in stream`.

    The same resumption as `AsyncMessageStream`.

    Attributes:
        run: the run's resource name, once the run has started.
        request_id: the SendMessage's request_id; "" for StreamRunEvents.
        last_sequence: the sequence of the last event received.
        text: the assistant text received so far.
        terminal_event: the last event (completed, failed or cancelled), once received.
        resumptions: how many times a broken call was resumed.
    """

    def __init__(
        self,
        open_call: Opener,
        request: StreamRequest,
        *,
        timeout: float | None,
        resume: Retry | None,
    ) -> None:
        super().__init__(open_call, request, timeout, resume)
        self._events = self._read()

    def _read(self) -> Iterator[Event]:
        while True:
            try:
                for event in self._call:
                    if self._take(event):
                        yield event
                return
            except grpc.RpcError as error:
                delay = self._resumption.next_delay(error, self._progress)
                if delay is None or self._cancelled:
                    raise from_rpc_error(error) from error
            time.sleep(delay)
            self._reopen()

    def __iter__(self) -> Iterator[Event]:
        return self._events

    def final_text(self) -> str:
        """Reads the rest of the stream and returns the final output of the run.

        Raises:
            ApprovalRequired: the run stopped for tool calls that wait for a decision.
            AgentSessionsError: the call failed, or the run failed or was cancelled.
        """
        if not self._progress.untold_wait():
            for _ in self._events:
                if self._progress.waiting():
                    break
        return self._progress.final_text()

    def cancel(self) -> None:
        """Cancels the call. The server cancels the run when this SendMessage started it
        with on_disconnect CANCEL (the default); otherwise the run goes on (`cancel_run`)."""
        self._cancelled = True
        self._call.cancel()

    def __enter__(self) -> MessageStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress.terminal is None:
            self.cancel()
