"""Reads the google.rpc.Status details of a failed call, as a test asserts them."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

DETAILS_KEY = "grpc-status-details-bin"


@dataclass
class Details:
    code: grpc.StatusCode
    message: str
    error_info: error_details_pb2.ErrorInfo
    bad_request: error_details_pb2.BadRequest | None

    @property
    def reason(self) -> str:
        return self.error_info.reason

    @property
    def violated_fields(self) -> list[str]:
        if self.bad_request is None:
            return []
        return [v.field for v in self.bad_request.field_violations]


def details_of(error: grpc.aio.AioRpcError) -> Details:
    trailing = error.trailing_metadata() or ()
    raw = next(value for key, value in trailing if key == DETAILS_KEY)
    status = status_pb2.Status.FromString(raw)
    assert status.code == error.code().value[0]
    info = error_details_pb2.ErrorInfo()
    bad_request = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
    assert info.domain == "agentsessions", "every error carries an ErrorInfo"
    return Details(error.code(), error.details() or "", info, bad_request)
