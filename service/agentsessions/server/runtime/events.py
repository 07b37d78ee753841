"""The events a run streams, as plain records; servicers/run_events.py turns them into protos."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    | RunCompletedEvent
    | RunFailedEvent
    | RunCancelledEvent
)
TERMINAL_EVENTS = (RunCompletedEvent, RunFailedEvent, RunCancelledEvent)
