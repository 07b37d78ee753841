"""Plain records the domain, the stores and the runtime exchange; no gRPC or SQL types here."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

DEFAULT_TENANT = "default"


def now_us() -> int:
    """The current time in microseconds since the epoch, the unit of every stored time."""
    return time.time_ns() // 1000


class SessionState(enum.IntEnum):
    """Mirrors agentsessions.v1.Session.State."""

    ACTIVE = 1
    PAUSED = 2
    COMPLETED = 3


class RunState(enum.IntEnum):
    """Mirrors agentsessions.v1.Run.State."""

    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    CANCELLED = 4
    QUEUED = 5
    REQUIRES_APPROVAL = 6


class Decision(enum.IntEnum):
    """Mirrors agentsessions.v1.ToolApproval.Decision."""

    UNDECIDED = 0
    APPROVE = 1
    REJECT = 2


class CancelMode(enum.IntEnum):
    """Mirrors agentsessions.v1.Run.CancelMode."""

    IMMEDIATE = 1
    AFTER_TURN = 2


class BusyPolicy(enum.IntEnum):
    """Mirrors agentsessions.v1.SendMessageRequest.BusyPolicy."""

    REJECT = 1
    WAIT = 2
    INTERRUPT = 3
    ENQUEUE = 4


class DisconnectPolicy(enum.IntEnum):
    """Mirrors agentsessions.v1.Run.DisconnectPolicy."""

    CANCEL = 1
    CONTINUE = 2


@dataclass(frozen=True, slots=True)
class ModelSettingsSpec:
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class AgentRecord:
    tenant: str
    agent_id: str
    display_name: str
    instructions: str = ""
    model: str = "echo"
    model_settings: ModelSettingsSpec = field(default_factory=ModelSettingsSpec)
    tools: tuple[str, ...] = ()
    handoffs: tuple[str, ...] = ()  # agent ids, not resource names
    history_max_items: int = 0  # 0: the model sees the whole history
    description: str = ""
    approval_tools: tuple[str, ...] = ()  # tools whose calls wait for approval
    approval_timeout_us: int = 0  # 0: the server's default
    create_time_us: int = 0
    update_time_us: int = 0
    etag: str = ""


@dataclass(frozen=True, slots=True)
class SessionStats:
    item_count: int = 0
    message_count: int = 0
    function_call_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    run_count: int = 0


@dataclass(frozen=True, slots=True)
class SessionRecord:
    tenant: str
    agent_id: str
    session_id: str
    display_name: str
    state: SessionState = SessionState.ACTIVE
    labels: dict[str, str] = field(default_factory=dict)
    create_time_us: int = 0
    update_time_us: int = 0
    last_activity_time_us: int = 0
    expire_time_us: int | None = None
    stats: SessionStats = field(default_factory=SessionStats)
    etag: str = ""


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Identifies one session; every store call on a session takes one."""

    tenant: str
    agent_id: str  # "-" is not allowed here: a key names exactly one session
    session_id: str


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item about to be stored; type, role and text are derived from item_json."""

    item_json: str
    type: str
    role: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class ItemRecord:
    sequence: int
    item_json: str
    type: str
    role: str
    text: str
    run_id: str
    create_time_us: int


@dataclass(frozen=True, slots=True)
class Usage:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True, slots=True)
class RunError:
    """A failed run's google.rpc.Status, kept as plain values."""

    code: int  # a grpc.StatusCode value's number
    message: str
    reason: str  # ErrorInfo reason, UPPER_SNAKE_CASE


@dataclass(frozen=True, slots=True)
class ToolApproval:
    """A tool call that waits, or waited, for a person's decision."""

    call_id: str
    tool_name: str
    arguments_json: str
    decision: Decision = Decision.UNDECIDED
    message: str = ""
    decide_time_us: int | None = None
    request_id: str = ""
    decided_by: str = ""


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    call_id: str
    decision: Decision
    message: str = ""


@dataclass(frozen=True, slots=True)
class RunRecord:
    key: SessionKey
    run_id: str
    state: RunState
    usage: Usage = field(default_factory=Usage)
    error: RunError | None = None
    start_time_us: int = 0
    end_time_us: int | None = None
    last_agent_id: str = ""
    request_id: str = ""
    request_hash: str = ""  # of the request's input: a retry must send the same
    on_disconnect: DisconnectPolicy = DisconnectPolicy.CANCEL
    last_sequence: int = 0  # of the newest event in the run's log
    cancel_mode: CancelMode | None = None
    cancel_reason: str = ""
    events_expire_time_us: int | None = None
    owner: str = ""  # the process executing the run (see runtime/leases.py)
    approvals: tuple[ToolApproval, ...] = ()
    approval_expire_time_us: int | None = None
    queue_position: int = 0  # while QUEUED, 1 for the next to start (read by get_run)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


FINISHED_STATES = frozenset({RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED})


@dataclass(frozen=True, slots=True)
class Lease:
    """A session held by a run (or another operation) of one process, until renewed or freed.

    `token` grows with every new holder; every write of the holder carries it (fencing), so a
    holder whose lease was taken over can no longer write.
    """

    key: SessionKey
    run_id: str  # "" when the holder is not a run (a compaction)
    owner: str
    token: int
    expire_time_us: int


@dataclass(frozen=True, slots=True)
class RunStart:
    """What starting a run did: started it, found the run of the same request, or found the
    session held (`busy`, the holder's lease)."""

    run: RunRecord | None
    lease: Lease | None = None
    joined: bool = False
    busy: Lease | None = None
    queued: bool = False  # the run is QUEUED, at run.queue_position


@dataclass(frozen=True, slots=True)
class Promoted:
    """A queued run that took its session: as recorded, its lease and its request."""

    run: RunRecord
    lease: Lease
    queued_input: str


@dataclass(frozen=True, slots=True)
class Resumed:
    """What deciding did: the run as recorded and, when no call waits any more, the lease
    it goes on under and the SDK state it goes on from."""

    run: RunRecord
    lease: Lease | None = None
    run_state: bytes | None = None


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One event in a run's log, encoded by the runtime's codec."""

    sequence: int
    terminal: bool
    body: bytes


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events read from a run's log, with the run as it was when they were read.

    `expired` says the log no longer holds events the reader asked for (retention).
    """

    run: RunRecord
    events: list[LoggedEvent]
    expired: bool = False


@dataclass(frozen=True, slots=True)
class FinishedRun:
    run: RunRecord
    stats: SessionStats
    terminal: LoggedEvent  # the run's last event, as appended
    queued: int = 0  # runs queued on the session, which may start now that it is free


@dataclass(frozen=True, slots=True)
class CompactedHistory:
    """What one compaction did: the session after it, the items it removed, its summary."""

    session: SessionRecord
    removed_item_count: int = 0
    summary: ItemRecord | None = None  # None when there was nothing to compact
    usage: Usage = field(default_factory=Usage)  # of the model that wrote the summary
