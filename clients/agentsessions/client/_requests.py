"""Request builders shared by the asyncio and the blocking client."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

from agentsessions.v1 import agent_pb2, events_pb2, session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from google.protobuf import field_mask_pb2, json_format
from google.protobuf.message import Message

MessageT = TypeVar("MessageT", bound=Message)

AgentLike = agent_pb2.Agent | Mapping[str, Any]
SessionLike = session_pb2.Session | Mapping[str, Any]
# An SDK item as a dict, its JSON text, or an Item message whose item_json is read.
ItemLike = session_pb2.Item | Mapping[str, Any] | str
MaskLike = field_mask_pb2.FieldMask | Iterable[str]
# A Run.CancelMode value, or its name in any case: "immediate", "after_turn".
CancelModeLike: TypeAlias = "session_pb2.Run.CancelMode.ValueType | str"
# A Run.DisconnectPolicy value, or its name in any case: "cancel", "continue".
DisconnectLike: TypeAlias = "session_pb2.Run.DisconnectPolicy.ValueType | str"
BusyLike: TypeAlias = "events_pb2.SendMessageRequest.BusyPolicy.ValueType | str"


def to_message(value: MessageT | Mapping[str, Any], message_type: type[MessageT]) -> MessageT:
    """A message as is, or built from a dict with proto or JSON field names."""
    if isinstance(value, message_type):
        return value
    return json_format.ParseDict(dict(value), message_type())  # type: ignore[arg-type]


def to_field_mask(mask: MaskLike) -> field_mask_pb2.FieldMask:
    if isinstance(mask, field_mask_pb2.FieldMask):
        return mask
    if isinstance(mask, str):
        return field_mask_pb2.FieldMask(paths=mask.split(","))
    return field_mask_pb2.FieldMask(paths=list(mask))


def item_json(item: ItemLike) -> str:
    """The JSON text of one SDK item, as stored in `Item.item_json`."""
    if isinstance(item, session_pb2.Item):
        return item.item_json
    if isinstance(item, str):
        return item
    return json.dumps(dict(item), ensure_ascii=False)


def create_agent(
    agent: AgentLike, agent_id: str, request_id: str | None
) -> agent_pb2.CreateAgentRequest:
    return agent_pb2.CreateAgentRequest(
        agent=to_message(agent, agent_pb2.Agent),
        agent_id=agent_id,
        request_id=request_id or str(uuid.uuid4()),
    )


def update_agent(agent: AgentLike, update_mask: MaskLike) -> agent_pb2.UpdateAgentRequest:
    return agent_pb2.UpdateAgentRequest(
        agent=to_message(agent, agent_pb2.Agent), update_mask=to_field_mask(update_mask)
    )


def create_session(
    parent: str, session: SessionLike | None, session_id: str, request_id: str | None
) -> ss.CreateSessionRequest:
    return ss.CreateSessionRequest(
        parent=parent,
        session=to_message(session or {}, session_pb2.Session),
        session_id=session_id,
        request_id=request_id or str(uuid.uuid4()),
    )


def update_session(session: SessionLike, update_mask: MaskLike) -> ss.UpdateSessionRequest:
    return ss.UpdateSessionRequest(
        session=to_message(session, session_pb2.Session), update_mask=to_field_mask(update_mask)
    )


def add_items(parent: str, items: Sequence[ItemLike], request_id: str | None) -> ss.AddItemsRequest:
    return ss.AddItemsRequest(
        parent=parent,
        items=[session_pb2.Item(item_json=item_json(item)) for item in items],
        request_id=request_id or str(uuid.uuid4()),
    )


def _enum_name(value: str) -> str:
    return value.strip().upper().replace("-", "_")


def cancel_mode(mode: CancelModeLike) -> session_pb2.Run.CancelMode.ValueType:
    """A Run.CancelMode from the enum or a name such as "after_turn"."""
    if not isinstance(mode, str):
        return mode
    try:
        return session_pb2.Run.CancelMode.Value(_enum_name(mode))
    except ValueError:
        raise ValueError(f"unknown cancel mode {mode!r}: immediate or after_turn") from None


def disconnect_policy(policy: DisconnectLike) -> session_pb2.Run.DisconnectPolicy.ValueType:
    """A Run.DisconnectPolicy from the enum or a name such as "continue"."""
    if not isinstance(policy, str):
        return policy
    try:
        return session_pb2.Run.DisconnectPolicy.Value(_enum_name(policy))
    except ValueError:
        raise ValueError(f"unknown disconnect policy {policy!r}: cancel or continue") from None


def busy_policy(policy: BusyLike) -> events_pb2.SendMessageRequest.BusyPolicy.ValueType:
    """A SendMessageRequest.BusyPolicy from the enum or a name such as "interrupt"."""
    if not isinstance(policy, str):
        return policy
    try:
        return events_pb2.SendMessageRequest.BusyPolicy.Value(_enum_name(policy))
    except ValueError:
        raise ValueError(
            f"unknown busy policy {policy!r}: reject, wait, interrupt or enqueue"
        ) from None


def send_message(
    session: str,
    text: str | None,
    input_items: Sequence[Mapping[str, Any]] | None,
    wait_if_busy: bool,
    max_turns: int,
    request_id: str | None = None,
    on_disconnect: DisconnectLike | None = None,
    after_sequence: int = 0,
    busy: BusyLike | None = None,
) -> events_pb2.SendMessageRequest:
    if (text is None) == (input_items is None):
        raise ValueError("send_message needs exactly one of text and input_items")
    request = events_pb2.SendMessageRequest(
        session=session,
        wait_if_busy=wait_if_busy,
        max_turns=max_turns,
        # One id per call, kept by every attempt and resumption of it: a repeat joins
        # the run the call started instead of starting another.
        request_id=request_id or str(uuid.uuid4()),
        after_sequence=after_sequence,
    )
    if on_disconnect is not None:
        request.on_disconnect = disconnect_policy(on_disconnect)
    if busy is not None:
        request.busy_policy = busy_policy(busy)
    if text is not None:
        request.text = text
    else:
        request.input_items_json = json.dumps([dict(i) for i in input_items or ()])
    return request


def compact_session(
    name: str, keep_newest_count: int | None, summary_text: str, wait_if_busy: bool
) -> ss.CompactSessionRequest:
    request = ss.CompactSessionRequest(
        name=name, summary_text=summary_text, wait_if_busy=wait_if_busy
    )
    if keep_newest_count is not None:  # unset means the server's default, 20
        request.keep_newest_count = keep_newest_count
    return request


def batch_delete_sessions(parent: str, names: Sequence[str]) -> ss.BatchDeleteSessionsRequest:
    if isinstance(names, str):
        raise TypeError("names must be a sequence of session names, not one string")
    return ss.BatchDeleteSessionsRequest(parent=parent, names=list(names))


def resolve_approvals(
    run: str,
    approve: Iterable[str],
    reject: Iterable[str] | Mapping[str, str],
    request_id: str | None,
) -> ss.ResolveApprovalsRequest:
    """Decisions on a run's waiting calls: ids to approve; ids to reject, or a mapping of id
    to the message the model receives instead of the tool's output."""
    Decision = session_pb2.ToolApproval.Decision
    rejections = dict(reject) if isinstance(reject, Mapping) else dict.fromkeys(reject, "")
    decisions = [ss.ApprovalDecision(call_id=c, decision=Decision.APPROVE) for c in approve]
    decisions += [
        ss.ApprovalDecision(call_id=c, decision=Decision.REJECT, message=m)
        for c, m in rejections.items()
    ]
    return ss.ResolveApprovalsRequest(
        name=run, decisions=decisions, request_id=request_id or str(uuid.uuid4())
    )
