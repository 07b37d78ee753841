"""SQLite's result codes that say the storage failed, not the request, as domain errors.

A full disk (or size limit) is RESOURCE_EXHAUSTED, STORAGE_FULL; an I/O error or a
read-only, damaged or vanished file is UNAVAILABLE, STORAGE_ERROR; a lock held too long by
another process is UNAVAILABLE, STORE_BUSY. Any other SQLite error is a fault of the
service and stays what it is (INTERNAL, logged with its traceback).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from ..domain.errors import DomainError, storage_failed, storage_full, store_busy

log = logging.getLogger("agentsessions.store")

# By primary result code (the low byte of an extended one, e.g. SQLITE_IOERR_FSYNC).
_ERRORS: dict[int, Callable[[], DomainError]] = {
    sqlite3.SQLITE_FULL: storage_full,
    sqlite3.SQLITE_IOERR: storage_failed,
    sqlite3.SQLITE_READONLY: storage_failed,
    sqlite3.SQLITE_CORRUPT: storage_failed,
    sqlite3.SQLITE_NOTADB: storage_failed,
    sqlite3.SQLITE_CANTOPEN: storage_failed,
    sqlite3.SQLITE_PERM: storage_failed,
    sqlite3.SQLITE_PROTOCOL: storage_failed,
    sqlite3.SQLITE_NOLFS: storage_failed,
    sqlite3.SQLITE_BUSY: store_busy,
    sqlite3.SQLITE_LOCKED: store_busy,
}


def storage_error(exc: BaseException) -> DomainError | None:
    """The domain error for a storage failure, or None for any other exception."""
    code = getattr(exc, "sqlite_errorcode", None) if isinstance(exc, sqlite3.Error) else None
    if not isinstance(code, int):
        return None
    make = _ERRORS.get(code & 0xFF)
    return make() if make is not None else None


class StorageLog:
    """Logs storage failures when they start and when they end, not once per call: a full
    disk fails every write, and a line each would fill what is left of it."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._lock = threading.Lock()  # readers fail on several threads at once
        self._failing: str | None = None  # the reason of the first failure of a streak
        self._count = 0

    def failed(self, exc: BaseException, error: DomainError) -> None:
        with self._lock:
            self._count += 1
            if self._failing is not None:
                return
            self._failing = error.reason
        name = getattr(exc, "sqlite_errorname", type(exc).__name__)
        log.error(
            "sqlite %s failing: %s (%s); logged again when they succeed",
            self._what,
            error.reason,
            name,
            extra={"reason": error.reason, "sqlite_error": name, "detail": str(exc)},
        )

    def succeeded(self) -> None:
        if self._failing is None:  # the common case, without the lock
            return
        with self._lock:
            reason, count = self._failing, self._count
            self._failing, self._count = None, 0
        if reason is not None:
            log.warning("sqlite %s succeed again after %d failures (%s)", self._what, count, reason)
