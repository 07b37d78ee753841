"""A run's event log: the run appends to it, subscribers read it at their own pace.

The log in the store is the only buffer between a run and its subscribers, so a reader that
stalls costs no memory, and a reader on another process sees the same events. `EventLog`
writes a run's events in batches: the first event goes at once, and events that arrive while
a batch is being committed go together in the next (one commit per batch, however fast the
model streams). Subscribers (`follow`) read pages after their own position, and wait on
`RunSignals` between pages: a batch committed in this process wakes them at once and hands
them the batch itself when they are caught up; for runs in other processes the store's data
version is polled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable

from ..domain.errors import InvalidArgument, OutOfRange
from ..domain.models import (
    ItemRecord,
    Lease,
    LoggedEvent,
    NewItem,
    RunError,
    RunRecord,
    RunState,
    SessionKey,
    SessionStats,
)
from ..domain.names import run_name
from ..domain.resource_errors import run_not_found
from ..store.base import ItemEventsEncoder, Store, TerminalEncoder
from .events import (
    TERMINAL_EVENTS,
    RunCancelledEvent,
    RunCompletedEvent,
    RunEvent,
    RunFailedEvent,
)

Encoder = Callable[[RunEvent], bytes]

PAGE_EVENTS = 256
PAGE_BYTES = 1024 * 1024
# A batch this large makes the run wait for the one being committed: bounded memory.
MAX_PENDING = 512
# Followers re-read at least this often, whatever the signals say.
SAFETY_WAIT_SECONDS = 1.0


def terminal_encoder(encode: Encoder, final_output: str = "") -> TerminalEncoder:
    """Builds the terminal event of a run from its end as the store records it."""

    def build(run: RunRecord, stats: SessionStats, sequence: int) -> bytes:
        event: RunEvent
        if run.state == RunState.COMPLETED:
            event = RunCompletedEvent(
                sequence=sequence,
                key=run.key,
                run=run,
                final_output=final_output,
                usage=run.usage,
                stats=stats,
            )
        elif run.state == RunState.CANCELLED:
            event = RunCancelledEvent(
                sequence=sequence, key=run.key, run=run, reason=run.cancel_reason
            )
        else:
            error = run.error or RunError(13, "the run failed", "MODEL_ERROR")
            event = RunFailedEvent(
                sequence=sequence, key=run.key, run=run, error=error, stats=stats
            )
        return encode(event)

    return build


class RunSignals:
    """Wakes waiters on a topic (a run's or a session's name) when the log may have changed.

    A waiter takes a ticket before it reads and waits only while the ticket is current, so a
    change between its read and its wait is never missed. Topics of this process's runs are
    signalled by `publish`; waiters on other topics are woken when the store's data version
    changes, polled every `poll_seconds` while such a waiter exists.
    """

    def __init__(self, store: Store, *, poll_seconds: float = 0.005) -> None:
        self._store = store
        self._poll_seconds = poll_seconds
        self._versions: dict[str, int] = {}
        self._remote_version = 0
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._remote_waiters = 0
        self._batches: dict[str, list[LoggedEvent]] = {}
        self._failures: dict[str, BaseException] = {}
        self._local: set[str] = set()
        self._poller: asyncio.Task[None] | None = None
        self._closed = False

    def add_local(self, topic: str) -> None:
        self._local.add(topic)

    def remove_local(self, topic: str) -> None:
        self._local.discard(topic)
        # Followers still catching up take the terminal batch for a moment longer.
        asyncio.get_running_loop().call_later(1.0, self._batches.pop, topic, None)
        self._failures.pop(topic, None)
        self.publish(topic)

    def is_local(self, topic: str) -> bool:
        return topic in self._local

    def is_fresh(self, topic: str) -> bool:
        """A run of this process that has not published anything yet."""
        return topic in self._local and topic not in self._versions

    def ticket(self, topic: str) -> tuple[int, int]:
        return self._versions.get(topic, 0), self._remote_version

    def caught_up(self, topic: str, position: int) -> bool:
        """Whether a follower at `position` has every batch this process's run published:
        nothing newer is in the log, so it may wait without reading."""
        batch = self._batches.get(topic)
        return topic in self._local and batch is not None and batch[-1].sequence == position

    def latest(self, topic: str, position: int) -> list[LoggedEvent] | None:
        """The batch committed last on `topic`, if it starts right after `position`."""
        batch = self._batches.get(topic)
        if batch and batch[0].sequence == position + 1:
            return batch
        return None

    def fail(self, topic: str, error: BaseException) -> None:
        """The topic's run cannot go on writing for now: its followers raise `error`."""
        self._failures[topic] = error
        self.publish(topic)

    def failure(self, topic: str) -> BaseException | None:
        return self._failures.get(topic)

    def publish(self, topic: str, batch: list[LoggedEvent] | None = None) -> None:
        """`batch` (if any) is committed: wake the topic's waiters."""
        if batch is not None:
            self._failures.pop(topic, None)
        self._versions[topic] = self._versions.get(topic, 0) + 1
        if batch is not None and topic in self._local:
            self._batches[topic] = batch
        for waiter in self._waiters.pop(topic, ()):
            if not waiter.done():
                waiter.set_result(None)
        if topic not in self._local:
            # Everyone waiting was woken, and a ticket taken later reads the log first: the
            # map keeps the runs of this process only.
            self._versions.pop(topic, None)

    async def wait(self, topic: str, ticket: tuple[int, int], seconds: float) -> None:
        """Returns when the topic changed since `ticket`, or after `seconds`."""
        if self.ticket(topic) != ticket or self._closed:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(topic, set()).add(waiter)
        remote = topic not in self._local
        if remote:
            self._remote_waiters += 1
            self._ensure_poller()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await waiter
        finally:
            if remote:
                self._remote_waiters -= 1
            waiters = self._waiters.get(topic)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[topic]

    def _ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name="run-signals-poller")

    async def _poll(self) -> None:
        version = self._store.data_version()
        while self._remote_waiters > 0 and not self._closed:
            await asyncio.sleep(self._poll_seconds)
            try:
                current = self._store.data_version()
            except Exception:
                return  # the store closed; waiters fall back to their timeout
            if current == version:
                continue
            version = current
            self._remote_version += 1
            for topic in [t for t in self._waiters if t not in self._local]:
                for waiter in self._waiters.pop(topic, ()):
                    if not waiter.done():
                        waiter.set_result(None)

    async def aclose(self) -> None:
        self._closed = True
        for topic in list(self._waiters):
            self.publish(topic)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller


