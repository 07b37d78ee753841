"""The `Store` interface every backend implements, and the query values it takes.

Stores speak in domain records (`domain.models`) and raise domain errors
(`domain.errors`); they never see gRPC types. Every method that changes
several rows does so in one transaction, and every list is a keyset-paged,
indexed query: no store keeps a list of sessions in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ..domain.models import (
    AgentRecord,
    ApprovalDecision,
    CancelMode,
    CompactedHistory,
    EventPage,
    FinishedRun,
    ItemRecord,
    Lease,
    LoggedEvent,
    NewItem,
    Promoted,
    Resumed,
    RunRecord,
    RunStart,
    RunState,
    SessionKey,
    SessionRecord,
    SessionState,
    SessionStats,
    Usage,
)

# Builds a run's terminal event from the run as recorded, the session's stats and the event's
# sequence; the store calls it inside the transaction that ends the run.
TerminalEncoder = Callable[[RunRecord, SessionStats, int], bytes]
# Builds a run's events about items it stores (with their sequences) inside the transaction
# that stores them.
ItemEventsEncoder = Callable[[list[ItemRecord]], list[LoggedEvent]]
# Builds a queued run's first event from the run as recorded and its place in the queue.
QueuedEncoder = Callable[[RunRecord, int], bytes]

SessionOrderField = Literal["last_activity_time", "create_time", "update_time"]


@dataclass(frozen=True, slots=True)
class SessionOrder:
    field: SessionOrderField = "last_activity_time"
    descending: bool = True


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Conditions that must all hold."""

    state: SessionState | None = None
    labels: dict[str, str] = field(default_factory=dict)
    display_name: str | None = None
    display_name_contains: str | None = None


@dataclass(frozen=True, slots=True)
class SessionCursor:
    """Where the previous page ended: the order value and the row's tie-breaker."""

    value: int
    row: int


@dataclass(frozen=True, slots=True)
class SessionQuery:
    tenant: str
    agent_id: str | None  # None lists across every agent (`agents/-`)
    filter: SessionFilter = field(default_factory=SessionFilter)
    order: SessionOrder = field(default_factory=SessionOrder)
    after: SessionCursor | None = None
    limit: int = 50
    # The last position to look at (inclusive): where a scan budget ends (scan_sessions).
    until: SessionCursor | None = None
    # Fewer rows once their sizes pass this (domain.paging.read_page); None: no byte bound.
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class SessionPageEntry:
    session: SessionRecord
    cursor: SessionCursor


