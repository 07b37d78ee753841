"""What a running agent reports to its run, in the order it happens, through one queue.

Text deltas (from `ObservedModel`) and the items to store (from `StoreSession`) are put on the
queue by the SDK's own task as they happen, so a message's deltas always come before the
message is stored; the run stores the items and their events in one transaction. The end of
the run and cancellation requests come last or from outside.
The SDK's entries wait for room (`report`): a model that streams faster than the run's log is
written waits, instead of piling up in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from agents import Model, ModelResponse, ModelSettings, ModelTracing, Tool
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseStreamEvent
from agents.retry import ModelRetryAdvice, ModelRetryAdviceRequest
from openai.types.responses.response_prompt_param import ResponsePromptParam

from ..domain.models import CancelMode, ItemRecord, NewItem


@dataclass(frozen=True, slots=True)
class WriteItems:
    """Items the SDK asks to store; `done` gets their records once committed, or the error."""

    items: list[NewItem]
    done: asyncio.Future[list[ItemRecord]]


@dataclass(frozen=True, slots=True)
class Delta:
    text: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class ModelCalled:
    """An agent is about to call its model; a different agent than before means a handoff."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class Finished:
    error: BaseException | None


@dataclass(frozen=True, slots=True)
class CancelRequested:
    mode: CancelMode
    reason: str


Entry = WriteItems | Delta | ModelCalled | Finished | CancelRequested
# What the SDK reports; the rest (end, cancellation) comes once each and never waits.
_REPORTS = (WriteItems, Delta, ModelCalled)
ROOM = 64


class RunSink:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Entry] = asyncio.Queue()
        self._room = asyncio.Semaphore(ROOM)

    def put(self, entry: Finished | CancelRequested) -> None:
        self._queue.put_nowait(entry)

    async def report(self, entry: WriteItems | Delta | ModelCalled) -> None:
        await self._room.acquire()
        self._queue.put_nowait(entry)

    async def write_items(self, items: list[NewItem]) -> list[ItemRecord]:
        """Has the run store `items` after everything reported before them."""
        done: asyncio.Future[list[ItemRecord]] = asyncio.get_running_loop().create_future()
        await self.report(WriteItems(items, done))
        return await done

    async def get(self) -> Entry:
        entry = await self._queue.get()
        if isinstance(entry, _REPORTS):
            self._room.release()
        return entry


class ObservedModel(Model):
    """Wraps an agent's model to report its calls and text deltas to the run's sink."""

    def __init__(self, inner: Model, agent_id: str, sink: RunSink) -> None:
        self.inner = inner
        self._agent_id = agent_id
        self._sink = sink

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        await self._sink.report(ModelCalled(self._agent_id))
        return await self.inner.get_response(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            tracing,
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
            prompt=prompt,
        )

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        await self._sink.report(ModelCalled(self._agent_id))
        stream = self.inner.stream_response(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            tracing,
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
            prompt=prompt,
        )
        try:
            async for event in stream:
                if event.type == "response.output_text.delta":
                    await self._sink.report(Delta(event.delta, self._agent_id))
                yield event
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    def get_retry_advice(self, request: ModelRetryAdviceRequest) -> ModelRetryAdvice | None:
        return self.inner.get_retry_advice(request)

    async def _cleanup_on_run_end(self, owner: object) -> None:
        await self.inner._cleanup_on_run_end(owner)

    async def close(self) -> None:
        await self.inner.close()


class FailingModel(Model):
    """Stands in for a model that could not be made; raises the reason when called."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        raise self._error

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise self._error
        yield  # pragma: no cover - makes this an async generator