class EventLog:
    """The writing end of one run's log; only the run holding `lease` writes to it."""

    def __init__(self, store: Store, lease: Lease, signals: RunSignals, encode: Encoder) -> None:
        self._store = store
        self._lease = lease
        self._signals = signals
        self._encode = encode
        self._topic = run_name(lease.key, lease.run_id)
        self._pending: list[LoggedEvent] = []
        self._writing: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._closed = False

    async def append(self, event: RunEvent) -> None:
        """Queues `event` for the log; raises what made an earlier write fail."""
        if isinstance(event, TERMINAL_EVENTS):
            raise ValueError("a terminal event is written by finishing the run")
        if self._error is not None:
            raise self._error
        self._pending.append(LoggedEvent(event.sequence, False, self._encode(event)))
        if self._closed:
            raise RuntimeError("the run's log is closed")
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write())
        elif len(self._pending) >= MAX_PENDING:
            await asyncio.wait({self._writing})

    async def close(self) -> list[LoggedEvent]:
        """Stops writing: waits for the batch being committed, and returns the events not yet
        written, for the run's last transaction to append with its terminal event. Raises a
        write's failure."""
        self._closed = True
        if self._writing is not None and not self._writing.done():
            await asyncio.wait({self._writing})
        if self._error is not None:
            raise self._error
        rest, self._pending = self._pending, []
        return rest

    async def store_items(
        self, items: list[NewItem], encode: ItemEventsEncoder
    ) -> tuple[list[ItemRecord], list[LoggedEvent]]:
        """Stores the run's `items` with the events not yet written and those `encode` makes of
        the records, in one transaction; returns the records and the events written. A batch
        being committed is ahead in the store's queue, so the log stays in order."""
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("the run's log is closed")
        pending, self._pending = self._pending, []
        try:
            records, events = await self._store.add_run_items(
                self._lease, items, pending=pending, encode=encode
            )
        except Exception as exc:
            self._error = exc  # the pending events are lost: nothing may follow them
            raise
        if events:
            self._signals.publish(self._topic, events)
        return records, events

    def failed(self, error: BaseException) -> None:
        """The run cannot record its end for now: followers end with `error`."""
        self._signals.fail(self._topic, error)

    def published(self, last: list[LoggedEvent]) -> None:
        """The run ended with `last` (its terminal event at the end): followers that are
        caught up take them from here."""
        self._signals.publish(self._topic, last)

    async def _write(self) -> None:
        while self._pending and self._error is None and not self._closed:
            batch, self._pending = self._pending, []
            try:
                await self._store.append_run_events(self._lease, batch)
            except Exception as exc:
                self._error = exc
                return
            self._signals.publish(self._topic, batch)


async def follow(
    store: Store,
    signals: RunSignals,
    key: SessionKey,
    run_id: str,
    after_sequence: int,
    *,
    fresh: bool = False,
) -> AsyncGenerator[LoggedEvent, None]:
    """The run's events after `after_sequence`, in order, each once, through the terminal one.

    Raises NotFound when there is no such run, OutOfRange (EVENTS_EXPIRED) when events asked
    for are no longer kept, OutOfRange (SEQUENCE_AHEAD) for a position past the run's newest
    event. `fresh`: the run was just started in this process and has no events yet, so the
    first read of its log can wait for its first batch.
    """
    if after_sequence < 0:
        raise InvalidArgument.field("after_sequence", "must not be negative")
    topic = run_name(key, run_id)
    position = after_sequence
    first = not fresh
    while True:
        failure = signals.failure(topic)
        if failure is not None:
            raise failure
        ticket = signals.ticket(topic)
        events = None if first else signals.latest(topic, position)
        finished = False
        if events is None and (fresh or signals.caught_up(topic, position)):
            fresh = False  # nothing new to read yet: wait for the next batch
            await signals.wait(topic, ticket, SAFETY_WAIT_SECONDS)
            continue
        if events is None:
            page = await store.read_run_events(
                key, run_id, after_sequence=position, limit=PAGE_EVENTS, max_bytes=PAGE_BYTES
            )
            if page is None:
                raise run_not_found(key, run_id)
            if first and position > page.run.last_sequence:
                raise OutOfRange(
                    f"after_sequence {position} is past the run's newest event "
                    f"({page.run.last_sequence})",
                    reason="SEQUENCE_AHEAD",
                    metadata={"run": topic, "last_sequence": str(page.run.last_sequence)},
                )
            if page.expired:
                raise OutOfRange(
                    f"the events of {topic} after {position} are no longer kept",
                    reason="EVENTS_EXPIRED",
                    metadata={"run": topic},
                )
            events, finished = page.events, page.run.finished
            first = False
        for event in events:
            yield event
            position = event.sequence
            if event.terminal:
                return
        if events:
            continue
        if finished:
            return  # the caller had seen the terminal event already
        await signals.wait(topic, ticket, SAFETY_WAIT_SECONDS)
