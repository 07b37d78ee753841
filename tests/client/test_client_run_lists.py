"""list_runs across sessions and by state, with the async client's pager."""

from __future__ import annotations

import pytest
from agentsessions.client import (
    ALL_SESSIONS,
    WAITING_FOR_APPROVAL,
    AsyncClient,
    InvalidArgument,
    NotFound,
)


async def test_list_runs_of_every_session_by_state(client: AsyncClient) -> None:
    sent = []
    for name in ("first", "second"):
        session = (await client.create_session("agents/default", {"display_name": name})).name
        stream = client.send_message(session, text="hello")
        await stream.final_text()
        sent.insert(0, stream.run)  # newest first

    assert [r.name async for r in await client.list_runs(ALL_SESSIONS, page_size=1)] == sent
    everyone = await client.list_runs("agents/default/sessions/-", filter="state = COMPLETED")
    assert [r.name async for r in everyone] == sent
    assert await (await client.list_runs(ALL_SESSIONS, filter=WAITING_FOR_APPROVAL)).collect() == []

    with pytest.raises(InvalidArgument) as bad:
        await client.list_runs(ALL_SESSIONS, filter="state = WAITING")
    assert bad.value.reason == "INVALID_FILTER"
    with pytest.raises(NotFound) as missing:
        await client.list_runs("agents/ghost/sessions/-", filter=WAITING_FOR_APPROVAL)
    assert missing.value.reason == "AGENT_NOT_FOUND"
