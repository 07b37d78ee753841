"""The events a run streams, as plain records, and the event reporting a stored item;
servicers/run_events.py turns them into protos."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..domain.models import ItemRecord, RunError, RunRecord, SessionKey, SessionStats, Usage, now_us


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEventBase:
    """What every event carries: its place in the run (1, 2, …) and when it happened."""

    sequence: int
    key: SessionKey
    time_us: int = field(default_factory=now_us)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStartedEvent(RunEventBase):
    run_id: str
    agent_id: str
    input_items: tuple[ItemRecord, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDeltaEvent(RunEventBase):
    delta: str
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageCompletedEvent(RunEventBase):
    item: ItemRecord
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCalledEvent(RunEventBase):
    call_id: str
    tool_name: str
    arguments_json: str
    item: ItemRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolOutputEvent(RunEventBase):
    call_id: str
    output: str
    item: ItemRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentUpdatedEvent(RunEventBase):
    from_agent_id: str  # empty for the first agent of the run
    to_agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunQueuedEvent(RunEventBase):
    run_id: str
    position: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequiredEvent(RunEventBase):
    run_id: str
    call_id: str
    tool_name: str
    arguments_json: str
    expire_time_us: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCompletedEvent(RunEventBase):
    run: RunRecord
    final_output: str
    usage: Usage
    stats: SessionStats


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFailedEvent(RunEventBase):
    run: RunRecord
    error: RunError
    stats: SessionStats


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCancelledEvent(RunEventBase):
    run: RunRecord
    reason: str


RunEvent = (
    RunStartedEvent
    | TextDeltaEvent
    | MessageCompletedEvent
    | ToolCalledEvent
    | ToolOutputEvent
    | AgentUpdatedEvent
    | ApprovalRequiredEvent
    | RunQueuedEvent
    | RunCompletedEvent
    | RunFailedEvent
    | RunCancelledEvent
)
TERMINAL_EVENTS = (RunCompletedEvent, RunFailedEvent, RunCancelledEvent)


def text_of(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def item_event(
    sequence: int, key: SessionKey, record: ItemRecord, agent_id: str
) -> RunEvent | None:
    """The event that reports a stored item: an assistant message, a tool call or its output;
    None for the rest (the caller's input, reasoning)."""
    if record.type == "message":
        if record.role != "assistant":
            return None
        return MessageCompletedEvent(sequence=sequence, key=key, item=record, agent_id=agent_id)
    item = json.loads(record.item_json)
    call_id = item.get("call_id")
    if not isinstance(call_id, str):
        return None
    if record.type.endswith("_output"):
        output = text_of(item.get("output"))
        return ToolOutputEvent(
            sequence=sequence, key=key, call_id=call_id, output=output, item=record
        )
    if record.type.endswith("_call"):
        arguments = item.get("arguments", item.get("input", {}))
        return ToolCalledEvent(
            sequence=sequence,
            key=key,
            call_id=call_id,
            tool_name=text_of(item.get("name", record.type)),
            arguments_json=arguments if isinstance(arguments, str) else text_of(arguments),
            item=record,
        )
    return None
