"""Helpers for runtime tests: agents and sessions in a store, scripted streams, event lists."""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from agents.testing import ModelCall, assistant_message
from agentsessions.server.domain.models import (
    DEFAULT_TENANT,
    AgentRecord,
    ItemRecord,
    NewItem,
    SessionKey,
    SessionRecord,
)
from agentsessions.server.runtime import (
    AgentRunner,
    ModelRegistry,
    RunEvent,
    RunInput,
    SendOptions,
    ToolRegistry,
)
from agentsessions.server.store import Store
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseCreatedEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseTextDeltaEvent,
)


async def make_agent(store: Store, agent_id: str = "helper", **fields: Any) -> AgentRecord:
    fields.setdefault("display_name", f"Agent {agent_id}")
    fields.setdefault("model", "scripted")
    return await store.create_agent(AgentRecord(DEFAULT_TENANT, agent_id, **fields), None)


async def make_session(
    store: Store, agent_id: str = "helper", session_id: str = "s1", **agent_fields: Any
) -> SessionKey:
    if await store.get_agent(DEFAULT_TENANT, agent_id) is None:
        await make_agent(store, agent_id, **agent_fields)
    await store.create_session(
        SessionRecord(DEFAULT_TENANT, agent_id, session_id, f"Session {session_id}"), None
    )
    return SessionKey(DEFAULT_TENANT, agent_id, session_id)


async def add_history(store: Store, key: SessionKey, items: Sequence[dict[str, Any]]) -> None:
    batch = []
    for item in items:
        kind = item.get("type", "message")
        role = item.get("role", "") if kind == "message" else ""
        text = item.get("content", "") if kind == "message" else ""
        batch.append(NewItem(json.dumps(item), kind, role, text if isinstance(text, str) else ""))
    await store.add_items(key, batch)


async def stored(store: Store, key: SessionKey) -> list[ItemRecord]:
    return await store.list_items(key)


async def collect(events: AsyncIterator[RunEvent]) -> list[RunEvent]:
    return [event async for event in events]


def kinds(events: Sequence[RunEvent]) -> list[str]:
    return [type(event).__name__.removesuffix("Event") for event in events]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def call_item(call_id: str, name: str = "calculate", arguments: str = "{}") -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def output_item(call_id: str, output: str = "ok") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def gated_stream(
    pieces: Sequence[str], gate: asyncio.Event, *, started: asyncio.Event | None = None
) -> Callable[[ModelCall], AsyncIterator[Any]]:
    """A ScriptedModel stream factory: streams `pieces`, waits for `gate`, then completes.

    A gate that is never set makes a model that hangs mid-message, as a slow model does.
    """
    message = assistant_message("".join(pieces), item_id="gated-message")
    assert isinstance(message, ResponseOutputMessage)

    async def stream(call: ModelCall) -> AsyncIterator[Any]:
        response = Response(
            id="resp-gated",
            created_at=0,
            model="gated",
            object="response",
            output=[],
            tool_choice="none",
            tools=[],
            parallel_tool_calls=False,
            status="in_progress",
        )
        common: dict[str, Any] = {"item_id": message.id, "output_index": 0, "content_index": 0}
        yield ResponseCreatedEvent(type="response.created", response=response, sequence_number=0)
        yield ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=message.model_copy(update={"content": [], "status": "in_progress"}),
            output_index=0,
            sequence_number=1,
        )
        yield ResponseContentPartAddedEvent(
            type="response.content_part.added",
            part=message.content[0].model_copy(update={"text": ""}),
            sequence_number=2,
            **common,
        )
        for number, piece in enumerate(pieces, start=3):
            yield ResponseTextDeltaEvent(
                type="response.output_text.delta",
                delta=piece,
                logprobs=[],
                sequence_number=number,
                **common,
            )
        if started is not None:
            started.set()
        await gate.wait()
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done", item=message, output_index=0, sequence_number=90
        )
        yield ResponseCompletedEvent(
            type="response.completed",
            response=response.model_copy(update={"output": [message], "status": "completed"}),
            sequence_number=91,
        )

    return stream


def encode_for_tests(event: RunEvent) -> bytes:
    """The runtime tests' event codec: the run records themselves (the server uses protos)."""
    return pickle.dumps(event)


def make_runner(
    store: Store,
    models: ModelRegistry | None = None,
    tools: ToolRegistry | None = None,
    **settings: Any,
) -> AgentRunner:
    return AgentRunner(store, models, tools, encode=encode_for_tests, **settings)


async def events_of(
    runner: AgentRunner, key: SessionKey, run_input: RunInput, **options: Any
) -> list[RunEvent]:
    """Starts a run and follows its log to the end, as SendMessage does."""
    handle = await runner.start(key, run_input, SendOptions(**options))
    return [
        pickle.loads(event.body)
        async for event in runner.follow(key, handle.run.run_id, after_sequence=0)
    ]
