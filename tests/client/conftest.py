"""Client fixtures: an AsyncClient and a blocking Client connected to the test server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from agentsessions.client import AsyncClient, Client


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
