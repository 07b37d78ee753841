"""Leases kept alive, abandoned runs ended, expired events deleted: a process's background work.

`LeaseKeeper` renews every lease of this process in one write, three times per lease period.
`Recovery` ends what a dead process left behind: a lease whose owner is gone (expired, or a
process of this host that no longer exists) is taken over in one transaction that finishes its
run as FAILED with reason RUN_INTERRUPTED and appends the terminal event; the history keeps
the whole turns the run had stored. It runs at start-up, every sweep, and whenever a send finds
its session held by such a lease. A run that waits for approval holds its lease with no owner
until the approval expires; then the sweep ends it CANCELLED (APPROVAL_EXPIRED). The same sweep
deletes the events of runs past retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from ..domain.errors import DomainError
from ..domain.models import Lease, RunError, RunRecord, RunState, now_us
from ..domain.names import run_name, session_name
from ..store.base import Store
from . import owners
from .approvals import (
    APPROVAL_EXPIRED,
    CANCELLED_OUTPUT,
    EXPIRED_OUTPUT,
    end_waiting,
    waiting_lease,
)
from .errors import Code
from .run_log import Encoder, RunSignals, terminal_encoder

log = logging.getLogger("agentsessions.runtime")

INTERRUPTED = RunError(
    int(Code.UNAVAILABLE),
    "the server running this run stopped before the run ended",
    "RUN_INTERRUPTED",
)
LEASES_PER_SWEEP = 100
EXPIRED_RUNS_PER_STEP = 100
EXPIRED_EVENTS_PER_STEP = 5000


class Recovery:
    def __init__(
        self,
        store: Store,
        signals: RunSignals,
        encode: Encoder,
        *,
        owner: str,
        retention_us: int,
    ) -> None:
        self._store = store
        self._signals = signals
        self._encode = encode
        self._owner = owner
        self._retention_us = retention_us

    def abandoned(self, lease: Lease) -> bool:
        if lease.owner == self._owner:
            return False  # this process is alive, and ends its own runs
        return lease.expire_time_us <= now_us() or owners.is_gone(lease.owner)

    async def recover(self, lease: Lease) -> bool:
        """Ends the holder of an abandoned `lease`; whether the session was freed by it."""
        if not self.abandoned(lease):
            return False
        try:
            run = await self._store.get_run(lease.key, lease.run_id) if lease.run_id else None
            if run is not None and run.state == RunState.REQUIRES_APPROVAL:
                expired = await self._end_waiting(run, lease, APPROVAL_EXPIRED, EXPIRED_OUTPUT)
                return expired is not None
            if run is None or run.state != RunState.RUNNING:
                return await self._store.release_lease(lease)
            end = now_us()
            interrupted = dataclasses.replace(
                run,
                state=RunState.FAILED,
                error=INTERRUPTED,
                end_time_us=end,
                events_expire_time_us=end + self._retention_us,
            )
            await self._store.finish_run(
                interrupted, lease=lease, terminal=terminal_encoder(self._encode)
            )
        except DomainError as exc:
            # Someone else recovered it, or the session was deleted meanwhile.
            log.info("lease of %s not recovered: %s", lease.key.session_id, exc.reason)
            return False
        log.warning(
            "run interrupted",
            extra={"run": lease.run_id, "session": lease.key.session_id, "owner": lease.owner},
        )
        self._signals.publish(session_name(lease.key))
        return True

    async def cancel_waiting(self, run: RunRecord, reason: str) -> RunRecord | None:
        """Ends a run that waits for approval as CANCELLED; None when it no longer waits."""
        lease = await waiting_lease(self._store, run)
        if lease is None:
            return None
        return await self._end_waiting(run, lease, reason, CANCELLED_OUTPUT)

    async def _end_waiting(
        self, run: RunRecord, lease: Lease, reason: str, output: str
    ) -> RunRecord | None:
        ended = await end_waiting(
            self._store,
            run,
            lease,
            reason=reason,
            output=output,
            encode=self._encode,
            retention_us=self._retention_us,
        )
        if ended is not None:
            extra = {"run": run.run_id, "reason": reason}
            log.info("run ended while waiting for approval", extra=extra)
            self._signals.publish(run_name(run.key, run.run_id))
            self._signals.publish(session_name(run.key))
        return ended

    async def sweep(self) -> None:
        """One pass: recover abandoned leases, delete a step of expired events."""
        for lease in await self._store.list_leases(limit=LEASES_PER_SWEEP):
            if self.abandoned(lease):
                await self.recover(lease)
        await self._store.expire_run_events(
            now_us(), runs=EXPIRED_RUNS_PER_STEP, events=EXPIRED_EVENTS_PER_STEP
        )


async def every(seconds: float, work: Callable[[], Awaitable[object]], what: str) -> None:
    """Runs `work` every `seconds` until cancelled; a failure is logged, not fatal."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception:
            log.exception("%s failed", what)


class Background:
    """The process's periodic tasks: lease renewal and the recovery sweep."""

    def __init__(
        self,
        store: Store,
        recovery: Recovery,
        *,
        owner: str,
        lease_us: int,
        after_sweep: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._store = store
        self._recovery = recovery
        self._after_sweep = after_sweep
        self._owner = owner
        self._lease_us = lease_us
        self._tasks: list[asyncio.Task[None]] = []

    async def _sweep(self) -> None:
        await self._recovery.sweep()
        if self._after_sweep is not None:
            await self._after_sweep()

    async def _renew(self) -> None:
        await self._store.renew_leases(self._owner, now_us() + self._lease_us)

    def start(self) -> None:
        period = self._lease_us / 1e6
        self._tasks = [
            asyncio.create_task(every(period / 3, self._renew, "lease renewal")),
            asyncio.create_task(every(min(1.0, period / 4), self._sweep, "sweep")),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
