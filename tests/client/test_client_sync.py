"""The blocking Client against a real server: the same calls, pagers and exceptions."""

from __future__ import annotations

import asyncio

import pytest
from agentsessions.client import AlreadyExists, Client, InvalidArgument, NotFound, Pager


def conversation(client: Client) -> dict[str, object]:
    agent = client.create_agent({"display_name": "Sync"}, agent_id="sync")
    session = client.create_session(agent.name, {"display_name": "s"}, session_id="s1")
    client.add_items(session.name, [{"role": "user", "content": str(n)} for n in range(5)])
    pager = client.list_items(session.name, page_size=2)
    pages = [len(page.items) for page in pager.pages]
    sequences = [item.sequence for item in pager]
    with pytest.raises(AlreadyExists):
        client.create_agent({"display_name": "Sync"}, agent_id="sync")
    with pytest.raises(InvalidArgument) as invalid:
        client.create_session(agent.name, {"display_name": ""})
    popped = client.pop_item(session.name)
    client.delete_agent(agent.name, force=True)
    with pytest.raises(NotFound):
        client.get_session(session.name)
    return {
        "pager": isinstance(pager, Pager),
        "pages": pages,
        "sequences": sequences,
        "popped": popped.sequence if popped else None,
        "violations": [v.field for v in invalid.value.field_violations],
        "agents": [a.name for a in client.list_agents()],
        "rpc_names": client.get_agent("agents/default").name,
    }


async def test_sync_client_end_to_end(sync_client: Client) -> None:
    seen = await asyncio.to_thread(conversation, sync_client)
    assert seen == {
        "pager": True,
        "pages": [2, 2, 1],
        "sequences": [1, 2, 3, 4, 5],
        "popped": 5,
        "violations": ["session.display_name"],
        "agents": ["agents/default"],
        "rpc_names": "agents/default",
    }
