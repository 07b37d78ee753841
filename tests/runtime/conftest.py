"""Fixtures for runtime tests: a real SQLite store, and servers with injected models.

The end-to-end tests here inject models into the server (ScriptedModel, a local endpoint),
so they always start their own server on port 0 rather than use AGENTSESSIONS_TEST_ADDRESS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentsessions.server.store import SQLiteStore
from agentsessions.v1 import agent_pb2_grpc, session_service_pb2_grpc
from runtime.send_message_support import Api


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(str(tmp_path / "runtime.db"))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


Connect = Callable[..., Awaitable[Api]]


@pytest.fixture
async def connect(server_factory: Callable[..., Awaitable[Any]]) -> AsyncIterator[Connect]:
    """`api = await connect(models=ModelRegistry(...))` starts a server and returns its stubs."""
    channels: list[grpc.aio.Channel] = []

    async def start(**overrides: Any) -> Api:
        server = await server_factory(**overrides)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        channels.append(channel)
        return Api(
            agent_pb2_grpc.AgentServiceStub(channel),
            session_service_pb2_grpc.SessionServiceStub(channel),
            server,
        )

    yield start
    for channel in channels:
        await channel.close()
