"""`AgentRunner`: the run manager. Runs are resources it executes; callers subscribe to them.

    runner = AgentRunner(store, ModelRegistry(), ToolRegistry.with_entry_points(), encode=...)
    await runner.open()
    handle = await runner.start(key, text_input("Hello"), SendOptions())
    async for event in runner.follow(key, handle.run.run_id, after_sequence=0):
        ...  # LoggedEvent: sequence, terminal, body (the event as `encode` made it)

`start` checks the request, takes the session's lease in the store (or joins the run of the
same `request_id`), records the run and starts it in a task of its own; no caller's
cancellation reaches that task. A run is stopped only by a request (`cancel`, `cancel_soon`),
which it honours by ending itself (execution.py); that and `settle` for the SDK's own task are
the only cancellation paths. Errors before the run starts (unknown session or agent, a busy
session, a model the server cannot reach for lack of a key) are raised as domain errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Sequence
from typing import Any

from agents import Agent, Model, set_tracing_disabled

from ..domain.errors import DeadlineExceeded, DomainError, InvalidArgument, Unavailable
from ..domain.models import (
    AgentRecord,
    ApprovalDecision,
    BusyPolicy,
    CancelMode,
    CompactedHistory,
    DisconnectPolicy,
    Lease,
    LoggedEvent,
    Promoted,
    RunRecord,
    RunState,
    SessionKey,
    now_us,
)
from ..domain.names import new_id, run_name, session_name
from ..domain.resource_errors import agent_not_found, run_not_found, session_not_found
from ..store.base import Store
from . import owners
from .agent_graph import build_agent, load_reachable
from .approvals import PausedInput
from .compaction import compact_session
from .execution import RunExecution, RunPlan, UnstartableInput
from .inputs import DEFAULT_MAX_TURNS, RunInput
from .models import ModelRegistry
from .queue import RunQueue, request_of
from .recovery import Background, Recovery
from .requests import RunHandle, SendOptions, busy_error, request_hash
from .run_log import SAFETY_WAIT_SECONDS, Encoder, EventLog, RunSignals, follow
from .sink import ObservedModel, RunSink
from .tools import ToolRegistry

log = logging.getLogger("agentsessions.runtime")

STOPPING_REASON = "the server is stopping"
CANCEL_RUN_REASON = "cancelled by CancelRun"
DISCONNECTED_REASON = "the caller disconnected"
INTERRUPTED_REASON = "interrupted by a new message"

# How often this process looks for cancel requests made through other processes.
CANCEL_POLL_SECONDS = 0.05


def _deadline(seconds: float | None) -> float | None:
    return None if seconds is None else asyncio.get_running_loop().time() + seconds


def _forget(task: asyncio.Future[Any]) -> None:
    """Done callback of the runner's own tasks: a failure is logged, never left unread."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("background work failed: %s", task.exception())


