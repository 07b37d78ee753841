"""Fixtures: a real agentsessions server on port 0, and stubs connected to it.

Set AGENTSESSIONS_TEST_ADDRESS=host:port to run the end-to-end tests against
a server you started yourself instead (it must be empty of test data).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentsessions.server.app import AgentSessionsServer
from agentsessions.server.config import Config
from agentsessions.v1 import agent_pb2_grpc, session_service_pb2_grpc

ServerFactory = Callable[..., Awaitable[AgentSessionsServer]]


@pytest.fixture
async def server_factory(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Starts servers on port 0 with a fresh database; stops them after the test.

    Keyword arguments override Config fields (db, port, ...) or are passed to
    AgentSessionsServer (store, catalog, ...).
    """
    started: list[AgentSessionsServer] = []
    config_fields = set(Config.__dataclass_fields__)

    async def start(**overrides: Any) -> AgentSessionsServer:
        settings = {"host": "127.0.0.1", "port": 0, "db": str(tmp_path / "test.db")}
        settings["grace_seconds"] = 0.0
        settings.update({k: v for k, v in overrides.items() if k in config_fields})
        extras = {k: v for k, v in overrides.items() if k not in config_fields}
        server = AgentSessionsServer(Config(**settings), **extras)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        await server.stop(0)


@pytest.fixture
async def address(server_factory: ServerFactory) -> str:
    external = os.environ.get("AGENTSESSIONS_TEST_ADDRESS")
    if external:
        return external
    server = await server_factory()
    return f"127.0.0.1:{server.port}"


@pytest.fixture
async def channel(address: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(address) as channel:
        yield channel


@pytest.fixture
def agents(channel: grpc.aio.Channel) -> agent_pb2_grpc.AgentServiceStub:
    return agent_pb2_grpc.AgentServiceStub(channel)


@pytest.fixture
def sessions(channel: grpc.aio.Channel) -> session_service_pb2_grpc.SessionServiceStub:
    return session_service_pb2_grpc.SessionServiceStub(channel)
