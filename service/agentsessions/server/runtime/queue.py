"""Runs queued on a busy session (SendMessage with busy_policy ENQUEUE).

A queued run lives in the store with its request, owned by no process. Whichever process
finds its session free starts the head of the queue: the process whose run just ended, or any
process's periodic sweep (which also covers a process that died holding the session). The
store hands the session's lease to the head in the same transaction, so queued runs start one
at a time and in order, and a caller following a queued run sees `run_queued`, then the run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from ..domain.errors import DomainError
from ..domain.models import Promoted, RunRecord, RunStart, SessionKey, now_us
from ..domain.names import run_name, session_name
from ..store.base import Store
from .events import RunQueuedEvent
from .inputs import RunInput
from .run_log import Encoder, RunSignals, terminal_encoder

log = logging.getLogger("agentsessions.runtime")

QUEUED_SESSIONS_PER_SWEEP = 100


def queued_input(run_input: RunInput, max_turns: int) -> str:
    """What a queued run keeps of its request, to start from on any process."""
    return json.dumps(
        {"text": run_input.text, "items": list(run_input.items), "max_turns": max_turns},
        ensure_ascii=False,
    )


def request_of(stored: str) -> tuple[RunInput, int]:
    request = json.loads(stored)
    run_input = RunInput(text=request.get("text"), items=tuple(request.get("items") or ()))
    return run_input, int(request.get("max_turns") or 0)


class RunQueue:
    def __init__(
        self,
        store: Store,
        signals: RunSignals,
        encode: Encoder,
        *,
        owner: str,
        lease_us: int,
        retention_us: int,
        max_queued: int,
        start: Callable[[Promoted], Awaitable[None]],
    ) -> None:
        self._store = store
        self._signals = signals
        self._encode = encode
        self._owner = owner
        self._lease_us = lease_us
        self._retention_us = retention_us
        self._max_queued = max_queued
        self._start = start

    def _announce(self, run: RunRecord, position: int) -> bytes:
        return self._encode(
            RunQueuedEvent(sequence=1, key=run.key, run_id=run.run_id, position=position)
        )

    async def enqueue(self, run: RunRecord, run_input: RunInput, max_turns: int) -> RunStart:
        """Starts `run` at once when the session is free and nothing waits; else queues it
        (RunStart.queued), or joins the run of its request_id. ResourceExhausted (QUEUE_FULL)."""
        return await self._store.enqueue_run(
            run,
            queued_input(run_input, max_turns),
            max_queued=self._max_queued,
            lease_expire_time_us=now_us() + self._lease_us,
            announce=self._announce,
        )

    async def promote(self, key: SessionKey) -> None:
        """Starts the head of the session's queue here, if the session is free."""
        try:
            promoted = await self._store.promote_next(
                key, owner=self._owner, lease_expire_time_us=now_us() + self._lease_us
            )
        except DomainError as exc:
            log.info("queue of %s not promoted: %s", key.session_id, exc.reason)
            return
        if promoted is not None:
            await self._start(promoted)

    async def promote_free(self) -> None:
        """One sweep: the head of every free session's queue starts."""
        for key in await self._store.queued_sessions(limit=QUEUED_SESSIONS_PER_SWEEP):
            await self.promote(key)

    async def cancel(self, run: RunRecord, reason: str) -> RunRecord | None:
        """Ends a queued run as CANCELLED; None when it is no longer queued."""
        cancelled = await self._store.cancel_queued(
            run.key,
            run.run_id,
            reason=reason,
            events_expire_time_us=now_us() + self._retention_us,
            terminal=terminal_encoder(self._encode),
        )
        if cancelled is not None:
            self._signals.publish(run_name(run.key, run.run_id))
            self._signals.publish(session_name(run.key))
        return cancelled
