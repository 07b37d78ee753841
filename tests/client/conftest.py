"""Client fixtures: an AsyncClient and a blocking Client connected to the test server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from agentsessions.client import AsyncClient, Client
from guarded_agents import guarded_server


@pytest.fixture
async def client(address: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(address) as connected:
        yield connected


@pytest.fixture
async def sync_client(address: str) -> AsyncIterator[Client]:
    # The server runs on this test's event loop, so blocking calls go to a thread.
    connected = Client(address)
    yield connected
    await asyncio.to_thread(connected.close)


@pytest.fixture
async def guarded_address() -> AsyncIterator[str]:
    """An AgentService that wants the bearer token `good` (see guarded_agents.py)."""
    async with guarded_server() as address:
        yield address
