"""One run per session at a time: an in-process lock per session, made on demand.

This orders runs within one server process only. Several replicas sharing one database
would need a store-level lease (a row lock or advisory lock), which the PostgreSQL store
brings; SQLite serves one process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..domain.errors import Aborted, DeadlineExceeded, DomainError
from ..domain.models import SessionKey
from ..domain.names import session_name


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    holder: str = ""  # the run name (or the name of another call) holding the lock
    waiting: deque[str] = field(default_factory=deque)  # holders in line, oldest first

    @property
    def busy_with(self) -> str:
        return self.holder or (self.waiting[0] if self.waiting else "")

    @property
    def in_use(self) -> bool:
        return bool(self.holder or self.waiting)


# Holds a session as a run does, but is not a run: busy errors name it as an operation.
COMPACTION_HOLDER = "CompactSession"


def _busy(key: SessionKey, holder: str, error: type[DomainError] = Aborted) -> DomainError:
    kind = "operation" if holder == COMPACTION_HOLDER else "run"
    return error(
        f"{session_name(key)} is busy with {holder}; retry, or set wait_if_busy",
        reason="SESSION_BUSY",
        metadata={"session": session_name(key), kind: holder},
    )


class SessionLocks:
    """Slots exist only while a run holds or waits for them, so the map stays small."""

    def __init__(self) -> None:
        self._slots: dict[SessionKey, _Slot] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def busy_with(self, key: SessionKey) -> str:
        slot = self._slots.get(key)
        return slot.busy_with if slot is not None else ""

    @contextlib.asynccontextmanager
    async def hold(
        self, key: SessionKey, run: str, *, wait: bool, wait_seconds: float | None = None
    ) -> AsyncIterator[None]:
        """Holds the session for `run`. Raises Aborted (SESSION_BUSY) at once when busy and
        not `wait`; DeadlineExceeded (SESSION_BUSY) when still busy after `wait_seconds`."""
        slot = self._slots.setdefault(key, _Slot())
        if slot.in_use and not wait:
            raise _busy(key, slot.busy_with)
        slot.waiting.append(run)
        try:
            try:
                async with asyncio.timeout(wait_seconds):
                    await slot.lock.acquire()
            except TimeoutError:
                raise _busy(key, slot.holder, DeadlineExceeded) from None
        except BaseException:
            slot.waiting.remove(run)
            self._drop_if_unused(key, slot)
            raise
        slot.waiting.remove(run)
        slot.holder = run
        try:
            yield
        finally:
            slot.holder = ""
            slot.lock.release()
            self._drop_if_unused(key, slot)

    def _drop_if_unused(self, key: SessionKey, slot: _Slot) -> None:
        if not slot.in_use and self._slots.get(key) is slot:
            del self._slots[key]
