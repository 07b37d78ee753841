"""Runtime run events to `SendMessageResponse` messages; pure functions, no I/O."""

from __future__ import annotations

from agentsessions.v1 import events_pb2

from ..domain import names
from ..runtime.events import (
    AgentUpdatedEvent,
    ApprovalRequiredEvent,
    MessageCompletedEvent,
    RunCancelledEvent,
    RunCompletedEvent,
    RunEvent,
    RunFailedEvent,
    RunQueuedEvent,
    RunStartedEvent,
    TextDeltaEvent,
    ToolCalledEvent,
    ToolOutputEvent,
)
from .convert import (
    item_to_proto,
    run_error_to_proto,
    run_to_proto,
    stats_to_proto,
    timestamp,
    usage_to_proto,
)


def _agent(agent_id: str) -> str:
    return names.agent_name(agent_id) if agent_id else ""


def run_event_to_proto(event: RunEvent) -> events_pb2.SendMessageResponse:
    """The SendMessage response carrying `event`, with its sequence and time."""
    response = events_pb2.SendMessageResponse(
        sequence=event.sequence, event_time=timestamp(event.time_us)
    )
    key = event.key
    if isinstance(event, RunStartedEvent):
        response.run_started.CopyFrom(
            events_pb2.RunStarted(
                run=names.run_name(key, event.run_id),
                agent=_agent(event.agent_id),
                input_items=[item_to_proto(key, item) for item in event.input_items],
            )
        )
    elif isinstance(event, TextDeltaEvent):
        response.text_delta.CopyFrom(
            events_pb2.TextDelta(delta=event.delta, agent=_agent(event.agent_id))
        )
    elif isinstance(event, MessageCompletedEvent):
        response.message_completed.CopyFrom(
            events_pb2.MessageCompleted(
                item=item_to_proto(key, event.item), agent=_agent(event.agent_id)
            )
        )
    elif isinstance(event, ToolCalledEvent):
        response.tool_called.CopyFrom(
            events_pb2.ToolCalled(
                call_id=event.call_id,
                tool_name=event.tool_name,
                arguments_json=event.arguments_json,
                item=item_to_proto(key, event.item),
            )
        )
    elif isinstance(event, ToolOutputEvent):
        response.tool_output.CopyFrom(
            events_pb2.ToolOutput(
                call_id=event.call_id, output=event.output, item=item_to_proto(key, event.item)
            )
        )
    elif isinstance(event, AgentUpdatedEvent):
        response.agent_updated.CopyFrom(
            events_pb2.AgentUpdated(
                from_agent=_agent(event.from_agent_id), to_agent=_agent(event.to_agent_id)
            )
        )
    elif isinstance(event, RunQueuedEvent):
        response.run_queued.CopyFrom(
            events_pb2.RunQueued(run=names.run_name(key, event.run_id), position=event.position)
        )
    elif isinstance(event, ApprovalRequiredEvent):
        response.approval_required.CopyFrom(
            events_pb2.ApprovalRequired(
                call_id=event.call_id,
                tool_name=event.tool_name,
                arguments_json=event.arguments_json,
                run=names.run_name(key, event.run_id),
                approval_expire_time=timestamp(event.expire_time_us),
            )
        )
    elif isinstance(event, RunCompletedEvent):
        response.run_completed.CopyFrom(
            events_pb2.RunCompleted(
                run=run_to_proto(event.run),
                final_output=event.final_output,
                usage=usage_to_proto(event.usage),
                session_stats=stats_to_proto(event.stats),
            )
        )
    elif isinstance(event, RunFailedEvent):
        response.run_failed.CopyFrom(
            events_pb2.RunFailed(
                run=run_to_proto(event.run),
                error=run_error_to_proto(event.run),
                session_stats=stats_to_proto(event.stats),
            )
        )
    elif isinstance(event, RunCancelledEvent):
        response.run_cancelled.CopyFrom(
            events_pb2.RunCancelled(run=run_to_proto(event.run), reason=event.reason)
        )
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"not a run event: {event!r}")
    return response


def encode_run_event(event: RunEvent) -> bytes:
    """How a run's log stores `event`: the serialized SendMessageResponse streams replay."""
    return run_event_to_proto(event).SerializeToString()


def decode_run_event(body: bytes) -> events_pb2.SendMessageResponse:
    return events_pb2.SendMessageResponse.FromString(body)
