"""Runs that wait for a person's approval of tool calls, in SQLite.

A run that stops for approval keeps its session's lease, handed to no process: its owner is
`WAITING_OWNER` and it expires when the approval does, so no process renews it and whichever
process sweeps first after that ends the run. Deciding the last waiting call hands the lease
to the deciding process, with a new token, in the same transaction that records the decision.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from ..domain.errors import FailedPrecondition, InvalidArgument
from ..domain.models import (
    ApprovalDecision,
    Decision,
    Lease,
    LoggedEvent,
    Resumed,
    RunRecord,
    RunState,
    SessionKey,
    ToolApproval,
    now_us,
)
from ..domain.names import run_name
from ..domain.resource_errors import lease_lost, run_metadata, run_not_found
from .sqlite_events import insert_events
from .sqlite_history import LEASE_COLUMNS, check_fence, session_row
from .sqlite_rows import RUN_COLUMNS, approvals_to_json, run_from_row
from .sqlite_runs import take_lease
from .sqlite_sql import execute, fetch_one

# The owner of a waiting run's lease: no process (see owners.is_gone: never "gone").
WAITING_OWNER = "waiting-for-approval"


def _run_row(conn: sqlite3.Connection, session_pk: int, run_id: str) -> sqlite3.Row | None:
    return fetch_one(
        conn,
        f"SELECT {RUN_COLUMNS} FROM runs AS r WHERE r.session_pk = ? AND r.run_id = ?",
        (session_pk, run_id),
    )


def pause_run(
    conn: sqlite3.Connection,
    run: RunRecord,
    lease: Lease,
    run_state: bytes,
    events: Sequence[LoggedEvent],
) -> RunRecord:
    """Records the run as waiting for `run.approvals` until `run.approval_expire_time_us`,
    keeps the SDK's state, appends `events` and hands the lease to no process."""
    key = run.key
    session = session_row(conn, key, LEASE_COLUMNS)
    check_fence(session, key, lease)
    if events:
        insert_events(conn, session["pk"], run.run_id, events)
    row = fetch_one(
        conn,
        f"""
        UPDATE runs
           SET state = ?, approvals = ?, approval_expire_time = ?, run_state = ?,
               last_agent_id = ?, last_sequence = max(last_sequence, ?)
         WHERE session_pk = ? AND run_id = ? AND state = ?
        RETURNING {RUN_COLUMNS.replace("r.", "")}
        """,
        (
            int(RunState.REQUIRES_APPROVAL),
            approvals_to_json(run.approvals),
            run.approval_expire_time_us,
            run_state,
            run.last_agent_id,
            events[-1].sequence if events else 0,
            session["pk"],
            run.run_id,
            int(RunState.RUNNING),
        ),
    )
    if row is None:
        raise FailedPrecondition(
            f"{run_name(key, run.run_id)} is not running",
            reason="RUN_NOT_RUNNING",
            metadata=run_metadata(key, run.run_id),
        )
    execute(
        conn,
        "UPDATE sessions SET lease_owner = ?, lease_expire_time = ? WHERE pk = ?",
        (WAITING_OWNER, run.approval_expire_time_us, session["pk"]),
    )
    return run_from_row(key, row)


def _decided(
    approvals: tuple[ToolApproval, ...],
    decisions: Sequence[ApprovalDecision],
    request_id: str,
    decided_by: str,
) -> tuple[tuple[ToolApproval, ...], bool]:
    """The approvals with `decisions` recorded, and whether any decision is new (a decision
    repeated by the same request is a retry, not a new one)."""
    by_call = {a.call_id: a for a in approvals}
    now = now_us()
    changed = False
    for index, decision in enumerate(decisions):
        approval = by_call.get(decision.call_id)
        if approval is None:
            raise InvalidArgument.field(
                f"decisions[{index}].call_id",
                "is not a call of this run that needs approval",
                reason="UNKNOWN_CALL",
            )
        if approval.decision != Decision.UNDECIDED:
            retry = (
                request_id
                and approval.request_id == request_id
                and approval.decision == decision.decision
            )
            if retry:
                continue
            raise FailedPrecondition(
                f"the call {decision.call_id[:64]!r} was already decided",
                reason="ALREADY_DECIDED",
                metadata={"call_id": decision.call_id[:64], "decision": approval.decision.name},
            )
        by_call[decision.call_id] = replace(
            approval,
            decision=decision.decision,
            message=decision.message,
            decide_time_us=now,
            request_id=request_id,
            decided_by=decided_by,
        )
        changed = True
    return tuple(by_call[a.call_id] for a in approvals), changed


def decide(
    conn: sqlite3.Connection,
    key: SessionKey,
    run_id: str,
    decisions: Sequence[ApprovalDecision],
    *,
    request_id: str,
    decided_by: str,
    owner: str,
    lease_expire_time_us: int,
) -> Resumed:
    """Records `decisions` on the waiting run; when none is left undecided, the run is
    RUNNING again under a lease of `owner`. All or nothing: one bad decision records none."""
    session = session_row(conn, key, LEASE_COLUMNS)
    row = _run_row(conn, session["pk"], run_id)
    if row is None:
        raise run_not_found(key, run_id)
    run = run_from_row(key, row)
    approvals, changed = _decided(run.approvals, decisions, request_id, decided_by)
    if not changed:
        return Resumed(run)  # a retry of decisions already recorded
    if run.state != RunState.REQUIRES_APPROVAL:
        raise FailedPrecondition(
            f"{run_name(key, run_id)} is not waiting for approval",
            reason="RUN_NOT_WAITING",
            metadata={**run_metadata(key, run_id), "state": run.state.name},
        )
    waiting = any(a.decision == Decision.UNDECIDED for a in approvals)
    state = RunState.REQUIRES_APPROVAL if waiting else RunState.RUNNING
    updated = fetch_one(
        conn,
        f"""
        UPDATE runs SET approvals = ?, state = ?, owner = CASE WHEN ? THEN owner ELSE ? END
         WHERE session_pk = ? AND run_id = ?
        RETURNING {RUN_COLUMNS.replace("r.", "")}, run_state
        """,
        (
            approvals_to_json(approvals),
            int(state),
            waiting,
            owner,
            session["pk"],
            run_id,
        ),
    )
    assert updated is not None  # read in this transaction
    resumed = run_from_row(key, updated)
    if waiting:
        return Resumed(resumed)
    if session["lease_run_id"] != run_id or session["lease_owner"] != WAITING_OWNER:
        raise lease_lost(key, run_id)
    lease = take_lease(conn, key, session, run_id, owner, lease_expire_time_us)
    return Resumed(resumed, lease, bytes(updated["run_state"] or b""))
