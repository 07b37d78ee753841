"""CLI fixtures: the real `agentsessions` command, run against the test server."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import pytest
from cli_run import Cli, run_cli
from guarded_agents import guarded_server


@pytest.fixture
def cli(address: str) -> Cli:
    """`await cli("sessions", "list")` runs the command against the test server."""
    return functools.partial(run_cli, address)


@pytest.fixture
async def guarded_address() -> AsyncIterator[str]:
    """An AgentService that wants the bearer token `good` (see guarded_agents.py)."""
    async with guarded_server() as address:
        yield address