@dataclass(frozen=True, slots=True)
class SessionScan:
    """What a list that may examine only so many rows found."""

    entries: list[SessionPageEntry]
    # The last row it examined, when rows remain after it: the list goes on from there.
    end: SessionCursor | None


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Conditions that must all hold."""

    state: RunState | None = None


@dataclass(frozen=True, slots=True)
class RunCursor:
    """A position in a run list: newest first, ties by run id, then by the session's row
    (run ids are unique within a session only)."""

    start_time_us: int
    run_id: str
    session_row: int


@dataclass(frozen=True, slots=True)
class RunQuery:
    """The runs of one session, of every session of an agent, or of a whole tenant."""

    tenant: str
    agent_id: str | None = None  # None: every agent's (`agents/-/sessions/-`)
    session_id: str | None = None  # None: every session's (`agents/{a}/sessions/-`)
    filter: RunFilter = field(default_factory=RunFilter)
    after: RunCursor | None = None
    limit: int = 50
    # The last position to look at (inclusive): where a scan budget ends (scan_runs).
    until: RunCursor | None = None
    # Fewer rows once their sizes pass this (domain.paging.read_page); None: no byte bound.
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class RunPageEntry:
    run: RunRecord
    cursor: RunCursor


@dataclass(frozen=True, slots=True)
class RunScan:
    """What a run list that may examine only so many rows found."""

    entries: list[RunPageEntry]
    # The last row it examined, when rows remain after it: the list goes on from there.
    end: RunCursor | None


@dataclass(frozen=True, slots=True)
class ItemsRequest:
    """An AddItems call with a request_id (AIP-155): a retry with it stores nothing again."""

    request_id: str
    request_hash: str  # what a retry with the same request_id must repeat
    forget_before_us: int  # the session's requests stored before this are forgotten


@dataclass(frozen=True, slots=True)
class AddedItems:
    items: list[ItemRecord]
    request_hash: str  # of the call that first used the request_id
    replayed: bool  # the request_id was used before: this call stored nothing


class Store(Protocol):
    """What the domain needs from storage. Implementations: SQLite (default), PostgreSQL."""

    async def open(self) -> None:
        """Connects and migrates the schema to the current version."""

    async def close(self) -> None:
        """Waits for writes in flight and releases connections."""

    # Agents ---------------------------------------------------------------

    async def create_agent(self, agent: AgentRecord, request_id: str | None) -> AgentRecord:
        """Stores a new agent. With a `request_id` seen before, returns that
        request's agent instead. Raises AlreadyExists for a taken id."""

    async def get_agent(self, tenant: str, agent_id: str) -> AgentRecord | None: ...

    async def get_agents(self, tenant: str, agent_ids: Sequence[str]) -> list[AgentRecord]:
        """The agents among `agent_ids` that exist, in no particular order."""

    async def list_agents(
        self,
        tenant: str,
        *,
        after: tuple[int, str] | None,
        limit: int,
        max_bytes: int | None = None,
    ) -> list[AgentRecord]:
        """Agents oldest first; `after` is (create_time_us, agent_id) of the last one seen.
        Fewer than `limit` once their sizes pass `max_bytes` (domain.paging.read_page)."""

    async def update_agent(
        self, tenant: str, agent_id: str, change: Callable[[AgentRecord], AgentRecord]
    ) -> AgentRecord | None:
        """In one transaction: reads the agent, stores every field of `change(agent)` but its
        id and create time, and returns what it stored; None when there is no such agent.
        `change` decides (the etag and update time too) and may raise to store nothing."""

    async def delete_agent(
        self, tenant: str, agent_id: str, *, force: bool, expected_etag: str | None
    ) -> None:
        """Raises NotFound, Aborted on an etag mismatch, FailedPrecondition if it
        has sessions and not `force`; with `force` deletes them and their items."""

    # Sessions -------------------------------------------------------------

    async def create_session(self, session: SessionRecord, request_id: str | None) -> SessionRecord:
        """Raises NotFound when the agent is missing, AlreadyExists for a taken id."""

    async def get_session(self, key: SessionKey) -> SessionRecord | None: ...

    async def list_sessions(self, query: SessionQuery) -> list[SessionPageEntry]:
        """The sessions of `query` in its order, after `after` and up to `until`."""

    async def scan_sessions(self, query: SessionQuery, rows: int) -> SessionScan:
        """list_sessions, looking at no more than the next `rows` sessions in the order after
        `after` (counted whether or not they match the filter)."""

    async def update_session(
        self, key: SessionKey, change: Callable[[SessionRecord], SessionRecord]
    ) -> SessionRecord | None:
        """In one transaction: reads the session and stores display_name, state, labels,
        expire_time, update_time and etag of `change(session)`; returns the session as
        stored, None when there is no such session. `change` may raise to store nothing."""

    async def delete_session(self, key: SessionKey, *, expected_etag: str | None) -> None: ...

    async def delete_sessions(self, keys: Sequence[SessionKey]) -> None:
        """Deletes every session of `keys` with its items and runs in one transaction, or
        none: raises NotFound naming the first missing one (in the order of `keys`)."""

    # Items ----------------------------------------------------------------

    async def add_items(
        self,
        key: SessionKey,
        items: Sequence[NewItem],
        *,
        run_id: str = "",
        fence: Lease | None = None,
    ) -> list[ItemRecord]:
        """Appends items in one transaction with dense, increasing sequences,
        updates the session's stats and last activity. Raises NotFound; with a
        `fence`, Aborted (LEASE_LOST) unless that lease still holds the session."""

    async def add_items_once(
        self, key: SessionKey, items: Sequence[NewItem], request: ItemsRequest
    ) -> AddedItems:
        """`add_items` under a request_id, in one transaction: when the session has a request
        with `request.request_id`, stores nothing and returns that request's hash and items
        (sequence, type, role, create time; no item_json or text); otherwise stores the
        items and the request, and forgets the session's requests stored before
        `request.forget_before_us`. Raises NotFound."""

    async def list_items(
        self,
        key: SessionKey,
        *,
        after_sequence: int = 0,
        newest_count: int = 0,
        limit: int | None = None,
        max_bytes: int | None = None,
    ) -> list[ItemRecord]:
        """Items in chronological order with a sequence above `after_sequence`,
        only the newest `newest_count` when it is not 0, at most `limit`, fewer once
        their sizes pass `max_bytes` (domain.paging.read_page).
        Raises NotFound when the session is missing."""

    async def pop_item(self, key: SessionKey) -> ItemRecord | None:
        """Removes and returns the newest item; None when the session is empty."""

    async def clear_items(self, key: SessionKey) -> int:
        """Removes every item; returns how many."""

    async def compact_items(
        self,
        key: SessionKey,
        *,
        through_sequence: int,
        summary: NewItem | None,
        expected_history_version: int,
        usage: Usage | None = None,
    ) -> CompactedHistory:
        """Replaces items 1..`through_sequence` by `summary` in one transaction.

        The summary (when given) becomes item 1 and the later items follow it with
        dense sequences; item, message and function-call counts are recomputed,
        `usage` is added to the token counts, and last activity is updated. Raises
        NotFound; Aborted (HISTORY_CHANGED) when the history is no longer at
        `expected_history_version` (see `get_history_version`), as the caller read it;
        InvalidArgument when `through_sequence` is not within 1..item count.
        """

    async def get_history_version(self, key: SessionKey) -> int | None:
        """A number every write to the session's items changes (add, pop, clear, compaction):
        read before the items, it tells a later write whether they are still the same.
        None when there is no such session."""

    # Runs -----------------------------------------------------------------

    async def start_run(self, run: RunRecord, *, lease_expire_time_us: int) -> RunStart:
        """In one transaction: when `run.request_id` names a run of the session, returns it
        (`joined`); when another holds the session, returns its lease (`busy`); otherwise
        takes the session's lease for `run` (owner `run.owner`), records the run RUNNING
        and counts it in the session's stats. Raises NotFound, AlreadyExists for a taken
        run id."""

    async def finish_run(
        self,
        run: RunRecord,
        *,
        lease: Lease,
        terminal: TerminalEncoder,
        events: Sequence[LoggedEvent] = (),
        items: Sequence[NewItem] = (),
    ) -> FinishedRun:
        """In one transaction, while `lease` holds the session: appends the run's last
        `events`, records its end state, usage, error, cancellation and
        `events_expire_time_us`, adds its usage to the session's stats, appends
        `terminal(run, stats, sequence)` as the run's last event and frees the session.
        Raises NotFound, FailedPrecondition (RUN_ALREADY_FINISHED), Aborted (LEASE_LOST)
        when another holds the session now."""

    async def enqueue_run(
        self,
        run: RunRecord,
        queued_input: str,
        *,
        max_queued: int,
        lease_expire_time_us: int,
        announce: QueuedEncoder,
    ) -> RunStart:
        """In one transaction: starts `run` (as start_run) when its session is free and
        nothing is queued, joins the run of its request_id, or records it QUEUED with its
        request and first event `announce(run, position)` (RunStart.queued).
        ResourceExhausted (QUEUE_FULL) when `max_queued` runs are queued already."""

    async def promote_next(
        self, key: SessionKey, *, owner: str, lease_expire_time_us: int
    ) -> Promoted | None:
        """When the session is free: the head of its queue, RUNNING now under a new lease of
        `owner`, with its request; None when the session is held or nothing is queued."""

    async def cancel_queued(
        self,
        key: SessionKey,
        run_id: str,
        *,
        reason: str,
        events_expire_time_us: int,
        terminal: TerminalEncoder,
    ) -> RunRecord | None:
        """Ends a QUEUED run as CANCELLED with its terminal event; None when it is not queued."""

    async def queued_sessions(self, *, limit: int) -> list[SessionKey]:
        """Sessions with queued runs that nobody holds."""

    async def get_lease(self, key: SessionKey) -> Lease | None:
        """Who holds the session now; None when it is free or does not exist."""

    async def pause_run(
        self, run: RunRecord, *, lease: Lease, run_state: bytes, events: Sequence[LoggedEvent]
    ) -> RunRecord:
        """In one transaction, while `lease` holds the session: records the RUNNING run as
        REQUIRES_APPROVAL with `run.approvals` and `run.approval_expire_time_us`, keeps
        `run_state` (the SDK's, to go on from), appends `events` and hands the lease to no
        process until the approval expires. FailedPrecondition when the run is not running."""

    async def decide_approvals(
        self,
        key: SessionKey,
        run_id: str,
        decisions: Sequence[ApprovalDecision],
        *,
        request_id: str,
        decided_by: str,
        owner: str,
        lease_expire_time_us: int,
    ) -> Resumed:
        """Records `decisions` on the run, all or none: InvalidArgument (UNKNOWN_CALL),
        FailedPrecondition (ALREADY_DECIDED, unless the same request decided the same;
        RUN_NOT_WAITING). When no call waits any more, the run is RUNNING again under a new
        lease of `owner` and its SDK state comes back with it."""

    async def get_run(self, key: SessionKey, run_id: str) -> RunRecord | None: ...

    async def list_runs(
        self,
        key: SessionKey,
        *,
        after: tuple[int, str] | None,
        limit: int,
        max_bytes: int | None = None,
    ) -> list[RunRecord]:
        """Runs newest first; `after` is (start_time_us, run_id) of the previous page's last.
        Fewer than `limit` once their sizes pass `max_bytes` (domain.paging.read_page)."""

    async def find_runs(self, query: RunQuery) -> list[RunPageEntry]:
        """The runs of `query` newest first, after `after` and up to `until`, each with its
        position. Fewer than `limit` once their sizes pass `max_bytes`."""

    async def scan_runs(self, query: RunQuery, rows: int) -> RunScan:
        """find_runs, looking at no more than the next `rows` runs in the order after `after`
        that its index walk visits (a session's runs, or the tenant's runs of the filter's
        state, or all the tenant's runs), counted whether or not they match."""

    async def request_cancel(
        self, key: SessionKey, run_id: str, mode: CancelMode, reason: str
    ) -> RunRecord | None:
        """Records a cancel request on a running run (IMMEDIATE overrides AFTER_TURN; the
        first reason stays) and returns the run, unchanged when it has ended; None when
        there is no such run."""

    async def cancel_requests(self, owner: str) -> list[RunRecord]:
        """The running runs of `owner` that were asked to stop."""

    # Leases ---------------------------------------------------------------

    async def acquire_lease(
        self, key: SessionKey, *, owner: str, expire_time_us: int
    ) -> tuple[Lease | None, Lease | None]:
        """Takes a free session for an operation that is not a run: (lease, None), or
        (None, the holder's lease). Raises NotFound."""

    async def release_lease(self, lease: Lease) -> bool:
        """Frees the session if `lease` still holds it; returns whether it did."""

    async def renew_leases(self, owner: str, expire_time_us: int) -> int:
        """Moves the expiry of every lease of `owner`; returns how many it holds."""

    async def list_leases(self, *, limit: int) -> list[Lease]:
        """Held leases, the soonest to expire first."""

    # Run events -----------------------------------------------------------

    async def append_run_events(self, lease: Lease, events: Sequence[LoggedEvent]) -> None:
        """Appends events of the run holding `lease`; Aborted (LEASE_LOST) once it lost it."""

    async def add_run_items(
        self,
        lease: Lease,
        items: Sequence[NewItem],
        *,
        pending: Sequence[LoggedEvent],
        encode: ItemEventsEncoder,
    ) -> tuple[list[ItemRecord], list[LoggedEvent]]:
        """In one transaction, while `lease` holds the session: stores `items` for its run and
        appends the run's `pending` events, then `encode(records)`. Returns the records and
        every event appended, in order."""

    async def read_run_events(
        self, key: SessionKey, run_id: str, *, after_sequence: int, limit: int, max_bytes: int
    ) -> EventPage | None:
        """The run and up to `limit` of its events after `after_sequence` (fewer past
        `max_bytes`, never none when there is one), from one snapshot; `expired` when
        events asked for were deleted. None when there is no such run."""

    async def expire_run_events(self, now_us: int, *, runs: int, events: int) -> int:
        """One bounded step of the retention sweep; returns how many events it deleted."""

    def data_version(self) -> int:
        """A number that changes when any connection, of any process, has committed; cheap
        enough to poll (the signal followers of runs in other processes wait on)."""


__all__ = [
    "AddedItems",
    "ItemEventsEncoder",
    "ItemsRequest",
    "QueuedEncoder",
    "RunCursor",
    "RunFilter",
    "RunPageEntry",
    "RunQuery",
    "RunScan",
    "SessionCursor",
    "SessionFilter",
    "SessionOrder",
    "SessionPageEntry",
    "SessionQuery",
    "SessionScan",
    "Store",
    "TerminalEncoder",
    "Usage",
]
