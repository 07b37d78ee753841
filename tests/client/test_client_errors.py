"""Each exception type, raised from a real server's error."""

from __future__ import annotations

import asyncio

import pytest
from agentsessions.client import (
    Aborted,
    AlreadyExists,
    AsyncClient,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from agentsessions.v1 import session_pb2


async def test_not_found(client: AsyncClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.get_agent("agents/nobody")
    assert caught.value.reason == "AGENT_NOT_FOUND"
    assert caught.value.domain == "agentsessions"
    assert caught.value.metadata == {"name": "agents/nobody", "agent_id": "nobody"}


async def test_already_exists(client: AsyncClient) -> None:
    with pytest.raises(AlreadyExists) as caught:
        await client.create_agent({"display_name": "Again"}, agent_id="default")
    assert caught.value.reason == "AGENT_ALREADY_EXISTS"


async def test_invalid_argument_lists_the_bad_fields(client: AsyncClient) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await client.create_agent({"display_name": "Fine"}, agent_id="Not_An_Id")
    assert caught.value.reason == "INVALID_ID"
    assert [v.field for v in caught.value.field_violations] == ["agent_id"]
    assert "Not_An_Id" in caught.value.field_violations[0].description
    with pytest.raises(InvalidArgument) as caught:
        await client.create_session("agents/default", {"display_name": ""})
    assert [v.field for v in caught.value.field_violations] == ["session.display_name"]


async def test_aborted_on_a_stale_etag(client: AsyncClient) -> None:
    session = await client.create_session("agents/default", {"display_name": "one"})
    await client.update_session(
        {"name": session.name, "display_name": "two"}, update_mask=["display_name"]
    )
    with pytest.raises(Aborted) as caught:
        await client.update_session(
            session_pb2.Session(name=session.name, display_name="three", etag=session.etag),
            update_mask=["display_name"],
        )
    assert caught.value.reason == "ETAG_MISMATCH"


async def test_failed_precondition(client: AsyncClient) -> None:
    await client.create_session("agents/default", {"display_name": "keeps the agent"})
    with pytest.raises(FailedPrecondition) as caught:
        await client.delete_agent("agents/default")
    assert caught.value.reason == "AGENT_HAS_SESSIONS"


async def test_resource_exhausted_for_an_oversized_request(server_factory) -> None:
    server = await server_factory(max_message_bytes=64 * 1024)
    async with AsyncClient(f"127.0.0.1:{server.port}") as client:
        session = await client.create_session("agents/default", {"display_name": "big"})
        with pytest.raises(ResourceExhausted):
            await client.add_items(session.name, [{"role": "user", "content": "x" * 100_000}])


async def test_internal_hides_the_cause(server_factory, monkeypatch) -> None:
    server = await server_factory()

    async def broken(*args, **kwargs):
        raise RuntimeError("secret")

    monkeypatch.setattr(server.store, "get_session", broken)
    async with AsyncClient(f"127.0.0.1:{server.port}") as client:
        with pytest.raises(Internal) as caught:
            await client.get_session("agents/default/sessions/s")
    assert "secret" not in str(caught.value)


async def test_deadline_exceeded(server_factory, monkeypatch) -> None:
    server = await server_factory()
    entered = asyncio.Event()

    async def slow(*args, **kwargs):
        entered.set()
        await asyncio.sleep(30)

    monkeypatch.setattr(server.store, "get_session", slow)
    async with AsyncClient(f"127.0.0.1:{server.port}") as client:
        with pytest.raises(DeadlineExceeded):
            await client.get_session("agents/default/sessions/s", timeout=0.3)
    assert entered.is_set(), "the call reached the server before its deadline passed"


async def test_unavailable_when_nothing_listens(server_factory) -> None:
    server = await server_factory()
    await server.stop(0)
    async with AsyncClient(f"127.0.0.1:{server.port}") as client:
        with pytest.raises(Unavailable):
            await client.get_agent("agents/default", retry=None)
        # With retries, it gives up once the deadline leaves no room for another wait.
        with pytest.raises(Unavailable):
            await client.get_agent("agents/default", timeout=0.5)


async def test_bearer_token_and_auth_errors(guarded_address: str, monkeypatch) -> None:
    monkeypatch.delenv("AGENTSESSIONS_TOKEN", raising=False)
    async with AsyncClient(guarded_address) as anonymous:
        with pytest.raises(Unauthenticated) as caught:
            await anonymous.get_agent("agents/a")
        assert caught.value.reason == "MISSING_TOKEN"
    async with AsyncClient(guarded_address, token="reader") as reader:
        with pytest.raises(PermissionDenied):
            await reader.get_agent("agents/a")
    async with AsyncClient(guarded_address, token="good") as good:
        assert (await good.get_agent("agents/a")).display_name == "Guarded"
    monkeypatch.setenv("AGENTSESSIONS_TOKEN", "good")
    async with AsyncClient(guarded_address) as from_env:
        assert (await from_env.get_agent("agents/a")).display_name == "Guarded"