class AgentRunner:
    """Runs agents on sessions; also the catalog that checks agents' models and tools."""

    def __init__(
        self,
        store: Store,
        models: ModelRegistry | None = None,
        tools: ToolRegistry | None = None,
        *,
        encode: Encoder,
        lease_seconds: float = 10.0,
        retention_seconds: float = 3600.0,
        approval_timeout_seconds: float = 86400.0,
        max_queued_runs: int = 16,
    ) -> None:
        # The SDK would otherwise export traces to OpenAI: no network unless a model needs it.
        set_tracing_disabled(True)
        self.store = store
        self.models = models or ModelRegistry()
        self.tools = tools or ToolRegistry()
        self.owner = owners.this_owner()
        self._encode = encode
        self._lease_us = int(lease_seconds * 1e6)
        self._retention_us = int(retention_seconds * 1e6)
        self._approval_timeout_us = int(approval_timeout_seconds * 1e6)
        self._signals = RunSignals(store)
        self._recovery = Recovery(
            store, self._signals, encode, owner=self.owner, retention_us=self._retention_us
        )
        self._queue = RunQueue(
            store,
            self._signals,
            encode,
            owner=self.owner,
            lease_us=self._lease_us,
            retention_us=self._retention_us,
            max_queued=max_queued_runs,
            start=self._start_promoted,
        )
        self._background = Background(
            store,
            self._recovery,
            owner=self.owner,
            lease_us=self._lease_us,
            after_sweep=self._promote_queues,
        )
        self._active: dict[str, RunExecution] = {}  # by run name
        self._tasks: set[asyncio.Future[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._cancel_watch: asyncio.Task[None] | None = None

    # The AgentCatalog the domain checks agents against ------------------------

    def validate_model(self, model: str) -> None:
        self.models.validate_model(model)

    def validate_tools(self, tools: Collection[str]) -> None:
        self.tools.validate_tools(tools)

    # Lifecycle ----------------------------------------------------------------

    async def open(self) -> None:
        """Ends what dead processes left behind, then starts the background work."""
        await self._recovery.sweep()
        self._background.start()
        self._cancel_watch = asyncio.create_task(self._watch_cancel_requests())

    @property
    def active_runs(self) -> int:
        return len(self._active)

    # Runs ---------------------------------------------------------------------

    async def start(self, key: SessionKey, run_input: RunInput, options: SendOptions) -> RunHandle:
        """Starts a run of the session's agent on `run_input`, or joins the run of the same
        `request_id`. Raises NotFound, InvalidArgument (REQUEST_ID_REUSED), Aborted
        (SESSION_BUSY), DeadlineExceeded (SESSION_BUSY) after `wait_timeout`, Unavailable
        (SERVER_STOPPING)."""
        self._refuse_when_closing()
        if await self.store.get_session(key) is None:
            raise session_not_found(key)
        root = await self.store.get_agent(key.tenant, key.agent_id)
        if root is None:
            raise agent_not_found(key.agent_id)
        sink = RunSink()
        agent = await self._build(root, sink)
        run = RunRecord(
            key=key,
            run_id=new_id(),
            state=RunState.RUNNING,
            start_time_us=now_us(),
            last_agent_id=root.agent_id,
            request_id=options.request_id,
            request_hash=request_hash(run_input, options.max_turns),
            on_disconnect=options.on_disconnect,
            owner=self.owner,
        )
        if options.when_busy == BusyPolicy.ENQUEUE:
            queued = await self._queue.enqueue(run, run_input, options.max_turns)
            assert queued.run is not None
            if queued.joined:
                return self._joined(queued.run, run)
            if queued.queued:
                return RunHandle(queued.run, joined=False)
            assert queued.lease is not None
            started: RunHandle | tuple[RunRecord, Lease] = (queued.run, queued.lease)
        else:
            started = await self._take_session(run, options)
        if isinstance(started, RunHandle):
            return started
        recorded, lease = started
        plan = RunPlan(
            agent,
            run_input,
            options.max_turns,
            root.history_max_items,
            self._retention_us,
            root.approval_timeout_us or self._approval_timeout_us,
        )
        self._launch(recorded, lease, plan, sink)
        return RunHandle(recorded, joined=False)

    async def _build(self, root: AgentRecord, sink: RunSink) -> Agent[Any]:
        def observe(model: Model, agent_id: str) -> Model:
            return ObservedModel(model, agent_id, sink)

        records = await load_reachable(self.store, root)
        return build_agent(
            records, root.agent_id, models=self.models, tools=self.tools, observe=observe
        )

    async def resolve_approvals(
        self,
        key: SessionKey,
        run_id: str,
        decisions: Sequence[ApprovalDecision],
        *,
        request_id: str,
        decided_by: str,
    ) -> RunRecord:
        """Records decisions on a run that waits for approval (store.decide_approvals); when
        none waits any more, the run goes on here, from the state it stopped in."""
        self._refuse_when_closing()
        resumed = await self.store.decide_approvals(
            key,
            run_id,
            decisions,
            request_id=request_id,
            decided_by=decided_by,
            owner=self.owner,
            lease_expire_time_us=now_us() + self._lease_us,
        )
        if resumed.lease is None or resumed.run_state is None:
            return resumed.run
        run, sink = resumed.run, RunSink()
        agent: Agent[Any] = Agent(name=key.agent_id)
        run_input: PausedInput | UnstartableInput
        timeout_us, max_turns = self._approval_timeout_us, DEFAULT_MAX_TURNS
        # The decision is committed and this process holds the lease: whatever fails now
        # ends the run (FAILED, with the reason) rather than failing the call.
        try:
            run_input = await PausedInput.load(resumed.run_state, run.approvals)
            max_turns = run_input.max_turns
            root = await self._stored_agent(key)
            agent = await self._build(root, sink)
            timeout_us = root.approval_timeout_us or timeout_us
        except Exception as exc:
            run_input = UnstartableInput(exc)
        plan = RunPlan(agent, run_input, max_turns, 0, self._retention_us, timeout_us)
        self._launch(run, resumed.lease, plan, sink)
        return run

    async def _stored_agent(self, key: SessionKey) -> AgentRecord:
        root = await self.store.get_agent(key.tenant, key.agent_id)
        if root is None:
            raise agent_not_found(key.agent_id)
        return root

    async def _take_session(
        self, run: RunRecord, options: SendOptions
    ) -> RunHandle | tuple[RunRecord, Lease]:
        deadline = _deadline(options.wait_timeout)
        while True:
            ticket = self._signals.ticket(session_name(run.key))
            # Started when it takes the session, not when it began to wait for it.
            run = dataclasses.replace(run, start_time_us=now_us())
            result = await self.store.start_run(run, lease_expire_time_us=now_us() + self._lease_us)
            if result.joined and result.run is not None:
                return self._joined(result.run, run)
            if result.run is not None and result.lease is not None:
                return result.run, result.lease
            assert result.busy is not None
            policy = options.when_busy
            if policy == BusyPolicy.INTERRUPT and result.busy.run_id:
                await self._interrupt(result.busy)
            wait = policy in (BusyPolicy.WAIT, BusyPolicy.INTERRUPT)
            await self._until_free(result.busy, ticket, deadline, wait=wait)

    @staticmethod
    def _joined(existing: RunRecord, asked: RunRecord) -> RunHandle:
        """The run of the request_id `asked` carries, if `asked` repeats its request."""
        if existing.request_hash != asked.request_hash:
            raise InvalidArgument.field(
                "request_id",
                "was used for another request with a different input",
                reason="REQUEST_ID_REUSED",
            )
        return RunHandle(existing, joined=True)

    async def _start_promoted(self, promoted: Promoted) -> None:
        """Executes a queued run that has just taken its session, here."""
        run, sink = promoted.run, RunSink()
        agent: Agent[Any] = Agent(name=run.key.agent_id)
        plan_input: RunInput | UnstartableInput
        max_turns, history, timeout_us = DEFAULT_MAX_TURNS, 0, self._approval_timeout_us
        # It holds the lease now: whatever fails ends the run FAILED, never leaves it held.
        try:
            plan_input, max_turns = request_of(promoted.queued_input)
            root = await self._stored_agent(run.key)
            agent = await self._build(root, sink)
            history = root.history_max_items
            timeout_us = root.approval_timeout_us or timeout_us
        except Exception as exc:
            plan_input = UnstartableInput(exc)
        plan = RunPlan(
            agent, plan_input, max_turns or DEFAULT_MAX_TURNS, history, self._retention_us,
            timeout_us,
        )  # fmt: skip
        self._launch(run, promoted.lease, plan, sink)

    async def _promote_queues(self) -> None:
        if not self._closing:
            await self._queue.promote_free()

    async def _interrupt(self, holder: Lease) -> None:
        """Asks the run holding the session to stop now, for a message that replaces it."""
        with contextlib.suppress(DomainError):  # it ended meanwhile, or its session went
            await self.cancel(
                holder.key,
                holder.run_id,
                CancelMode.IMMEDIATE,
                reason=INTERRUPTED_REASON,
                wait_seconds=0,
            )

    async def _until_free(
        self, holder: Lease, ticket: tuple[int, int], deadline: float | None, *, wait: bool
    ) -> None:
        """The session is held by `holder`: returns when it is worth trying again (the holder
        was abandoned and is ended now, or the session may have been freed); raises the busy
        error when the caller does not wait or its deadline has passed."""
        if await self._recovery.recover(holder):
            return
        ending = self._active.get(run_name(holder.key, holder.run_id)) if holder.run_id else None
        if ending is not None and await ending.finish_now():
            return  # a run of this process whose end waited for the storage has ended now
        if not wait:
            raise busy_error(holder.key, holder)
        remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
        if remaining is not None and remaining <= 0:
            raise busy_error(holder.key, holder, DeadlineExceeded)
        self._refuse_when_closing()
        seconds = SAFETY_WAIT_SECONDS if remaining is None else min(remaining, SAFETY_WAIT_SECONDS)
        await self._signals.wait(session_name(holder.key), ticket, seconds)

    def _launch(self, run: RunRecord, lease: Lease, plan: RunPlan, sink: RunSink) -> None:
        events = EventLog(self.store, lease, self._signals, self._encode)
        execution = RunExecution(self.store, run, lease, plan, sink, events, self._encode)
        name = run_name(run.key, run.run_id)
        self._active[name] = execution
        self._idle.clear()
        self._signals.add_local(name)

        async def execute() -> None:
            try:
                await execution.execute()
            finally:
                self._active.pop(name, None)
                self._signals.remove_local(name)
                self._signals.publish(session_name(execution.run.key))
                if not self._active:
                    self._idle.set()
            if execution.queued_after and not self._closing:
                await self._queue.promote(execution.run.key)  # the next queued run

        task = asyncio.create_task(execute(), name=f"run {execution.run.run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_forget)

    def follow(
        self, key: SessionKey, run_id: str, after_sequence: int = 0
    ) -> AsyncGenerator[LoggedEvent, None]:
        """The run's events after `after_sequence` through its terminal event (run_log.follow)."""
        fresh = after_sequence == 0 and self._signals.is_fresh(run_name(key, run_id))
        return follow(self.store, self._signals, key, run_id, after_sequence, fresh=fresh)

    def cancel_soon(self, key: SessionKey, run_id: str, mode: CancelMode, reason: str) -> None:
        """Asks a run to stop without waiting: for a caller that is itself going away."""
        execution = self._active.get(run_name(key, run_id))
        if execution is not None:
            execution.request_cancel(mode, reason)
            return
        task = asyncio.ensure_future(self._cancel_elsewhere(key, run_id, mode, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_forget)

    async def _cancel_elsewhere(
        self, key: SessionKey, run_id: str, mode: CancelMode, reason: str
    ) -> None:
        """A run this process does not execute: its process hears of the request; a queued
        run ends now (a run waiting for approval stays: nothing executes it for nobody)."""
        run = await self.store.request_cancel(key, run_id, mode, reason)
        if run is not None and run.state == RunState.QUEUED:
            await self._queue.cancel(run, reason)

    def caller_gone(self, run: RunRecord) -> None:
        """The call that started `run` ended before the run did (the caller went away or its
        deadline passed): cancel the run unless it was asked to continue."""
        if run.on_disconnect == DisconnectPolicy.CANCEL:
            self.cancel_soon(run.key, run.run_id, CancelMode.IMMEDIATE, DISCONNECTED_REASON)

    async def cancel(
        self,
        key: SessionKey,
        run_id: str,
        mode: CancelMode,
        *,
        reason: str = CANCEL_RUN_REASON,
        wait_seconds: float | None = None,
    ) -> RunRecord:
        """Asks the run to stop (recorded in the store, so its process hears of it wherever
        it runs), waits up to `wait_seconds` for its end, and returns it as it is then."""
        run = await self.store.request_cancel(key, run_id, mode, reason)
        if run is not None and run.state == RunState.QUEUED:
            run = await self._queue.cancel(run, reason) or await self.store.request_cancel(
                key, run_id, mode, reason
            )
        if run is not None and run.state == RunState.REQUIRES_APPROVAL:
            # Nothing executes a waiting run: end it here, unless it went on meanwhile.
            ended = await self._recovery.cancel_waiting(run, reason)
            run = ended or await self.store.request_cancel(key, run_id, mode, reason)
        if run is None:
            raise run_not_found(key, run_id)
        if run.finished:
            return run
        execution = self._active.get(run_name(key, run_id))
        if execution is not None:
            execution.request_cancel(mode, reason)
        with contextlib.suppress(TimeoutError, DomainError):
            async with asyncio.timeout(wait_seconds):
                async for _ in self.follow(key, run_id, run.last_sequence):
                    pass
        latest = await self.store.get_run(key, run_id)
        if latest is None:
            raise run_not_found(key, run_id)
        return latest

    async def _watch_cancel_requests(self) -> None:
        """Cancel requests made through another process reach this one's runs."""
        version = -1
        while True:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            if not self._active:
                continue
            try:
                current = self.store.data_version()
                if current == version:
                    continue
                version = current
                for run in await self.store.cancel_requests(self.owner):
                    execution = self._active.get(run_name(run.key, run.run_id))
                    if execution is not None and run.cancel_mode is not None:
                        execution.request_cancel(run.cancel_mode, run.cancel_reason)
            except Exception:
                log.exception("watching cancel requests failed")

    # Holding a session for other work -------------------------------------------

    @contextlib.asynccontextmanager
    async def hold(
        self, key: SessionKey, *, wait: bool, wait_seconds: float | None
    ) -> AsyncIterator[Lease]:
        """Holds the session's lease, as a run does, for work that is not a run."""
        self._refuse_when_closing()
        deadline = _deadline(wait_seconds)
        topic = session_name(key)
        while True:
            ticket = self._signals.ticket(topic)
            lease, holder = await self.store.acquire_lease(
                key, owner=self.owner, expire_time_us=now_us() + self._lease_us
            )
            if lease is not None:
                break
            assert holder is not None
            await self._until_free(holder, ticket, deadline, wait=wait)
        try:
            yield lease
        finally:
            with contextlib.suppress(DomainError):
                await self.store.release_lease(lease)
            self._signals.publish(topic)
            await self._queue.promote(key)

    async def compact(
        self,
        key: SessionKey,
        *,
        keep_newest_count: int | None,
        summary_text: str,
        wait_if_busy: bool = False,
        wait_timeout: float | None = None,
    ) -> CompactedHistory:
        """Replaces the session's older items by a summary, holding the session as a run
        does (see `compaction.compact_session`)."""
        return await compact_session(
            self.store,
            self.models,
            self.hold,
            key,
            keep_newest_count=keep_newest_count,
            summary_text=summary_text,
            wait_if_busy=wait_if_busy,
            wait_timeout=wait_timeout,
        )

    def _refuse_when_closing(self) -> None:
        if self._closing:
            raise Unavailable(STOPPING_REASON, reason="SERVER_STOPPING")

    async def aclose(self, grace: float = 0.0) -> None:
        """Refuses new runs, gives running ones `grace` seconds, then cancels the rest (their
        logs end with RunCancelled), stops the background work and closes the model clients."""
        self._closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._idle.wait()
        for execution in list(self._active.values()):
            execution.request_cancel(CancelMode.IMMEDIATE, STOPPING_REASON)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await self._idle.wait()
        if self._active:
            log.warning("runs still active at shutdown", extra={"runs": len(self._active)})
        if self._cancel_watch is not None:
            self._cancel_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cancel_watch
        await self._background.aclose()
        await self._signals.aclose()
        await self.models.aclose()
