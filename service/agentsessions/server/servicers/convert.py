"""Proto messages to domain records and back."""

from __future__ import annotations

from agentsessions.v1 import agent_pb2, session_pb2
from google.protobuf import duration_pb2, timestamp_pb2
from google.rpc import status_pb2

from ..domain import names
from ..domain.errors import InvalidArgument
from ..domain.models import (
    AgentRecord,
    BusyPolicy,
    ItemRecord,
    ModelSettingsSpec,
    RunRecord,
    RunState,
    SessionKey,
    SessionRecord,
    SessionState,
    SessionStats,
    ToolApproval,
    Usage,
)
from ..domain.validation import timestamp_micros
from .status import code_from_number, status_proto


def timestamp(us: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=us // 1_000_000, nanos=(us % 1_000_000) * 1000)


def set_timestamp(target: timestamp_pb2.Timestamp, us: int) -> None:
    """Fills a message's timestamp field in place: cheaper than building one and copying it."""
    seconds, rest = divmod(us, 1_000_000)
    target.seconds = seconds
    target.nanos = rest * 1000


def micros(ts: timestamp_pb2.Timestamp) -> int:
    return ts.seconds * 1_000_000 + ts.nanos // 1000


def agent_from_proto(agent: agent_pb2.Agent, tenant: str, agent_id: str = "") -> AgentRecord:
    settings = agent.model_settings
    try:
        handoffs = tuple(names.agent_id_from_name(h, "agent.handoffs") for h in agent.handoffs)
    except InvalidArgument:
        raise InvalidArgument.field(
            "agent.handoffs", "must be agent names like agents/{agent}", reason="INVALID_NAME"
        ) from None
    return AgentRecord(
        tenant=tenant,
        agent_id=agent_id,
        display_name=agent.display_name,
        instructions=agent.instructions,
        model=agent.model,
        model_settings=ModelSettingsSpec(
            temperature=settings.temperature if settings.HasField("temperature") else None,
            top_p=settings.top_p if settings.HasField("top_p") else None,
            max_output_tokens=(
                settings.max_output_tokens if settings.HasField("max_output_tokens") else None
            ),
        ),
        tools=tuple(agent.tools),
        handoffs=handoffs,
        history_max_items=agent.history_policy.max_items,
        description=agent.description,
        approval_tools=tuple(agent.approval_policy.tools),
        approval_timeout_us=duration_micros(agent.approval_policy.timeout),
    )


def duration_micros(duration: duration_pb2.Duration) -> int:
    """A Duration in microseconds; a negative or out-of-range one as -1, which no range
    check accepts."""
    if duration.seconds < 0 or duration.nanos < 0 or duration.seconds > 10**12:
        return -1
    return duration.seconds * 1_000_000 + duration.nanos // 1000


def agent_to_proto(agent: AgentRecord) -> agent_pb2.Agent:
    settings = agent.model_settings
    return agent_pb2.Agent(
        name=names.agent_name(agent.agent_id),
        display_name=agent.display_name,
        instructions=agent.instructions,
        model=agent.model,
        model_settings=agent_pb2.ModelSettings(
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_output_tokens=settings.max_output_tokens,
        ),
        tools=agent.tools,
        handoffs=[names.agent_name(h) for h in agent.handoffs],
        history_policy=agent_pb2.HistoryPolicy(max_items=agent.history_max_items),
        create_time=timestamp(agent.create_time_us),
        update_time=timestamp(agent.update_time_us),
        etag=agent.etag,
        description=agent.description,
        approval_policy=agent_pb2.ApprovalPolicy(
            tools=agent.approval_tools,
            timeout=(
                duration_pb2.Duration(
                    seconds=agent.approval_timeout_us // 1_000_000,
                    nanos=agent.approval_timeout_us % 1_000_000 * 1000,
                )
                if agent.approval_timeout_us
                else None
            ),
        ),
    )


def session_from_proto(session: session_pb2.Session, key: SessionKey) -> SessionRecord:
    state = session.state or SessionState.ACTIVE
    if state not in SessionState._value2member_map_:
        raise InvalidArgument.field(
            "session.state", f"unknown state {state}", reason="INVALID_STATE"
        )
    return SessionRecord(
        tenant=key.tenant,
        agent_id=key.agent_id,
        session_id=key.session_id,
        display_name=session.display_name,
        state=SessionState(state),
        labels=dict(session.labels),
        expire_time_us=(
            timestamp_micros(
                session.expire_time.seconds, session.expire_time.nanos, "session.expire_time"
            )
            if session.HasField("expire_time")
            else None
        ),
    )


def _fill_stats(target: session_pb2.SessionStats, stats: SessionStats) -> None:
    target.item_count = stats.item_count
    target.message_count = stats.message_count
    target.function_call_count = stats.function_call_count
    target.input_tokens = stats.input_tokens
    target.output_tokens = stats.output_tokens
    target.total_tokens = stats.total_tokens
    target.run_count = stats.run_count


def stats_to_proto(stats: SessionStats) -> session_pb2.SessionStats:
    message = session_pb2.SessionStats()
    _fill_stats(message, stats)
    return message


def session_to_proto(session: SessionRecord) -> session_pb2.Session:
    # Sub-messages are filled in place: GetSession's hot path, where building
    # them and copying them in cost as much as the rest of the conversion.
    key = SessionKey(session.tenant, session.agent_id, session.session_id)
    message = session_pb2.Session(
        name=names.session_name(key),
        display_name=session.display_name,
        state=session_pb2.Session.State.ValueType(int(session.state)),
        labels=session.labels,
        etag=session.etag,
    )
    set_timestamp(message.create_time, session.create_time_us)
    set_timestamp(message.update_time, session.update_time_us)
    set_timestamp(message.last_activity_time, session.last_activity_time_us)
    if session.expire_time_us is not None:
        set_timestamp(message.expire_time, session.expire_time_us)
    _fill_stats(message.stats, session.stats)
    return message


def item_to_proto(key: SessionKey, item: ItemRecord) -> session_pb2.Item:
    return session_pb2.Item(
        name=names.item_name(key, item.sequence),
        sequence=item.sequence,
        type=item.type,
        role=item.role,
        text=item.text,
        item_json=item.item_json,
        run_id=item.run_id,
        create_time=timestamp(item.create_time_us),
    )


def usage_to_proto(usage: Usage) -> session_pb2.Usage:
    return session_pb2.Usage(
        requests=usage.requests,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
    )


def run_to_proto(run: RunRecord) -> session_pb2.Run:
    message = session_pb2.Run(
        name=names.run_name(run.key, run.run_id),
        state=session_pb2.Run.State.ValueType(int(run.state)),
        usage=usage_to_proto(run.usage),
        start_time=timestamp(run.start_time_us),
        last_agent=names.agent_name(run.last_agent_id) if run.last_agent_id else "",
        request_id=run.request_id,
        on_disconnect=session_pb2.Run.DisconnectPolicy.ValueType(int(run.on_disconnect)),
        last_event_sequence=run.last_sequence,
        cancel_reason=run.cancel_reason,
        queue_position=run.queue_position,
    )
    if run.cancel_mode is not None:
        message.cancel_mode = session_pb2.Run.CancelMode.ValueType(int(run.cancel_mode))
    if run.end_time_us is not None:
        message.end_time.CopyFrom(timestamp(run.end_time_us))
    if run.events_expire_time_us is not None:
        message.events_expire_time.CopyFrom(timestamp(run.events_expire_time_us))
    if run.error is not None:
        message.error.CopyFrom(run_error_to_proto(run))
    if run.approval_expire_time_us is not None and run.state == RunState.REQUIRES_APPROVAL:
        message.approval_expire_time.CopyFrom(timestamp(run.approval_expire_time_us))
    message.approvals.extend(approval_to_proto(a) for a in run.approvals)
    return message


def approval_to_proto(approval: ToolApproval) -> session_pb2.ToolApproval:
    message = session_pb2.ToolApproval(
        call_id=approval.call_id,
        tool_name=approval.tool_name,
        arguments_json=approval.arguments_json,
        decision=session_pb2.ToolApproval.Decision.ValueType(int(approval.decision)),
        message=approval.message,
        request_id=approval.request_id,
        decided_by=approval.decided_by,
    )
    if approval.decide_time_us is not None:
        message.decide_time.CopyFrom(timestamp(approval.decide_time_us))
    return message


def run_error_to_proto(run: RunRecord) -> status_pb2.Status:
    assert run.error is not None
    error = run.error
    return status_proto(code_from_number(error.code), error.message, error.reason)


def busy_policy_of(number: int) -> BusyPolicy | None:
    """SendMessageRequest.busy_policy; None when unset (wait_if_busy decides)."""
    if number == 0:
        return None
    if number not in BusyPolicy._value2member_map_:
        raise InvalidArgument.field(
            "busy_policy", f"unknown busy policy {number}", reason="INVALID_BUSY_POLICY"
        )
    return BusyPolicy(number)
