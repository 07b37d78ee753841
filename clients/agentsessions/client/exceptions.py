"""The client's exception hierarchy, built from gRPC statuses and their google.rpc details."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message as ProtoMessage
from google.rpc import code_pb2, error_details_pb2, status_pb2

_STATUS_DETAILS_KEY = "grpc-status-details-bin"

# Every detail type the client knows how to unpack from google.rpc.Status.details.
_DETAIL_TYPES: tuple[type[ProtoMessage], ...] = (
    error_details_pb2.ErrorInfo,
    error_details_pb2.BadRequest,
    error_details_pb2.RetryInfo,
    error_details_pb2.ResourceInfo,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.QuotaFailure,
    error_details_pb2.RequestInfo,
    error_details_pb2.Help,
    error_details_pb2.LocalizedMessage,
    error_details_pb2.DebugInfo,
)


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request: its path (e.g. `agent.display_name`) and what is wrong."""

    field: str
    description: str


class AgentSessionsError(Exception):
    """Base of every error the client raises for a failed call.

    Attributes:
        code: the gRPC status code.
        message: the status message from the server.
        reason: `ErrorInfo.reason` (UPPER_SNAKE_CASE), or the code's name when absent.
        domain: `ErrorInfo.domain`, `agentsessions` for errors from the service.
        metadata: `ErrorInfo.metadata`, e.g. the name of the missing resource.
        field_violations: the `BadRequest` field violations of an INVALID_ARGUMENT.
        details: every unpacked `google.rpc` detail message.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        domain: str = "",
        metadata: dict[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
        details: Sequence[ProtoMessage] = (),
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.reason = reason or self.code.name
        self.domain = domain
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations: list[FieldViolation] = list(field_violations)
        self.details: list[ProtoMessage] = list(details)

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message or self.reason}"
        if self.reason != self.code.name:
            text += f" (reason {self.reason})"
        # Violations the message does not already spell out are added to it.
        extra = [f"{v.field}: {v.description}" for v in self.field_violations]
        extra = [violation for violation in extra if violation not in self.message]
        if extra:
            text += " [" + "; ".join(extra) + "]"
        return text


class InvalidArgument(AgentSessionsError):
    """The request is malformed; `field_violations` says which fields."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class RequestIdReused(InvalidArgument):
    """A SendMessage `request_id` already started a run with another input
    (reason REQUEST_ID_REUSED): use a new id for a new message."""


class NotFound(AgentSessionsError):
    """The named resource does not exist (or belongs to someone else)."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(AgentSessionsError):
    """A resource with the requested id exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS


class Aborted(AgentSessionsError):
    """A conflict, such as an etag mismatch: fetch fresh data and try again."""

    code = grpc.StatusCode.ABORTED


class SessionBusy(Aborted):
    """Another run is going on in the session (reason SESSION_BUSY)."""


class FailedPrecondition(AgentSessionsError):
    """The resource's state forbids the call, e.g. deleting an agent that has sessions."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class OutOfRange(AgentSessionsError):
    """A value is past the valid range, e.g. a stale page token."""

    code = grpc.StatusCode.OUT_OF_RANGE


class EventsExpired(OutOfRange):
    """A run's events were deleted after their retention period (reason EVENTS_EXPIRED):
    the run can still be read with GetRun, its history with ListItems."""


class Unauthenticated(AgentSessionsError):
    """No credentials, or invalid ones."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(AgentSessionsError):
    """The credentials do not allow the call."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(AgentSessionsError):
    """A limit or quota is reached."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(AgentSessionsError):
    """The service cannot be reached, or a dependency of it (e.g. the model endpoint)."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(AgentSessionsError):
    """The call did not finish within its deadline."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(AgentSessionsError):
    """The call or the run was cancelled."""

    code = grpc.StatusCode.CANCELLED


