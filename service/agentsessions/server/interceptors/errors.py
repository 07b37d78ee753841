"""Turns domain errors into statuses with details, and anything else into a bare INTERNAL.

It also guards each method's request deserializer (see decoding.py), so that bytes which
are not the method's request message come back as INVALID_ARGUMENT like any other error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from ..domain.errors import DomainError
from ..servicers.status import STATUS_DETAILS_KEY, internal_status, status_of
from .decoding import Undecodable, guard, report

log = logging.getLogger("agentsessions.errors")

Handler = Callable[..., Any]
# The stubs make RpcMethodHandler generic; at run time it is not subscriptable.
MethodHandler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


async def _abort(
    error: Exception, context: grpc.aio.ServicerContext[Any, Any], method: str
) -> None:
    if isinstance(error, DomainError):
        code, status = status_of(error)
    else:
        log.exception("unexpected error in %s", method)
        code, status = grpc.StatusCode.INTERNAL, internal_status()
    await context.abort(
        code, status.message, trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),)
    )


def _wrap_unary(behavior: Handler, method: str) -> Handler:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            if isinstance(request, Undecodable):
                raise report(request, method, context.peer())
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(error, context, method)

    return wrapped


def _wrap_stream(behavior: Handler, method: str) -> Handler:
    async def wrapped(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        try:
            if isinstance(request, Undecodable):
                raise report(request, method, context.peer())
            async for response in behavior(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(error, context, method)

    return wrapped


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        # Wrapped handlers are built once per method, not on every call.
        self._wrapped: dict[str, MethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[MethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> MethodHandler | None:
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        # Health and reflection report their own errors in their own way.
        if handler is None or not method.startswith("/agentsessions."):
            return handler
        wrapped = self._wrap(handler, method)
        self._wrapped[method] = wrapped
        return wrapped

    @staticmethod
    def _wrap(handler: MethodHandler, method: str) -> MethodHandler:
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, method),
                request_deserializer=guard(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, method),
                request_deserializer=guard(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return handler
