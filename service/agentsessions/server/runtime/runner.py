"""`AgentRunner`: runs a session's agent for one message and streams the run's events.

    runner = AgentRunner(store, ModelRegistry(), ToolRegistry.with_entry_points())
    async with contextlib.aclosing(runner.run(key, text_input("Hello"))) as events:
        async for event in events:
            ...

Errors before the run starts (unknown session or agent, a busy session, a model the server
cannot reach for lack of a key) are raised as domain errors from the first iteration; after
`RunStartedEvent` everything is an event, ending in exactly one terminal event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Collection

from agents import Model, set_tracing_disabled

from ..domain.agents import agent_not_found
from ..domain.errors import Unavailable
from ..domain.models import CompactedHistory, RunRecord, RunState, SessionKey, now_us
from ..domain.names import new_id, run_name
from ..domain.sessions import session_not_found
from ..store.base import Store
from .agent_graph import build_agent, load_reachable
from .compaction import compact_session
from .events import RunEvent
from .execution import RunExecution
from .history import history_window
from .inputs import DEFAULT_MAX_TURNS, RunInput
from .locks import SessionLocks
from .models import ModelRegistry
from .sink import CancelRequested, ObservedModel, RunSink
from .tools import ToolRegistry

log = logging.getLogger("agentsessions.runtime")

STOPPING_REASON = "the server is stopping"
_closing_tasks: set[asyncio.Task[None]] = set()


def close_in_background(events: AsyncGenerator[RunEvent, None]) -> asyncio.Task[None]:
    """Closes a run's event stream that its consumer abandoned, say at a cancelled RPC.

    A consumer cancelled while it awaits anything but the stream leaves the stream suspended;
    closing it now ends the run and frees the session instead of waiting for the garbage
    collector. A stream still running was reached by the cancellation itself.
    """

    async def close() -> None:
        with contextlib.suppress(RuntimeError):  # already running: it is being cancelled
            await events.aclose()

    task = asyncio.ensure_future(close())
    _closing_tasks.add(task)
    task.add_done_callback(_closing_tasks.discard)
    return task


class AgentRunner:
    """Runs agents on sessions; also the catalog that checks agents' models and tools."""

    def __init__(
        self,
        store: Store,
        models: ModelRegistry | None = None,
        tools: ToolRegistry | None = None,
    ) -> None:
        # The SDK would otherwise export traces to OpenAI: no network unless a model needs it.
        set_tracing_disabled(True)
        self.store = store
        self.models = models or ModelRegistry()
        self.tools = tools or ToolRegistry()
        self._locks = SessionLocks()
        self._active: dict[str, RunSink] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False

    # The AgentCatalog the domain checks agents against ------------------------

    def validate_model(self, model: str) -> None:
        self.models.validate_model(model)

    def validate_tools(self, tools: Collection[str]) -> None:
        self.tools.validate_tools(tools)

    # Runs -------------------------------------------------------------------

    @property
    def active_runs(self) -> int:
        return len(self._active)

    @property
    def busy_sessions(self) -> int:
        """Sessions with a run going or waiting; their locks are dropped when unused."""
        return len(self._locks)

    async def run(
        self,
        key: SessionKey,
        run_input: RunInput,
        *,
        wait_if_busy: bool = False,
        max_turns: int = DEFAULT_MAX_TURNS,
        wait_timeout: float | None = None,
    ) -> AsyncGenerator[RunEvent, None]:
        """Runs the session's agent on `run_input`; yields the run's events.

        Args:
            key: The session.
            run_input: The user's message (see `inputs.run_input`).
            wait_if_busy: Wait for a run already going on the session instead of raising
                Aborted (reason SESSION_BUSY).
            max_turns: Most model turns the run may take.
            wait_timeout: Seconds to wait for a busy session before DeadlineExceeded.
        """
        if self._closing:
            raise Unavailable(STOPPING_REASON, reason="SERVER_STOPPING")
        if await self.store.get_session(key) is None:
            raise session_not_found(key)
        root = await self.store.get_agent(key.tenant, key.agent_id)
        if root is None:
            raise agent_not_found(key.agent_id)
        run_id = new_id()
        name = run_name(key, run_id)
        async with self._locks.hold(key, name, wait=wait_if_busy, wait_seconds=wait_timeout):
            sink = RunSink()

            def observe(model: Model, agent_id: str) -> Model:
                return ObservedModel(model, agent_id, sink)

            records = await load_reachable(self.store, root)
            agent = build_agent(
                records, root.agent_id, models=self.models, tools=self.tools, observe=observe
            )
            limit = await history_window(self.store, key, root.history_max_items)
            run = RunRecord(
                key=key,
                run_id=run_id,
                state=RunState.RUNNING,
                start_time_us=now_us(),
                last_agent_id=root.agent_id,
            )
            execution = RunExecution(
                self.store,
                run,
                agent,
                sink,
                run_input,
                max_turns=max_turns,
                history_limit=limit,
            )
            self._enter(run_id, sink)
            try:
                # aclosing: a caller that goes away closes the run before the lock is freed.
                async with contextlib.aclosing(execution.events()) as events:
                    async for event in events:
                        yield event
            finally:
                self._leave(run_id)

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
        if self._closing:
            raise Unavailable(STOPPING_REASON, reason="SERVER_STOPPING")
        return await compact_session(
            self.store,
            self.models,
            self._locks,
            key,
            keep_newest_count=keep_newest_count,
            summary_text=summary_text,
            wait_if_busy=wait_if_busy,
            wait_timeout=wait_timeout,
        )

    def _enter(self, run_id: str, sink: RunSink) -> None:
        self._active[run_id] = sink
        self._idle.clear()

    def _leave(self, run_id: str) -> None:
        self._active.pop(run_id, None)
        if not self._active:
            self._idle.set()

    async def aclose(self, grace: float = 0.0) -> None:
        """Refuses new runs, gives running ones `grace` seconds, then cancels the rest
        (their callers get RunCancelledEvent) and closes the model clients."""
        self._closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._idle.wait()
        for sink in list(self._active.values()):
            sink.put(CancelRequested(STOPPING_REASON))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await self._idle.wait()
        if self._active:
            log.warning("runs still active at shutdown", extra={"runs": len(self._active)})
        await self.models.aclose()