class Unimplemented(AgentSessionsError):
    """The server does not implement the method."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(AgentSessionsError):
    """The server failed; the message says no more on purpose."""

    code = grpc.StatusCode.INTERNAL


class Unknown(AgentSessionsError):
    """A failure with no more specific code (UNKNOWN or DATA_LOSS)."""

    code = grpc.StatusCode.UNKNOWN


class ApprovalRequired(FailedPrecondition):
    """The run stopped before tool calls that wait for a person's decision.

    Decide them with `resolve_approvals(run, ...)`; the run then goes on, and the same stream
    (or `stream_run_events`) carries the rest of it.

    Attributes:
        run: the run's resource name.
        calls: the `ApprovalRequired` events seen (call id, tool, arguments); `get_run(run)`
            lists every call that waits.
    """

    def __init__(self, run: str, calls: Sequence[ProtoMessage]) -> None:
        names = ", ".join(getattr(call, "tool_name", "?") for call in calls)
        super().__init__(
            f"run {run} waits for approval of {names}",
            reason="APPROVAL_REQUIRED",
            metadata={"run": run},
        )
        self.run = run
        self.calls = list(calls)


class EventsMissing(Unknown):
    """A run's event stream skipped a sequence number (reason EVENTS_MISSING, code
    DATA_LOSS): the client raises it rather than hand on a stream with a gap."""

    code = grpc.StatusCode.DATA_LOSS


_BY_CODE: dict[grpc.StatusCode, type[AgentSessionsError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        Aborted,
        FailedPrecondition,
        OutOfRange,
        Unauthenticated,
        PermissionDenied,
        ResourceExhausted,
        Unavailable,
        DeadlineExceeded,
        Cancelled,
        Unimplemented,
        Internal,
        Unknown,
    )
}
# Reasons with an exception of their own, below their code's.
_BY_REASON: dict[tuple[type[AgentSessionsError], str], type[AgentSessionsError]] = {
    (Aborted, "SESSION_BUSY"): SessionBusy,
    (InvalidArgument, "REQUEST_ID_REUSED"): RequestIdReused,
    (OutOfRange, "EVENTS_EXPIRED"): EventsExpired,
}
_BY_NUMBER: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


def _unpack(details: Iterable[any_pb2.Any]) -> list[ProtoMessage]:
    unpacked: list[ProtoMessage] = []
    for packed in details:
        for detail_type in _DETAIL_TYPES:
            detail = detail_type()
            if packed.Unpack(detail):
                unpacked.append(detail)
                break
    return unpacked


def _build(code: grpc.StatusCode, text: str, details: list[ProtoMessage]) -> AgentSessionsError:
    reason, domain, metadata = "", "", {}
    violations: list[FieldViolation] = []
    for detail in details:
        if isinstance(detail, error_details_pb2.ErrorInfo) and not reason:
            reason, domain, metadata = detail.reason, detail.domain, dict(detail.metadata)
        elif isinstance(detail, error_details_pb2.BadRequest):
            violations.extend(
                FieldViolation(v.field, v.description) for v in detail.field_violations
            )
    cls = _BY_CODE.get(code, Unknown)
    cls = _BY_REASON.get((cls, reason), cls)
    return cls(
        text,
        code=code,
        reason=reason,
        domain=domain,
        metadata=metadata,
        field_violations=violations,
        details=details,
    )


def from_status(status: status_pb2.Status) -> AgentSessionsError:
    """Builds the exception for a `google.rpc.Status`, e.g. the error of a failed run."""
    code = _BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
    return _build(code, status.message, _unpack(status.details))


def from_rpc_error(error: grpc.RpcError) -> AgentSessionsError:
    """Builds the exception for a failed call (sync `grpc.RpcError` or `grpc.aio.AioRpcError`).

    The details come from the `grpc-status-details-bin` trailing metadata when the
    server sent them; otherwise the exception carries only the code and message.
    """
    call: Any = error  # both kinds of error expose the grpc.Call accessors
    code: grpc.StatusCode = call.code() or grpc.StatusCode.UNKNOWN
    text: str = call.details() or ""
    details: list[ProtoMessage] = []
    for key, value in call.trailing_metadata() or ():
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            if status.code == code.value[0] or status.code == code_pb2.OK:
                text = status.message or text
            details = _unpack(status.details)
            break
    return _build(code, text, details)
