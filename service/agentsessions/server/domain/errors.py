"""Domain exceptions. Each carries a reason; servicers/status.py maps them to gRPC codes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every error the service reports to callers on purpose."""

    reason: str = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgument(DomainError):
    reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        message: str,
        *,
        violations: list[FieldViolation] | None = None,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.violations = violations or []

    @classmethod
    def field(cls, field: str, description: str, *, reason: str | None = None) -> InvalidArgument:
        return cls(
            f"{field}: {description}",
            violations=[FieldViolation(field, description)],
            reason=reason,
        )


class NotFound(DomainError):
    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    reason = "ALREADY_EXISTS"


class Aborted(DomainError):
    """An etag mismatch or a busy session: the caller may retry with fresh data."""

    reason = "ABORTED"


class FailedPrecondition(DomainError):
    reason = "FAILED_PRECONDITION"


class ResourceExhausted(DomainError):
    reason = "RESOURCE_EXHAUSTED"


class OutOfRange(DomainError):
    """A position past what exists, or no longer kept (a run's expired events)."""

    reason = "OUT_OF_RANGE"


class Unavailable(DomainError):
    reason = "UNAVAILABLE"


class DeadlineExceeded(DomainError):
    reason = "DEADLINE_EXCEEDED"


class Unauthenticated(DomainError):
    reason = "UNAUTHENTICATED"


class Unimplemented(DomainError):
    reason = "UNIMPLEMENTED"


class Internal(DomainError):
    reason = "INTERNAL"


def storage_full() -> ResourceExhausted:
    """The database's disk (or its size limit) is full: writes fail, reads still work."""
    return ResourceExhausted(
        "the storage is full: writes fail until space is freed; reads still work",
        reason="STORAGE_FULL",
    )


def storage_failed() -> Unavailable:
    """The database could not be read or written (an I/O error, a read-only or damaged
    file); a retry may succeed once the operator has fixed the storage."""
    return Unavailable("the storage failed to read or write; retry later", reason="STORAGE_ERROR")


def store_busy() -> Unavailable:
    """Another process held the database's write lock for too long: worth a retry."""
    return Unavailable("the database is busy; retry", reason="STORE_BUSY")


QUOTE_MAX = 64
ELLIPSIS = "…"


def clip(text: str, limit: int = QUOTE_MAX) -> str:
    """`text` cut to its first `limit` characters, with … when something was cut."""
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def quote(value: object, limit: int = QUOTE_MAX) -> str:
    """Caller input as a message or detail shows it: quoted like repr, at most `limit`
    characters of it, then … when it was longer. Escapes count toward the limit, so a
    value of control characters cannot grow the message either."""
    text = value if isinstance(value, str) else str(value)
    shown = repr(text[:limit])
    mark, body = shown[0], shown[1:-1]
    if len(text) <= limit and len(body) <= limit:
        return shown
    return mark + body[:limit] + ELLIPSIS + mark
