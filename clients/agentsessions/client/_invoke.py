"""Calling one unary RPC: deadline, metadata, retry on UNAVAILABLE, error translation."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from agentsessions.client._channel import Metadata
from agentsessions.client._defaults import (
    DEFAULT,
    METHOD_DEFAULTS,
    Retry,
    RetryArg,
    TimeoutArg,
)
from agentsessions.client.exceptions import from_rpc_error

RespT = TypeVar("RespT")


def resolve(
    method: str, timeout: TimeoutArg, retry: RetryArg, request: object
) -> tuple[float | None, Retry | None]:
    """The effective timeout and retry of one call: the argument, else the method's default
    for this request."""
    defaults = METHOD_DEFAULTS[method]
    return (
        defaults.timeout if timeout is DEFAULT else timeout,
        defaults.retry_for(request) if retry is DEFAULT else retry,
    )


def resolve_stream(
    method: str, timeout: TimeoutArg, resume: RetryArg
) -> tuple[float | None, Retry | None]:
    """The effective timeout and resume policy of one streaming call."""
    defaults = METHOD_DEFAULTS[method]
    return (
        defaults.timeout if timeout is DEFAULT else timeout,
        defaults.resume if resume is DEFAULT else resume,
    )


class _Attempts:
    """The schedule of attempts of one call: waits with jitter, bounded by the deadline."""

    def __init__(self, timeout: float | None, retry: Retry | None) -> None:
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._delays = iter(retry.delays() if retry is not None else ())

    def remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(self._deadline - time.monotonic(), 0.0)

    def next_delay(self, error: grpc.RpcError) -> float | None:
        """How long to wait before trying again, or None to give up with `error`."""
        if error.code() != grpc.StatusCode.UNAVAILABLE:
            return None
        delay = next(self._delays, None)
        if delay is None:
            return None
        delay = random.uniform(delay / 2, delay)
        remaining = self.remaining()
        if remaining is not None and remaining <= delay:
            return None
        return delay


async def call_async(
    method: str,
    stub_method: Callable[..., Awaitable[RespT]],
    request: object,
    *,
    timeout: TimeoutArg,
    retry: RetryArg,
    metadata: Metadata,
) -> RespT:
    """Runs one unary call on an asyncio channel and returns its response.

    Raises:
        AgentSessionsError: the subclass for the call's final status.
    """
    attempts = _Attempts(*resolve(method, timeout, retry, request))
    while True:
        try:
            return await stub_method(request, timeout=attempts.remaining(), metadata=metadata)
        except grpc.aio.AioRpcError as error:
            delay = attempts.next_delay(error)
            if delay is None:
                raise from_rpc_error(error) from error
        await asyncio.sleep(delay)


def call_sync(
    method: str,
    stub_method: Callable[..., RespT],
    request: object,
    *,
    timeout: TimeoutArg,
    retry: RetryArg,
    metadata: Metadata,
) -> RespT:
    """Runs one unary call on a blocking channel and returns its response.

    Raises:
        AgentSessionsError: the subclass for the call's final status.
    """
    attempts = _Attempts(*resolve(method, timeout, retry, request))
    while True:
        try:
            return stub_method(request, timeout=attempts.remaining(), metadata=metadata)
        except grpc.RpcError as error:
            delay = attempts.next_delay(error)
            if delay is None:
                raise from_rpc_error(error) from error
        time.sleep(delay)
