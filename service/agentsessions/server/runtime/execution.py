"""One run in progress: drives `Runner.run_streamed` and writes what it reports to the run's log.

The run was recorded RUNNING, holding its session's lease, before this starts. Each SDK report
becomes an event with the run's next sequence, appended to the run's `EventLog`; nothing waits
for a reader. Items the SDK stores pass through the run as well: they are written in one
transaction with the events not yet written and the events that report them (the run's first
event for its input, a message, a tool call), which saves a commit per item write and lets no
reader see an item's event without the item. The run ends exactly once, through
`store.finish_run`, which records the end state, appends the terminal event and frees the
session in one transaction: completed, failed, or cancelled on request (IMMEDIATE, or
AFTER_TURN: the SDK finishes the current turn first). `execute()` runs in a task of its own that
nothing cancels; it never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from typing import Any

from agents import Agent, RunConfig, Runner
from agents.memory import SessionSettings
from agents.result import RunResultStreaming
from agents.run_state import RunState as SdkRunState

from ..domain.errors import DomainError
from ..domain.models import (
    CancelMode,
    ItemRecord,
    Lease,
    LoggedEvent,
    RunRecord,
    RunState,
    Usage,
    now_us,
)
from ..store.base import Store
from .approvals import PausedInput, approval_of
from .errors import run_error_of
from .events import (
    AgentUpdatedEvent,
    ApprovalRequiredEvent,
    RunEvent,
    RunStartedEvent,
    TextDeltaEvent,
    item_event,
    text_of,
)
from .history import history_window
from .inputs import RunInput
from .run_log import Encoder, EventLog, terminal_encoder
from .sink import CancelRequested, Delta, Entry, Finished, ModelCalled, RunSink, WriteItems
from .store_session import StoreSession

log = logging.getLogger("agentsessions.runtime")

# Storage failures that may pass (a full disk gets room): a run's end is recorded once they do.
RETRIED_STORAGE_ERRORS = frozenset({"STORAGE_FULL", "STORAGE_ERROR", "STORE_BUSY"})
RETRY_END_FIRST_SECONDS = 0.05
RETRY_END_MAX_SECONDS = 1.0


def _usage_of(result: RunResultStreaming | None) -> Usage:
    if result is None:
        return Usage()
    usage = result.context_wrapper.usage
    return Usage(usage.requests, usage.input_tokens, usage.output_tokens, usage.total_tokens)


@dataclasses.dataclass(frozen=True, slots=True)
class UnstartableInput:
    """A run that took its session but cannot start (its agent changed or vanished while it
    waited): executing it ends it FAILED with `error`, so its lease is never left held."""

    error: Exception


@dataclasses.dataclass(frozen=True, slots=True)
class RunPlan:
    """What a run executes: the agent, its input and limits."""

    agent: Agent[Any]
    run_input: RunInput | PausedInput | UnstartableInput
    max_turns: int
    history_max_items: int  # the agent's policy; 0: the whole history
    retention_us: int  # how long the run's events stay after it ends
    approval_timeout_us: int  # how long a tool call may wait for approval

    async def sdk_input(self) -> str | list[Any] | SdkRunState[Any, Agent[Any]]:
        if isinstance(self.run_input, UnstartableInput):
            raise self.run_input.error
        if isinstance(self.run_input, PausedInput):
            return await self.run_input.to_sdk(self.agent)
        return self.run_input.to_sdk()


class RunExecution:
    """Executes `run` (recorded, holding `lease`) by `plan`; call `execute()` once."""

    def __init__(
        self,
        store: Store,
        run: RunRecord,
        lease: Lease,
        plan: RunPlan,
        sink: RunSink,
        events: EventLog,
        encode: Encoder,
    ) -> None:
        self.run = run
        self.sink = sink
        self._store = store
        self._lease = lease
        self._plan = plan
        self._log = events
        self._encode = encode
        # A run that waited (for approval, or in its session's queue) goes on after its
        # events so far; one that waited for approval has started and goes on with its agent.
        self._sequence = run.last_sequence
        resumed = isinstance(plan.run_input, PausedInput)
        self._current_agent = run.last_agent_id if resumed else ""
        self._after_turn: CancelRequested | None = None
        self._result: RunResultStreaming | None = None
        self._driver: asyncio.Task[None] | None = None
        self._started = resumed  # the run's first event is written
        # The end as it is to be recorded, while the storage refuses it (see finish_now).
        self._ending: tuple[RunRecord, list[LoggedEvent], str] | None = None
        self._ending_lock = asyncio.Lock()
        self._ending_retry = asyncio.Event()
        self._told_followers = False
        self.queued_after = 0  # runs queued on the session when this one ended
        self._session = StoreSession(
            store, run.key, run_id=run.run_id, fence=lease, write=sink.write_items
        )

    def request_cancel(self, mode: CancelMode, reason: str) -> None:
        self.sink.put(CancelRequested(mode, reason))

    async def execute(self) -> None:
        try:
            try:
                await self._execute()
            except Exception as exc:
                await self._stop()
                if not (isinstance(exc, DomainError) and exc.reason == "LEASE_LOST"):
                    await self._finish(RunState.FAILED, error=exc)
        except Exception:
            # The store itself failed: the lease expires and recovery ends the run.
            log.exception("run %s could not be ended", self.run.run_id)

    def _meta(self) -> dict[str, Any]:
        self._sequence += 1
        return {"sequence": self._sequence, "key": self.run.key}

    def _start(self, limit: int | None, sdk_input: Any) -> None:
        plan = self._plan
        config = RunConfig(
            tracing_disabled=True,
            session_settings=SessionSettings(limit=limit) if limit else None,
        )
        try:
            self._result = Runner.run_streamed(
                plan.agent,
                sdk_input,
                session=self._session,
                max_turns=plan.max_turns,
                run_config=config,
            )
        except Exception as exc:
            self.sink.put(Finished(exc))
            return
        self._driver = asyncio.create_task(self._drive(self._result))

    async def _drive(self, result: RunResultStreaming) -> None:
        """Consumes the SDK's stream (content arrives through the sink) and reports the end."""
        error: BaseException | None = None
        try:
            async for _ in result.stream_events():
                pass
            error = result.run_loop_exception
        except Exception as exc:
            error = exc
        task = result.run_loop_task
        if error is None and task is not None and task.cancelled():
            # Not by us (that path never reads Finished): do not report it as completed.
            error = RuntimeError("the SDK's run task was cancelled")
        self.sink.put(Finished(error))

    async def _execute(self) -> None:
        # Read once the run holds the session, and inside the run: a failure here ends it.
        limit = await history_window(self._store, self.run.key, self._plan.history_max_items)
        self._start(limit, await self._plan.sdk_input())
        while True:
            entry = await self.sink.get()
            if isinstance(entry, CancelRequested) and entry.mode == CancelMode.AFTER_TURN:
                if self._result is not None and self._after_turn is None:
                    self._after_turn = entry
                    self._result.cancel(mode="after_turn")
                continue
            if isinstance(entry, WriteItems):
                await self._write_items(entry)
                continue
            if not self._started:
                self._started = True
                await self._log.append(self._run_started(self._meta()["sequence"], []))
            if isinstance(entry, CancelRequested):
                await self._stop()
                await self._finish(RunState.CANCELLED, cancel=entry)
                return
            if isinstance(entry, Finished):
                await self._end(entry)
                return
            for event in self._events_of(entry):
                await self._log.append(event)

    def _run_started(self, sequence: int, inputs: list[ItemRecord]) -> RunStartedEvent:
        return RunStartedEvent(
            sequence=sequence,
            key=self.run.key,
            run_id=self.run.run_id,
            agent_id=self.run.last_agent_id,
            input_items=tuple(inputs),
        )

    async def _write_items(self, request: WriteItems) -> None:
        """Stores the SDK's items with their events (the run's first event, when these are its
        input) in one transaction, and hands the SDK the records or the error."""
        starting, self._started = not self._started, True
        first = self._sequence + 1
        agent_id = self._current_agent or self.run.last_agent_id

        def encode(records: list[ItemRecord]) -> list[LoggedEvent]:
            # Runs in the store's transaction: it only reads what the run does not change.
            events: list[RunEvent] = []
            if starting:
                events.append(self._run_started(first, records))
            for record in records:
                event = item_event(first + len(events), self.run.key, record, agent_id)
                if event is not None:
                    events.append(event)
            return [LoggedEvent(e.sequence, False, self._encode(e)) for e in events]

        try:
            records, events = await self._log.store_items(request.items, encode)
        except Exception as exc:
            if not request.done.done():
                request.done.set_exception(exc)
            return
        if events:
            self._sequence = max(self._sequence, events[-1].sequence)
        if not request.done.done():
            request.done.set_result(records)

    async def _end(self, entry: Finished) -> None:
        if entry.error is not None:
            await self._finish(RunState.FAILED, error=entry.error)
            return
        if self._result is not None and self._result.interruptions and self._after_turn is None:
            await self._pause(self._result)
            return
        final = self._result.final_output if self._result is not None else None
        if self._after_turn is not None and final is None:
            await self._finish(RunState.CANCELLED, cancel=self._after_turn)
        else:
            await self._finish(RunState.COMPLETED, final_output=text_of(final))

    def _events_of(self, entry: Entry) -> list[RunEvent]:
        if isinstance(entry, Delta):
            return [TextDeltaEvent(**self._meta(), delta=entry.text, agent_id=entry.agent_id)]
        if isinstance(entry, ModelCalled):
            if entry.agent_id == self._current_agent:
                return []
            previous, self._current_agent = self._current_agent, entry.agent_id
            update = AgentUpdatedEvent(
                **self._meta(), from_agent_id=previous, to_agent_id=entry.agent_id
            )
            return [update]
        return []

    async def _stop(self) -> None:
        """Cancels the SDK's run and waits until it ended, storing the items it still asks
        to store (a write it had started must finish, or the run could not know its turn)."""
        if self._result is not None:
            self._result.cancel()
            task = self._result.run_loop_task
            while task is not None and not task.done():
                entry = asyncio.ensure_future(self.sink.get())
                await asyncio.wait({task, entry}, return_when=asyncio.FIRST_COMPLETED)
                if not entry.done():
                    entry.cancel()
                    await asyncio.wait({entry})
                if entry.cancelled():
                    continue
                if isinstance(request := entry.result(), WriteItems):
                    await self._write_items(request)
        if self._driver is not None:
            self._driver.cancel()
            await asyncio.wait({self._driver})

    async def _pause(self, result: RunResultStreaming) -> None:
        """Stops before tools that need approval: records the calls and the SDK's state, and
        announces each call; the session stays held until the calls are decided."""
        approvals = tuple(approval_of(item) for item in result.interruptions)
        expire = now_us() + self._plan.approval_timeout_us
        # The state holds the whole history: serialized off the event loop.
        state_json = result.to_state().to_json()
        state = (await asyncio.to_thread(json.dumps, state_json, ensure_ascii=False)).encode()
        try:
            rest = await self._log.close()
        except Exception as exc:
            await self._finish(RunState.FAILED, error=exc)
            return
        announced = [
            ApprovalRequiredEvent(
                **self._meta(),
                run_id=self.run.run_id,
                call_id=a.call_id,
                tool_name=a.tool_name,
                arguments_json=a.arguments_json,
                expire_time_us=expire,
            )
            for a in approvals
        ]
        events = [*rest, *(LoggedEvent(e.sequence, False, self._encode(e)) for e in announced)]
        waiting = dataclasses.replace(
            self.run,
            approvals=approvals,
            approval_expire_time_us=expire,
            last_agent_id=self._current_agent or self.run.last_agent_id,
        )
        try:
            self.run = await self._store.pause_run(
                waiting, lease=self._lease, run_state=state, events=events
            )
        except DomainError as exc:
            if exc.reason != "LEASE_LOST":  # else another process ended it: nothing to record
                await self._finish(RunState.FAILED, error=exc)
            return
        self._log.published(events)

    async def _finish(
        self,
        state: RunState,
        *,
        error: BaseException | None = None,
        cancel: CancelRequested | None = None,
        final_output: str = "",
    ) -> None:
        """Records the end: the log's pending events, then the end state and terminal event."""
        rest: list[LoggedEvent] = []
        try:
            rest = await self._log.close()
        except DomainError as exc:
            if exc.reason == "LEASE_LOST":
                return  # another process ended this run (it looked abandoned)
            state, error = RunState.FAILED, exc
        except Exception as exc:
            state, error = RunState.FAILED, exc
        end = now_us()
        run = dataclasses.replace(
            self.run,
            state=state,
            usage=_usage_of(self._result),
            error=run_error_of(error) if error is not None else None,
            end_time_us=end,
            last_agent_id=self._current_agent or self.run.last_agent_id,
            cancel_mode=cancel.mode if cancel is not None else None,
            cancel_reason=cancel.reason if cancel is not None else "",
            events_expire_time_us=end + self._plan.retention_us,
        )
        self._ending = (run, rest, final_output)
        delay = RETRY_END_FIRST_SECONDS
        while not await self.finish_now():
            if self._ending is None:
                return  # the end cannot be recorded, and never will be
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._ending_retry.wait()
            self._ending_retry.clear()
            delay = min(delay * 2, RETRY_END_MAX_SECONDS)

    async def finish_now(self) -> bool:
        """Tries to record the run's end, which the storage refused before; whether the run
        has ended. The session stays held until it has: its next message retries at once."""
        async with self._ending_lock:
            if self._ending is None:
                return self.run.finished
            run, rest, final_output = self._ending
            try:
                finished = await self._store.finish_run(
                    run,
                    lease=self._lease,
                    terminal=terminal_encoder(self._encode, final_output),
                    events=rest,
                )
            except DomainError as exc:
                if exc.reason in RETRIED_STORAGE_ERRORS:
                    if not self._told_followers:
                        # Followers end with the storage's error now, not at their deadline.
                        self._told_followers = True
                        self._log.failed(exc)
                        log.warning("run %s could not end yet: %s", run.run_id, exc.reason)
                    return False
                # The session was deleted, or the run was ended elsewhere: nothing to record.
                log.warning("could not record the end of run %s: %s", run.run_id, exc.reason)
                self._ending = None
                return False
            self._ending = None
        self.run = finished.run
        self.queued_after = finished.queued
        self._log.published([*rest, finished.terminal])
        return True

    def retry_end(self) -> None:
        """Makes a run whose end waits for the storage try again now."""
        self._ending_retry.set()
