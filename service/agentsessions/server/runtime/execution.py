"""One run in progress: drives `Runner.run_streamed` and turns what it reports into run events.

The run's start is recorded with its input items, in one transaction, when the SDK stores
them (`StoreSession(start=...)`), or on its own when the run ends before that. The run ends in
exactly one terminal event (completed, failed, or cancelled by the server), or, when the caller
goes away, with no event at all; every way out records the run's end through
`store.finish_run`, which finishes even while this task is being cancelled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

from agents import Agent, RunConfig, Runner
from agents.memory import SessionSettings
from agents.result import RunResultStreaming

from ..domain.errors import DomainError
from ..domain.models import ItemRecord, RunRecord, RunState, SessionStats, Usage, now_us
from ..store.base import Store
from .errors import run_error_of
from .events import (
    AgentUpdatedEvent,
    MessageCompletedEvent,
    RunCancelledEvent,
    RunCompletedEvent,
    RunEvent,
    RunFailedEvent,
    RunStartedEvent,
    TextDeltaEvent,
    ToolCalledEvent,
    ToolOutputEvent,
)
from .inputs import RunInput
from .sink import CancelRequested, Delta, Entry, Finished, ModelCalled, RunSink, Stored
from .store_session import StoreSession, settle

log = logging.getLogger("agentsessions.runtime")


def _usage_of(result: RunResultStreaming | None) -> Usage:
    if result is None:
        return Usage()
    usage = result.context_wrapper.usage
    return Usage(usage.requests, usage.input_tokens, usage.output_tokens, usage.total_tokens)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class RunExecution:
    """Starts `run` in the store and streams its events for `agent`; use `events()` once."""

    def __init__(
        self,
        store: Store,
        run: RunRecord,
        agent: Agent[Any],
        sink: RunSink,
        run_input: RunInput,
        *,
        max_turns: int,
        history_limit: int | None,
    ) -> None:
        self._store = store
        self._run = run
        self._agent = agent
        self._sink = sink
        self._input = run_input
        self._max_turns = max_turns
        self._history_limit = history_limit
        self._sequence = 0
        self._current_agent = ""
        self._result: RunResultStreaming | None = None
        self._driver: asyncio.Task[None] | None = None
        self._session = StoreSession(
            store, run.key, run_id=run.run_id, on_stored=sink.stored, start=run
        )

    def _meta(self) -> dict[str, Any]:
        self._sequence += 1
        return {"sequence": self._sequence, "key": self._run.key}

    def _start(self) -> None:
        session = self._session
        settings = SessionSettings(limit=self._history_limit) if self._history_limit else None
        config = RunConfig(tracing_disabled=True, session_settings=settings)
        try:
            self._result = Runner.run_streamed(
                self._agent,
                self._input.to_sdk(),
                session=session,
                max_turns=self._max_turns,
                run_config=config,
            )
        except Exception as exc:
            self._sink.put(Finished(exc))
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
        self._sink.put(Finished(error))

    async def events(self) -> AsyncGenerator[RunEvent, None]:
        """Starts the run, then streams its events; see the module docstring."""
        ended = False
        broken: Exception | None = None
        try:
            self._start()
            first = await self._sink.get()
            # Recorded by now with the input items, or on its own here; a start that
            # failed (say, the session was just deleted) fails the call, as no event went out.
            self._run = await self._session.ensure_started()
            inputs = first.records if isinstance(first, Stored) else []
            yield RunStartedEvent(
                **self._meta(),
                run_id=self._run.run_id,
                agent_id=self._run.last_agent_id,
                input_items=tuple(inputs),
            )
            entry: Entry | None = None if isinstance(first, Stored) else first
            while True:
                if entry is None:
                    entry = await self._sink.get()
                if isinstance(entry, Finished | CancelRequested):
                    ended = True
                    yield await self._end(entry)
                    return
                for event in self._events_of(entry):
                    yield event
                entry = None
        except Exception as exc:
            broken = exc
            raise
        finally:
            if not ended:
                # The caller went away (disconnect, deadline), or something here broke.
                await settle(self._stop())
                if await settle(self._started_for_the_record()):
                    state = RunState.FAILED if broken is not None else RunState.CANCELLED
                    await settle(self._record(state, broken))

    async def _started_for_the_record(self) -> bool:
        """Whether the run is recorded as started (now, if the SDK had not yet done so)."""
        try:
            self._run = await self._session.ensure_started()
        except Exception:
            return False  # the start failed, and that failure was the call's outcome
        return True

    def _events_of(self, entry: Stored | Delta | ModelCalled) -> list[RunEvent]:
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
        return [event for record in entry.records if (event := self._item_event(record))]

    def _item_event(self, record: ItemRecord) -> RunEvent | None:
        if record.type == "message":
            if record.role != "assistant":
                return None
            agent_id = self._current_agent or self._run.last_agent_id
            return MessageCompletedEvent(**self._meta(), item=record, agent_id=agent_id)
        item = json.loads(record.item_json)
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            return None
        if record.type.endswith("_output"):
            return ToolOutputEvent(
                **self._meta(), call_id=call_id, output=_text(item.get("output")), item=record
            )
        if record.type.endswith("_call"):
            arguments = item.get("arguments", item.get("input", {}))
            return ToolCalledEvent(
                **self._meta(),
                call_id=call_id,
                tool_name=_text(item.get("name", record.type)),
                arguments_json=arguments if isinstance(arguments, str) else _text(arguments),
                item=record,
            )
        return None

    async def _stop(self) -> None:
        """Cancels the SDK's run and waits until it wrote its last item."""
        if self._result is not None:
            self._result.cancel()
            if self._result.run_loop_task is not None:
                await asyncio.wait({self._result.run_loop_task})
        if self._driver is not None:
            self._driver.cancel()
            await asyncio.wait({self._driver})

    async def _record(
        self, state: RunState, error: BaseException | None = None
    ) -> tuple[RunRecord, SessionStats]:
        run = dataclasses.replace(
            self._run,
            state=state,
            usage=_usage_of(self._result),
            error=run_error_of(error) if error is not None else None,
            end_time_us=now_us(),
            last_agent_id=self._current_agent or self._run.last_agent_id,
        )
        try:
            stats = await self._store.finish_run(run)
        except DomainError as exc:
            # Say, the session was deleted during the run: there is nothing left to record.
            log.warning("could not record the end of run %s: %s", run.run_id, exc.reason)
            failed = dataclasses.replace(run, state=RunState.FAILED, error=run_error_of(exc))
            return failed, SessionStats()
        return run, stats

    async def _end(self, entry: Finished | CancelRequested) -> RunEvent:
        if isinstance(entry, CancelRequested):
            await settle(self._stop())
            run, stats = await settle(self._record(RunState.CANCELLED))
            if run.state == RunState.CANCELLED:
                return RunCancelledEvent(**self._meta(), run=run, reason=entry.reason)
        elif entry.error is None:
            run, stats = await settle(self._record(RunState.COMPLETED))
            if run.state == RunState.COMPLETED:
                final = _text(self._result.final_output if self._result else None)
                return RunCompletedEvent(
                    **self._meta(), run=run, final_output=final, usage=run.usage, stats=stats
                )
        else:
            run, stats = await settle(self._record(RunState.FAILED, entry.error))
        assert run.error is not None
        return RunFailedEvent(**self._meta(), run=run, error=run.error, stats=stats)
