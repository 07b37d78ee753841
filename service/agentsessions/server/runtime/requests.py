"""What a caller asks of the run manager, and the answers that are not runs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..domain.errors import Aborted, DomainError
from ..domain.models import BusyPolicy, DisconnectPolicy, Lease, RunRecord, SessionKey
from ..domain.names import run_name, session_name
from .inputs import DEFAULT_MAX_TURNS, RunInput

COMPACTION = "CompactSession"


@dataclass(frozen=True, slots=True)
class SendOptions:
    busy_policy: BusyPolicy | None = None  # None: WAIT with wait_if_busy, else REJECT
    wait_if_busy: bool = False
    wait_timeout: float | None = None  # seconds to wait for a busy session
    max_turns: int = DEFAULT_MAX_TURNS
    request_id: str = ""
    on_disconnect: DisconnectPolicy = DisconnectPolicy.CANCEL

    @property
    def when_busy(self) -> BusyPolicy:
        if self.busy_policy is not None:
            return self.busy_policy
        return BusyPolicy.WAIT if self.wait_if_busy else BusyPolicy.REJECT


@dataclass(frozen=True, slots=True)
class RunHandle:
    run: RunRecord
    joined: bool  # the run of the same request_id, started earlier


def request_hash(run_input: RunInput, max_turns: int) -> str:
    """What a retry with the same request_id must repeat."""
    canonical = json.dumps(
        {"text": run_input.text, "items": list(run_input.items), "max_turns": max_turns},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def busy_error(key: SessionKey, holder: Lease, error: type[DomainError] = Aborted) -> DomainError:
    if holder.run_id:
        what, name = "run", run_name(key, holder.run_id)
    else:
        what, name = "operation", COMPACTION
    return error(
        f"{session_name(key)} is busy with {name}; retry, or send with busy_policy WAIT",
        reason="SESSION_BUSY",
        metadata={"session": session_name(key), what: name},
    )
