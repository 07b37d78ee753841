"""add_items retried after a lost reply: the client's request_id makes the retry store nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from agentsessions.client import AsyncClient, Client

ADD_ITEMS = "/agentsessions.v1.SessionService/AddItems"


class LoseFirstReply(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Lets the first AddItems reach the server and commit, then reports it UNAVAILABLE, as
    when the connection drops before the reply arrives."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        call = await continuation(client_call_details, request)
        method = client_call_details.method
        if (method.decode() if isinstance(method, bytes) else method) != ADD_ITEMS:
            return call
        self.requests.append(request)
        if len(self.requests) == 1:
            await call  # stored on the server
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                details="connection lost before the reply",
            )
        return call


async def test_a_lost_reply_is_retried_and_stored_once(address: str) -> None:
    lossy = LoseFirstReply()
    async with grpc.aio.insecure_channel(address, interceptors=[lossy]) as channel:
        client = AsyncClient(channel=channel)
        session = await client.create_session("agents/default", {"display_name": "s"})
        added = await client.add_items(
            session.name, [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
        )
        assert [i.sequence for i in added] == [1, 2]
        assert len(lossy.requests) == 2
        assert lossy.requests[0].request_id == lossy.requests[1].request_id != ""
        stored = await client.get_session(session.name)
        assert stored.stats.item_count == 2


def own_request_ids(client: Client) -> list[int]:
    session = client.create_session("agents/default", {"display_name": "s"})
    item = [{"role": "user", "content": "same"}]
    client.add_items(session.name, item)
    client.add_items(session.name, item)
    request_id = "5f0c6f52-8f55-4b43-9a53-1f0b7c1e2d3a"
    first = client.add_items(session.name, item, request_id=request_id)
    again = client.add_items(session.name, item, request_id=request_id)
    assert [i.sequence for i in first] == [i.sequence for i in again]
    return [client.get_session(session.name).stats.item_count, first[0].sequence]


async def test_each_call_gets_its_own_request_id_unless_given(sync_client: Client) -> None:
    # The server runs on this test's event loop, so the blocking calls go to a thread.
    assert await asyncio.to_thread(own_request_ids, sync_client) == [3, 3]
