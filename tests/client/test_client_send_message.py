"""send_message: the event stream, the final-text helper, busy sessions and cancellation."""

from __future__ import annotations

import asyncio

import pytest
from agentsessions.client import (
    AsyncClient,
    Cancelled,
    Client,
    InvalidArgument,
    NotFound,
    SessionBusy,
)
from agentsessions.server.runtime import ModelRegistry
from agentsessions.v1 import session_pb2


async def new_session(client: AsyncClient) -> str:
    return (await client.create_session("agents/default", {"display_name": "chat"})).name


async def test_events_arrive_in_order_and_final_text_collects_the_reply(
    client: AsyncClient,
) -> None:
    session = await new_session(client)
    stream = client.send_message(session, text="hello streaming world")
    kinds = [event.WhichOneof("event") async for event in stream]
    assert kinds[0] == "run_started" and kinds[-1] == "run_completed"
    assert kinds.count("text_delta") == 3
    assert "message_completed" in kinds
    assert stream.text == "hello streaming world"
    assert await stream.final_text() == "hello streaming world"

    run = await client.get_run(stream.run)
    assert run.state == session_pb2.Run.COMPLETED
    assert [r.name async for r in await client.list_runs(session)] == [stream.run]

    again = await client.send_message(session, text="once more").final_text()
    assert again == "once more"
    history = [i.text async for i in await client.list_items(session)]
    assert history == ["hello streaming world"] * 2 + ["once more"] * 2


async def test_input_items_instead_of_text(client: AsyncClient) -> None:
    session = await new_session(client)
    stream = client.send_message(session, input_items=[{"role": "user", "content": "as item"}])
    assert await stream.final_text() == "as item"
    with pytest.raises(ValueError):
        client.send_message(session)


async def test_errors_before_the_run_raise_while_iterating(client: AsyncClient) -> None:
    with pytest.raises(NotFound):
        await client.send_message("agents/default/sessions/nope", text="hi").final_text()
    session = await new_session(client)
    with pytest.raises(InvalidArgument):
        async for _ in client.send_message(session, text="   "):
            pass


@pytest.fixture
async def slow_client(server_factory):
    server = await server_factory(models=ModelRegistry(echo_word_delay=0.2))
    async with AsyncClient(f"127.0.0.1:{server.port}") as client:
        yield client


async def test_a_busy_session_raises_session_busy_or_waits(slow_client: AsyncClient) -> None:
    session = await new_session(slow_client)
    first = slow_client.send_message(session, text="one two three four five")
    events = aiter(first)
    assert (await anext(events)).WhichOneof("event") == "run_started"

    with pytest.raises(SessionBusy) as caught:
        await slow_client.send_message(session, text="me too").final_text()
    assert caught.value.reason == "SESSION_BUSY"

    waiting = asyncio.create_task(
        slow_client.send_message(session, text="after you", wait_if_busy=True).final_text()
    )
    assert await first.final_text() == "one two three four five"
    assert await waiting == "after you"


async def test_cancel_stops_the_run(slow_client: AsyncClient) -> None:
    session = await new_session(slow_client)
    async with slow_client.send_message(session, text="a b c d e f g h i j") as stream:
        events = aiter(stream)
        await anext(events)
        stream.cancel()
        with pytest.raises(Cancelled):
            await stream.final_text()
    # The session is free again for the next message.
    assert await slow_client.send_message(session, text="next", wait_if_busy=True).final_text()


async def test_sync_send_message(sync_client: Client) -> None:
    def chat() -> tuple[list[str], str]:
        session = sync_client.create_session("agents/default", {"display_name": "s"}).name
        with sync_client.send_message(session, text="sync hello") as stream:
            kinds = [event.WhichOneof("event") for event in stream]
            return kinds, stream.final_text()

    kinds, text = await asyncio.to_thread(chat)
    assert (kinds[0], kinds[-1], text) == ("run_started", "run_completed", "sync hello")
