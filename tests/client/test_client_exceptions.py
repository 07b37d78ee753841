"""Error translation without a server: hand-made gRPC errors carrying google.rpc details."""

from __future__ import annotations

import grpc
import pytest
from agentsessions.client import exceptions as ex
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2


def packed(message) -> any_pb2.Any:
    result = any_pb2.Any()
    result.Pack(message)
    return result


def aio_error(code: grpc.StatusCode, message: str, *details) -> grpc.aio.AioRpcError:
    status = status_pb2.Status(
        code=code.value[0], message=message, details=[packed(d) for d in details]
    )
    trailing = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, message)


def info(reason: str, **metadata: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain="agentsessions", metadata=metadata)


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (grpc.StatusCode.NOT_FOUND, "AGENT_NOT_FOUND", ex.NotFound),
        (grpc.StatusCode.ALREADY_EXISTS, "AGENT_ALREADY_EXISTS", ex.AlreadyExists),
        (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ID", ex.InvalidArgument),
        (grpc.StatusCode.ABORTED, "ETAG_MISMATCH", ex.Aborted),
        (grpc.StatusCode.ABORTED, "SESSION_BUSY", ex.SessionBusy),
        (grpc.StatusCode.FAILED_PRECONDITION, "AGENT_HAS_SESSIONS", ex.FailedPrecondition),
        (grpc.StatusCode.UNAUTHENTICATED, "MISSING_TOKEN", ex.Unauthenticated),
        (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN", ex.PermissionDenied),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_ITEMS", ex.ResourceExhausted),
        (grpc.StatusCode.UNAVAILABLE, "STORE_CLOSED", ex.Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "MODEL_TIMEOUT", ex.DeadlineExceeded),
        (grpc.StatusCode.INTERNAL, "INTERNAL", ex.Internal),
        (grpc.StatusCode.CANCELLED, "CANCELLED", ex.Cancelled),
        (grpc.StatusCode.UNIMPLEMENTED, "UNIMPLEMENTED", ex.Unimplemented),
        (grpc.StatusCode.OUT_OF_RANGE, "PAGE_TOKEN_EXPIRED", ex.OutOfRange),
        (grpc.StatusCode.DATA_LOSS, "DATA_LOSS", ex.Unknown),
    ],
)
def test_each_code_maps_to_its_exception(code, reason, expected) -> None:
    error = ex.from_rpc_error(aio_error(code, "it went wrong", info(reason, name="agents/x")))
    assert type(error) is expected
    assert isinstance(error, ex.AgentSessionsError)
    assert (error.code, error.reason, error.domain) == (code, reason, "agentsessions")
    assert error.metadata == {"name": "agents/x"}
    assert error.message == "it went wrong"


def test_session_busy_is_an_aborted() -> None:
    error = ex.from_rpc_error(aio_error(grpc.StatusCode.ABORTED, "busy", info("SESSION_BUSY")))
    assert isinstance(error, ex.Aborted)
    assert str(error) == "ABORTED: busy (reason SESSION_BUSY)"


def test_invalid_argument_carries_field_violations() -> None:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field="agent.display_name", description="must be 1 to 100 characters"
            ),
            error_details_pb2.BadRequest.FieldViolation(field="agent_id", description="bad id"),
        ]
    )
    error = ex.from_rpc_error(
        aio_error(grpc.StatusCode.INVALID_ARGUMENT, "2 fields", info("INVALID_AGENT"), bad)
    )
    assert isinstance(error, ex.InvalidArgument)
    assert error.field_violations == [
        ex.FieldViolation("agent.display_name", "must be 1 to 100 characters"),
        ex.FieldViolation("agent_id", "bad id"),
    ]
    assert [type(d) for d in error.details] == [
        error_details_pb2.ErrorInfo,
        error_details_pb2.BadRequest,
    ]
    assert "agent.display_name: must be 1 to 100 characters; agent_id: bad id" in str(error)


def test_error_without_details_keeps_code_and_message() -> None:
    bare = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "connection refused"
    )
    error = ex.from_rpc_error(bare)
    assert type(error) is ex.Unavailable
    assert (error.reason, error.message, error.details) == ("UNAVAILABLE", "connection refused", [])
    assert str(error) == "UNAVAILABLE: connection refused"


def test_from_status_builds_the_error_of_a_failed_run() -> None:
    status = status_pb2.Status(
        code=code_pb2.UNAVAILABLE,
        message="model endpoint unreachable",
        details=[packed(info("MODEL_UNAVAILABLE"))],
    )
    error = ex.from_status(status)
    assert type(error) is ex.Unavailable
    assert error.reason == "MODEL_UNAVAILABLE"
