"""Tool calls that wait for a person: what a paused run keeps, and how it goes on or ends.

A run whose model calls a tool that needs approval stops before the tool runs (the Agents SDK
reports the calls as interruptions). The run keeps the SDK's state in the store and holds its
session while it waits (store.pause_run). `ResolveApprovals` records decisions; the last one
hands the run to the deciding process, which rebuilds the agent, loads the state, applies the
decisions and goes on in the same run. A run that waits past its approval time, or is
cancelled while it waits, ends CANCELLED; each waiting call gets an output saying it did not
run, so the history never holds a call without its output.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from agents import Agent
from agents.items import ToolApprovalItem
from agents.run_state import RunState as SdkRunState

from ..domain.errors import DomainError
from ..domain.models import (
    CancelMode,
    Decision,
    Lease,
    NewItem,
    RunRecord,
    RunState,
    ToolApproval,
    now_us,
)
from ..domain.validation import describe_item
from ..store.base import Store
from .inputs import DEFAULT_MAX_TURNS
from .run_log import Encoder, terminal_encoder

APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
EXPIRED_OUTPUT = "The call did not run: nobody approved it in time."
CANCELLED_OUTPUT = "The call did not run: the run was cancelled while it waited for approval."
REJECTED_OUTPUT = "The call did not run: it was rejected."


def approval_of(item: ToolApprovalItem) -> ToolApproval:
    raw = item.raw_item
    call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
    arguments = item.arguments or "{}"
    return ToolApproval(str(call_id or ""), item.tool_name or "", arguments)


@dataclasses.dataclass(frozen=True, slots=True)
class PausedInput:
    """What a run that waited goes on from: the SDK's state and the decisions."""

    state: dict[str, Any]  # the SDK's RunState as JSON, parsed
    approvals: tuple[ToolApproval, ...]

    @classmethod
    async def load(cls, state_json: bytes, approvals: tuple[ToolApproval, ...]) -> PausedInput:
        """Parses the stored state off the event loop: it holds the whole history."""
        state = await asyncio.to_thread(json.loads, state_json)
        if not isinstance(state, dict):
            raise ValueError("the stored run state is not a JSON object")
        return cls(state, approvals)

    @property
    def max_turns(self) -> int:
        turns = self.state.get("max_turns")
        return turns if isinstance(turns, int) and turns > 0 else DEFAULT_MAX_TURNS

    async def to_sdk(self, agent: Agent[Any]) -> SdkRunState[Any, Agent[Any]]:
        state: SdkRunState[Any, Agent[Any]] = await SdkRunState.from_json(agent, self.state)
        decided = {a.call_id: a for a in self.approvals}
        for item in state.get_interruptions():
            approval = decided.get(approval_of(item).call_id)
            if approval is not None and approval.decision == Decision.APPROVE:
                state.approve(item)
            else:
                message = approval.message if approval is not None else ""
                state.reject(item, rejection_message=message or REJECTED_OUTPUT)
        return state


def _outputs(run: RunRecord, text: str) -> list[NewItem]:
    """An output for each call the waiting run never ran."""
    items = []
    for approval in run.approvals:
        item = {"type": "function_call_output", "call_id": approval.call_id, "output": text}
        items.append(describe_item(item, json.dumps(item, ensure_ascii=False)))
    return items


async def waiting_lease(store: Store, run: RunRecord) -> Lease | None:
    """The lease a waiting run holds its session with; None when it holds it no longer."""
    holder = await store.get_lease(run.key)
    return holder if holder is not None and holder.run_id == run.run_id else None


async def end_waiting(
    store: Store,
    run: RunRecord,
    lease: Lease,
    *,
    reason: str,
    output: str,
    encode: Encoder,
    retention_us: int,
) -> RunRecord | None:
    """Ends a run that waits for approval as CANCELLED with `reason`, storing `output` for
    each waiting call, in one transaction; None when the run no longer waits (it went on,
    or ended, meanwhile)."""
    end = now_us()
    cancelled = dataclasses.replace(
        run,
        state=RunState.CANCELLED,
        end_time_us=end,
        cancel_mode=CancelMode.IMMEDIATE,
        cancel_reason=reason,
        events_expire_time_us=end + retention_us,
    )
    try:
        finished = await store.finish_run(
            cancelled, lease=lease, terminal=terminal_encoder(encode), items=_outputs(run, output)
        )
    except DomainError:
        return None
    return finished.run
