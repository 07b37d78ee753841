"""Retries: a call made while the server is down succeeds once it is back on the same port."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from agentsessions.client import AsyncClient, Retry, Unavailable


async def wait_for_state(channel: grpc.aio.Channel, wanted: grpc.ChannelConnectivity) -> None:
    state = channel.get_state()
    while state != wanted:
        await channel.wait_for_state_change(state)
        state = channel.get_state()


async def test_call_retries_until_the_server_is_back(server_factory) -> None:
    server = await server_factory()
    port = server.port
    async with AsyncClient(f"127.0.0.1:{port}") as client:
        agent = await client.create_agent({"display_name": "Survivor"}, agent_id="survivor")
        await server.stop(0)

        call = asyncio.create_task(client.get_agent(agent.name, timeout=30))
        # The channel fails to reconnect: the call's first attempt has failed.
        await asyncio.wait_for(
            wait_for_state(client.channel, grpc.ChannelConnectivity.TRANSIENT_FAILURE), 10
        )
        assert not call.done(), "the call waits and retries instead of failing"

        await server_factory(port=port)
        assert await asyncio.wait_for(call, 30) == agent


async def test_calls_that_must_not_repeat_fail_at_once(server_factory) -> None:
    server = await server_factory()
    async with AsyncClient(f"127.0.0.1:{server.port}") as client:
        session = await client.create_session("agents/default", {"display_name": "s"})
        await server.stop(0)
        with pytest.raises(Unavailable):
            await client.pop_item(session.name, timeout=30)


def test_backoff_grows_to_its_maximum() -> None:
    assert Retry(initial=0.1, maximum=0.5, multiplier=2, max_attempts=6).delays() == [
        0.1,
        0.2,
        0.4,
        0.5,
        0.5,
    ]
