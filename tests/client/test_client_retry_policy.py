"""Which calls the client repeats after a lost reply: never one whose repeat changes the answer
(an update with an etag, a clear) unless the caller passes `retry`."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from agentsessions.client import Aborted, AsyncClient, Retry, Unavailable
from agentsessions.client._defaults import DEFAULT_RETRY, METHOD_DEFAULTS
from agentsessions.v1 import agent_pb2, session_pb2
from agentsessions.v1 import session_service_pb2 as ss

AGENTS = "/agentsessions.v1.AgentService/"
SESSIONS = "/agentsessions.v1.SessionService/"


class LoseFirstReply(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Lets the first call of `method` reach the server and commit, then reports it
    UNAVAILABLE, as when the connection drops before the reply arrives."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.requests: list[Any] = []

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        call = await continuation(client_call_details, request)
        method = client_call_details.method
        if (method.decode() if isinstance(method, bytes) else method) != self.method:
            return call
        self.requests.append(request)
        if len(self.requests) == 1:
            await call  # applied on the server
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                details="connection lost before the reply",
            )
        return call


async def lossy_client(address: str, method: str) -> tuple[AsyncClient, LoseFirstReply]:
    lossy = LoseFirstReply(method)
    channel = grpc.aio.insecure_channel(address, interceptors=[lossy])
    return AsyncClient(channel=channel), lossy


async def update_agent(client: AsyncClient, etag: str, **options: Any) -> agent_pb2.Agent:
    agent = {"name": "agents/default", "display_name": "Renamed", "etag": etag}
    return await client.update_agent(agent, update_mask=["display_name"], **options)


async def update_session(client: AsyncClient, etag: str, **options: Any) -> session_pb2.Session:
    session = {"name": "agents/default/sessions/s", "display_name": "Renamed", "etag": etag}
    return await client.update_session(session, update_mask=["display_name"], **options)


async def current_etag(client: AsyncClient, method: str) -> str:
    if method == "UpdateAgent":
        return (await client.get_agent("agents/default")).etag
    created = await client.create_session("agents/default", {"display_name": "s"}, session_id="s")
    return created.etag


async def stored_name(client: AsyncClient, method: str) -> str:
    if method == "UpdateAgent":
        return (await client.get_agent("agents/default")).display_name
    return (await client.get_session("agents/default/sessions/s")).display_name


UPDATES = {"UpdateAgent": (AGENTS, update_agent), "UpdateSession": (SESSIONS, update_session)}


@pytest.mark.parametrize("method", list(UPDATES))
async def test_update_with_an_etag_is_not_retried(address: str, method: str) -> None:
    service, update = UPDATES[method]
    client, lossy = await lossy_client(address, service + method)
    async with client.channel:
        etag = await current_etag(client, method)
        with pytest.raises(Unavailable):
            await update(client, etag)
        assert len(lossy.requests) == 1
        # The update did happen: the caller reads the resource to learn its new etag.
        assert await stored_name(client, method) == "Renamed"


@pytest.mark.parametrize("method", list(UPDATES))
async def test_update_with_an_etag_is_retried_when_the_caller_asks(
    address: str, method: str
) -> None:
    service, update = UPDATES[method]
    client, lossy = await lossy_client(address, service + method)
    async with client.channel:
        etag = await current_etag(client, method)
        # What the default avoids: the repeat sees the etag the first attempt changed.
        with pytest.raises(Aborted) as caught:
            await update(client, etag, retry=Retry(initial=0.01))
        assert caught.value.reason == "ETAG_MISMATCH"
        assert len(lossy.requests) == 2


@pytest.mark.parametrize("method", list(UPDATES))
async def test_update_without_an_etag_is_retried(address: str, method: str) -> None:
    service, update = UPDATES[method]
    client, lossy = await lossy_client(address, service + method)
    async with client.channel:
        await current_etag(client, method)
        updated = await update(client, "")
        assert updated.display_name == "Renamed"
        assert len(lossy.requests) == 2


async def test_clear_is_not_retried_unless_asked(address: str) -> None:
    client, lossy = await lossy_client(address, SESSIONS + "ClearSession")
    async with client.channel:
        session = await client.create_session("agents/default", {"display_name": "s"})
        await client.add_items(session.name, [{"role": "user", "content": "a"}])
        with pytest.raises(Unavailable):
            await client.clear_session(session.name)
        assert len(lossy.requests) == 1
        assert (await client.get_session(session.name)).stats.item_count == 0
        await client.add_items(session.name, [{"role": "user", "content": "b"}])
        lossy.requests.clear()
        # Opted in, the repeat reports what it removed itself: nothing.
        assert await client.clear_session(session.name, retry=Retry(initial=0.01)) == 0
        assert len(lossy.requests) == 2


async def test_calls_with_a_request_id_are_still_retried(address: str) -> None:
    client, lossy = await lossy_client(address, SESSIONS + "CreateSession")
    async with client.channel:
        created = await client.create_session("agents/default", {"display_name": "once"})
        assert len(lossy.requests) == 2
        assert lossy.requests[0].request_id == lossy.requests[1].request_id != ""
        listed = await (await client.list_sessions("agents/default")).collect()
        assert [s.name for s in listed] == [created.name]


@pytest.mark.parametrize(
    ("method", "request_message", "retried"),
    [
        ("UpdateAgent", agent_pb2.UpdateAgentRequest(agent=agent_pb2.Agent(etag="e")), False),
        ("UpdateAgent", agent_pb2.UpdateAgentRequest(agent=agent_pb2.Agent()), True),
        ("UpdateSession", ss.UpdateSessionRequest(session=session_pb2.Session(etag="e")), False),
        ("UpdateSession", ss.UpdateSessionRequest(session=session_pb2.Session()), True),
        ("DeleteAgent", agent_pb2.DeleteAgentRequest(), False),
        ("DeleteSession", ss.DeleteSessionRequest(etag="e"), False),
        ("ClearSession", ss.ClearSessionRequest(), False),
        ("PopItem", ss.PopItemRequest(), False),
        ("CreateSession", ss.CreateSessionRequest(), True),
        ("AddItems", ss.AddItemsRequest(), True),
        ("GetSession", ss.GetSessionRequest(), True),
    ],
)
def test_default_retry_of_each_request(method: str, request_message: Any, retried: bool) -> None:
    # The table both clients (async and blocking) resolve a left-out `retry` from.
    assert METHOD_DEFAULTS[method].retry_for(request_message) == (
        DEFAULT_RETRY if retried else None
    )
