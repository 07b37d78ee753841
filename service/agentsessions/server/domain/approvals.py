"""The rules of a ResolveApprovals request: which decisions are well-formed."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import quote
from .models import ApprovalDecision, Decision
from .validation import Violations

MAX_DECISIONS = 64
CALL_ID_MAX = 128
MESSAGE_MAX = 4096


def decisions_of(raw: Sequence[tuple[str, int, str]]) -> list[ApprovalDecision]:
    """(call_id, decision number, message) as the caller sent them, checked: 1 to 64
    decisions, each for a distinct call, APPROVE or REJECT, messages up to 4096 characters."""
    found = Violations()
    if not raw:
        found.add("decisions", "give at least one decision")
    elif len(raw) > MAX_DECISIONS:
        found.add("decisions", f"at most {MAX_DECISIONS} in one request, got {len(raw)}")
    seen: set[str] = set()
    decisions: list[ApprovalDecision] = []
    for index, (call_id, number, message) in enumerate(raw[:MAX_DECISIONS]):
        field = f"decisions[{index}]"
        if not call_id or len(call_id) > CALL_ID_MAX:
            found.add(f"{field}.call_id", f"must be 1 to {CALL_ID_MAX} characters")
        elif call_id in seen:
            found.add(f"{field}.call_id", f"{quote(call_id)} is decided twice in this request")
        seen.add(call_id)
        if number not in (Decision.APPROVE, Decision.REJECT):
            found.add(f"{field}.decision", "must be APPROVE or REJECT")
        if len(message) > MESSAGE_MAX:
            found.add(f"{field}.message", f"must be at most {MESSAGE_MAX} characters")
        elif message and number == Decision.APPROVE:
            found.add(f"{field}.message", "is given with REJECT only")
        if not found.items:
            decisions.append(ApprovalDecision(call_id, Decision(number), message))
    found.raise_if_any()
    return decisions
