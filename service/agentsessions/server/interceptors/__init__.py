"""Server interceptors, in the order they wrap every call (first listed is outermost)."""

from __future__ import annotations

import grpc

from .errors import ErrorInterceptor


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    return [ErrorInterceptor()]


__all__ = ["ErrorInterceptor", "server_interceptors"]
