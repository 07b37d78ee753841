"""MessageStream: the events of one SendMessage call, with a helper for the final text."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

import grpc
from agentsessions.client.exceptions import (
    AgentSessionsError,
    Cancelled,
    from_rpc_error,
    from_status,
)
from agentsessions.v1 import events_pb2

Event = events_pb2.SendMessageResponse
_TERMINAL = ("run_completed", "run_failed", "run_cancelled")


class _Progress:
    """What the events seen so far say about the run."""

    def __init__(self) -> None:
        self.run = ""
        self.text = ""
        self.terminal: Event | None = None

    def see(self, event: Event) -> None:
        kind = event.WhichOneof("event")
        if kind == "run_started":
            self.run = event.run_started.run
        elif kind == "text_delta":
            self.text += event.text_delta.delta
        elif kind in _TERMINAL:
            self.terminal = event

    def final_text(self) -> str:
        """The run's final output, or the exception for a run that did not complete."""
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


class AsyncMessageStream:
    """The events of a run as they arrive; `async for event in stream`.

    Example:
        >>> stream = client.send_message(session, text="hi")  # doctest: +SKIP
        >>> async for event in stream:  # doctest: +SKIP
        ...     print(event.text_delta.delta, end="")
        >>> text = await client.send_message(session, text="again").final_text()  # doctest: +SKIP

    Attributes:
        run: the run's resource name, once the run has started.
        text: the assistant text received so far.
        terminal_event: the last event (completed, failed or cancelled), once received.
    """

    def __init__(self, call: Any) -> None:
        self._call = call
        self._cancelled = False
        self._progress = _Progress()
        self._events = self._read()

    @property
    def run(self) -> str:
        return self._progress.run

    @property
    def text(self) -> str:
        return self._progress.text

    @property
    def terminal_event(self) -> Event | None:
        return self._progress.terminal

    async def _read(self) -> AsyncIterator[Event]:
        try:
            async for event in self._call:
                self._progress.see(event)
                yield event
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from error
        except asyncio.CancelledError:
            # grpc.aio reports a call cancelled by cancel() as a cancelled task; only a
            # cancelled task should look like one.
            if not self._cancelled:
                raise
            raise Cancelled("the call was cancelled by the client") from None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events

    async def final_text(self) -> str:
        """Reads the rest of the stream and returns the final output of the run.

        Raises:
            AgentSessionsError: the call failed, or the run failed (the subclass for
                the run's error) or was cancelled (Cancelled).
        """
        async for _ in self._events:
            pass
        return self._progress.final_text()

    def cancel(self) -> None:
        """Cancels the call; the server cancels the run and records it as cancelled."""
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


class MessageStream:
    """The events of a run as they arrive, on a blocking channel; `for event in stream`.

    Attributes:
        run: the run's resource name, once the run has started.
        text: the assistant text received so far.
        terminal_event: the last event (completed, failed or cancelled), once received.
    """

    def __init__(self, call: Any) -> None:
        self._call = call
        self._progress = _Progress()
        self._events = self._read()

    @property
    def run(self) -> str:
        return self._progress.run

    @property
    def text(self) -> str:
        return self._progress.text

    @property
    def terminal_event(self) -> Event | None:
        return self._progress.terminal

    def _read(self) -> Iterator[Event]:
        try:
            for event in self._call:
                self._progress.see(event)
                yield event
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    def __iter__(self) -> Iterator[Event]:
        return self._events

    def final_text(self) -> str:
        """Reads the rest of the stream and returns the final output of the run.

        Raises:
            AgentSessionsError: the call failed, or the run failed or was cancelled.
        """
        for _ in self._events:
            pass
        return self._progress.final_text()

    def cancel(self) -> None:
        """Cancels the call; the server cancels the run and records it as cancelled."""
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
