"""One table from domain errors to gRPC codes, and the google.rpc.Status details they carry."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from ..domain import errors

ERROR_DOMAIN = "agentsessions"
STATUS_DETAILS_KEY = "grpc-status-details-bin"

CODES: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.Aborted: grpc.StatusCode.ABORTED,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Unimplemented: grpc.StatusCode.UNIMPLEMENTED,
    errors.Internal: grpc.StatusCode.INTERNAL,
}


def code_of(error: errors.DomainError) -> grpc.StatusCode:
    for kind in type(error).__mro__:
        if kind in CODES:
            return CODES[kind]
    return grpc.StatusCode.INTERNAL


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def status_proto(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    metadata: dict[str, str] | None = None,
    violations: list[errors.FieldViolation] | None = None,
) -> status_pb2.Status:
    """A google.rpc.Status with ErrorInfo always, and BadRequest when there are violations."""
    details = [
        _packed(
            error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata or {})
        )
    ]
    if violations:
        details.append(
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in violations
                    ]
                )
            )
        )
    number: int = code.value[0]
    return status_pb2.Status(code=number, message=message, details=details)


def status_of(error: errors.DomainError) -> tuple[grpc.StatusCode, status_pb2.Status]:
    code = code_of(error)
    violations = error.violations if isinstance(error, errors.InvalidArgument) else None
    return code, status_proto(code, error.message, error.reason, error.metadata, violations)


def internal_status() -> status_pb2.Status:
    """What callers see of an unexpected failure: no message from inside, no stack trace."""
    return status_proto(grpc.StatusCode.INTERNAL, "internal error", "INTERNAL")


_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def code_from_number(number: int) -> grpc.StatusCode:
    return _CODES_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)
