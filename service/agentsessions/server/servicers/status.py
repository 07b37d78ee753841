"""One table from domain errors to gRPC codes, and the google.rpc.Status details they carry."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from ..domain import errors
from ..domain.errors import clip

ERROR_DOMAIN = "agentsessions"
STATUS_DETAILS_KEY = "grpc-status-details-bin"

# Whatever raised an error, what it carries stays well inside the 8 KiB a client accepts
# in trailing metadata (the message travels percent-encoded, the details in base64), and a
# caller's long input comes back as a prefix. The domain quotes input shorter still
# (errors.quote); these bound the rest, in characters and in UTF-8 bytes. A valid
# resource name fits METADATA_VALUE_MAX.
MESSAGE_MAX = 512
MESSAGE_BYTES_MAX = 768
METADATA_KEY_MAX = 64
METADATA_VALUE_MAX = 256
METADATA_BYTES_MAX = 1024
FIELD_MAX = 128
DESCRIPTION_MAX = 256
VIOLATIONS_MAX = 10
VIOLATIONS_BYTES_MAX = 2048

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


def _clip_bytes(text: str, limit: int) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, with … when something was cut."""
    if len(text) * 4 <= limit or len(text.encode()) <= limit:
        return text
    return text.encode()[: limit - 3].decode(errors="ignore") + errors.ELLIPSIS


def _bounded_metadata(metadata: dict[str, str]) -> dict[str, str]:
    bounded: dict[str, str] = {}
    size = 0
    for key, value in metadata.items():
        key, value = clip(key, METADATA_KEY_MAX), clip(value, METADATA_VALUE_MAX)
        size += len(key.encode()) + len(value.encode())
        if bounded and size > METADATA_BYTES_MAX:
            break
        bounded[key] = _clip_bytes(value, METADATA_BYTES_MAX // 2)
    return bounded


def _bounded_violations(
    violations: list[errors.FieldViolation],
) -> list[error_details_pb2.BadRequest.FieldViolation]:
    """The first violations, as many as fit VIOLATIONS_MAX and VIOLATIONS_BYTES_MAX."""
    bounded: list[error_details_pb2.BadRequest.FieldViolation] = []
    size = 0
    for violation in violations[:VIOLATIONS_MAX]:
        field = _clip_bytes(clip(violation.field, FIELD_MAX), FIELD_MAX)
        description = _clip_bytes(clip(violation.description, DESCRIPTION_MAX), DESCRIPTION_MAX)
        size += len(field.encode()) + len(description.encode())
        if bounded and size > VIOLATIONS_BYTES_MAX:
            break
        bounded.append(
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
        )
    return bounded


def status_proto(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    metadata: dict[str, str] | None = None,
    violations: list[errors.FieldViolation] | None = None,
) -> status_pb2.Status:
    """A google.rpc.Status with ErrorInfo always, and BadRequest when there are violations;
    every part bounded (BadRequest keeps the first violations, as many as fit)."""
    details = [
        _packed(
            error_details_pb2.ErrorInfo(
                reason=clip(reason, METADATA_KEY_MAX),
                domain=ERROR_DOMAIN,
                metadata=_bounded_metadata(metadata or {}),
            )
        )
    ]
    if violations:
        details.append(
            _packed(error_details_pb2.BadRequest(field_violations=_bounded_violations(violations)))
        )
    number: int = code.value[0]
    bounded_message = _clip_bytes(clip(message, MESSAGE_MAX), MESSAGE_BYTES_MAX)
    return status_pb2.Status(code=number, message=bounded_message, details=details)


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
