"""Column lists and conversions between SQLite rows and domain records."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from typing import Any

from ..domain.models import (
    AgentRecord,
    CancelMode,
    Decision,
    DisconnectPolicy,
    ItemRecord,
    ModelSettingsSpec,
    RunError,
    RunRecord,
    RunState,
    SessionKey,
    SessionRecord,
    SessionState,
    SessionStats,
    ToolApproval,
    Usage,
)

AGENT_COLUMNS = """
    tenant, agent_id, display_name, description, instructions, model,
    temperature, top_p, max_output_tokens, tools, handoffs, history_max_items,
    create_time, update_time, etag, approval_tools, approval_timeout
"""

SESSION_COLUMNS = """
    pk, tenant, agent_id, session_id, display_name, state, labels,
    create_time, update_time, last_activity_time, expire_time,
    item_count, message_count, function_call_count,
    input_tokens, output_tokens, total_tokens, run_count, etag
"""

STATS_COLUMNS = """
    item_count, message_count, function_call_count,
    input_tokens, output_tokens, total_tokens, run_count
"""

ITEM_COLUMNS = "i.sequence, i.item_json, i.type, i.role, i.text, i.run_id, i.create_time"

RUN_COLUMNS = """
    r.run_id, r.state, r.requests, r.input_tokens, r.output_tokens, r.total_tokens,
    r.error_code, r.error_message, r.error_reason, r.start_time, r.end_time, r.last_agent_id,
    r.request_id, r.request_hash, r.on_disconnect, r.last_sequence, r.cancel_mode,
    r.cancel_reason, r.events_expire_time, r.owner, r.approvals, r.approval_expire_time
"""


def new_etag() -> str:
    """An opaque value that changes on every write of a resource's fields."""
    return secrets.token_hex(8)


def agent_params(agent: AgentRecord) -> dict[str, Any]:
    """The named parameters of AGENT_COLUMNS for `agent`."""
    return {
        "tenant": agent.tenant,
        "agent_id": agent.agent_id,
        "display_name": agent.display_name,
        "description": agent.description,
        "instructions": agent.instructions,
        "model": agent.model,
        "temperature": agent.model_settings.temperature,
        "top_p": agent.model_settings.top_p,
        "max_output_tokens": agent.model_settings.max_output_tokens,
        "tools": json.dumps(list(agent.tools)),
        "handoffs": json.dumps(list(agent.handoffs)),
        "history_max_items": agent.history_max_items,
        "approval_tools": json.dumps(list(agent.approval_tools)),
        "approval_timeout": agent.approval_timeout_us,
        "create_time": agent.create_time_us,
        "update_time": agent.update_time_us,
        "etag": agent.etag,
    }


def agent_from_row(row: sqlite3.Row) -> AgentRecord:
    return AgentRecord(
        tenant=row["tenant"],
        agent_id=row["agent_id"],
        display_name=row["display_name"],
        description=row["description"],
        instructions=row["instructions"],
        model=row["model"],
        model_settings=ModelSettingsSpec(
            temperature=row["temperature"],
            top_p=row["top_p"],
            max_output_tokens=row["max_output_tokens"],
        ),
        tools=tuple(json.loads(row["tools"])),
        handoffs=tuple(json.loads(row["handoffs"])),
        history_max_items=row["history_max_items"],
        approval_tools=tuple(json.loads(row["approval_tools"])),
        approval_timeout_us=row["approval_timeout"],
        create_time_us=row["create_time"],
        update_time_us=row["update_time"],
        etag=row["etag"],
    )


def labels_json(labels: dict[str, str]) -> str:
    # Sorted keys keep the stored text stable for equal label sets.
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def stats_from_row(row: sqlite3.Row) -> SessionStats:
    return SessionStats(
        item_count=row["item_count"],
        message_count=row["message_count"],
        function_call_count=row["function_call_count"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        total_tokens=row["total_tokens"],
        run_count=row["run_count"],
    )


_SESSION_STATES = {state.value: state for state in SessionState}


def session_from_row(row: sqlite3.Row) -> SessionRecord:
    """A row of SESSION_COLUMNS, unpacked by position: GetSession's hot path, where
    lookups by column name cost as much as the query."""
    (
        _pk,
        tenant,
        agent_id,
        session_id,
        display_name,
        state,
        labels,
        create_time,
        update_time,
        last_activity_time,
        expire_time,
        item_count,
        message_count,
        function_call_count,
        input_tokens,
        output_tokens,
        total_tokens,
        run_count,
        etag,
    ) = row
    return SessionRecord(
        tenant=tenant,
        agent_id=agent_id,
        session_id=session_id,
        display_name=display_name,
        state=_SESSION_STATES[state],
        labels={} if labels == "{}" else json.loads(labels),
        create_time_us=create_time,
        update_time_us=update_time,
        last_activity_time_us=last_activity_time,
        expire_time_us=expire_time,
        stats=SessionStats(
            item_count,
            message_count,
            function_call_count,
            input_tokens,
            output_tokens,
            total_tokens,
            run_count,
        ),
        etag=etag,
    )


def item_from_row(row: sqlite3.Row) -> ItemRecord:
    return ItemRecord(
        sequence=row["sequence"],
        item_json=row["item_json"],
        type=row["type"],
        role=row["role"],
        text=row["text"],
        run_id=row["run_id"],
        create_time_us=row["create_time"],
    )


def run_from_row(key: SessionKey, row: sqlite3.Row) -> RunRecord:
    error = None
    if row["error_code"] is not None:
        error = RunError(
            code=row["error_code"],
            message=row["error_message"] or "",
            reason=row["error_reason"] or "",
        )
    return RunRecord(
        key=key,
        run_id=row["run_id"],
        state=RunState(row["state"]),
        usage=Usage(
            requests=row["requests"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            total_tokens=row["total_tokens"],
        ),
        error=error,
        start_time_us=row["start_time"],
        end_time_us=row["end_time"],
        last_agent_id=row["last_agent_id"],
        request_id=row["request_id"] or "",
        request_hash=row["request_hash"],
        on_disconnect=DisconnectPolicy(row["on_disconnect"]),
        last_sequence=row["last_sequence"],
        cancel_mode=CancelMode(row["cancel_mode"]) if row["cancel_mode"] is not None else None,
        cancel_reason=row["cancel_reason"],
        events_expire_time_us=row["events_expire_time"],
        owner=row["owner"],
        approvals=approvals_from_json(row["approvals"]),
        approval_expire_time_us=row["approval_expire_time"],
    )


def approvals_to_json(approvals: Sequence[ToolApproval]) -> str:
    return json.dumps(
        [
            [
                a.call_id,
                a.tool_name,
                a.arguments_json,
                int(a.decision),
                a.message,
                a.decide_time_us,
                a.request_id,
                a.decided_by,
            ]
            for a in approvals
        ],
        ensure_ascii=False,
    )


def approvals_from_json(text: str) -> tuple[ToolApproval, ...]:
    return tuple(
        ToolApproval(call_id, tool, arguments, Decision(decision), message, time, request, by)
        for call_id, tool, arguments, decision, message, time, request, by in json.loads(text)
    )
