"""`settle`: the one way the runtime lets a write finish while its caller is cancelled.

Runs execute in tasks of their own that no RPC can cancel (runner.py); cancellation
reaches them as a request, not as `Task.cancel()`. The one place asyncio cancellation still
cuts through runtime code is the Agents SDK's own run task, which `RunResultStreaming.cancel`
cancels: a session write it had started must finish, or the run could not know what it
stored. Every such write goes through `settle`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def settle(awaitable: Awaitable[T]) -> T:
    """Awaits to the end even if the caller is cancelled (again and again), then re-raises."""
    task = asyncio.ensure_future(awaitable)
    cancellation: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError as exc:
            cancellation = cancellation or exc
    result = task.result()
    if cancellation is not None:
        raise cancellation
    return result
