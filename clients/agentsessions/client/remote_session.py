"""RemoteSession: the Agents SDK `Session` protocol, with the history kept by agentsessions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from agents.memory import SessionSettings
from agents.memory.session_settings import resolve_session_limit
from agentsessions.client._defaults import DEFAULT_RETRY
from agentsessions.client.async_client import AsyncClient
from agentsessions.client.names import parse_session_path
from agentsessions.v1 import session_pb2

if TYPE_CHECKING:
    from agents.items import TResponseInputItem

# The most items one AddItems or one ListItems page may carry.
_MAX_BATCH = 1000


class RemoteSession:
    """An Agents SDK session whose history lives in an agentsessions session.

    It behaves like the SDK's `SQLiteSession`: `get_items(limit)` returns the
    newest `limit` items in chronological order, `pop_item()` on an empty
    session returns None, and items come back exactly as they were added.
    Each `add_items` call is one transaction on the server, so concurrent
    calls from many tasks lose nothing.

    Example:
        >>> session = RemoteSession(client, "agents/default/sessions/s1")  # doctest: +SKIP
        >>> result = await Runner.run(agent, "hi", session=session)  # doctest: +SKIP

    Args:
        client: the AsyncClient to call the service with.
        session_name: an existing session, `agents/{agent}/sessions/{session}`.
        session_settings: the SDK's settings; `limit` is the default for `get_items`.
    """

    def __init__(
        self,
        client: AsyncClient,
        session_name: str,
        *,
        session_settings: SessionSettings | None = None,
    ) -> None:
        parse_session_path(session_name)
        self.client = client
        self.session_id = session_name
        self.session_settings: SessionSettings | None = session_settings or SessionSettings()

    @classmethod
    async def create(
        cls,
        client: AsyncClient,
        agent: str = "agents/default",
        *,
        display_name: str = "Agents SDK session",
        session_id: str = "",
        labels: Mapping[str, str] | None = None,
        session_settings: SessionSettings | None = None,
    ) -> RemoteSession:
        """Creates a new session under `agent` and returns a RemoteSession for it."""
        session = await client.create_session(
            agent,
            session_pb2.Session(display_name=display_name, labels=dict(labels or {})),
            session_id=session_id,
        )
        return cls(client, session.name, session_settings=session_settings)

    @property
    def name(self) -> str:
        """The session's resource name (also `session_id`)."""
        return self.session_id

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The history in chronological order; with `limit`, only the newest `limit` items."""
        limit = resolve_session_limit(limit, self.session_settings)
        if limit == 0:
            return []
        # A negative limit means everything, as it does for SQLiteSession.
        newest = limit if limit is not None and limit > 0 else 0
        pager = await self.client.list_items(
            self.session_id, page_size=_MAX_BATCH, newest_count=newest
        )
        # The pager follows next_page_token to the end: the server ends a page at about
        # 1 MiB as well as at page_size, so a long history comes in several pages.
        return [_decode(item) async for item in pager]

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Appends items to the history; each batch of up to 1000 is one transaction."""
        for start in range(0, len(items), _MAX_BATCH):
            batch = [cast(Mapping[str, Any], i) for i in items[start : start + _MAX_BATCH]]
            await self.client.add_items(self.session_id, batch)

    async def pop_item(self) -> TResponseInputItem | None:
        """Removes and returns the newest item; None when the history is empty."""
        item = await self.client.pop_item(self.session_id)
        return None if item is None else _decode(item)

    async def clear_session(self) -> None:
        """Removes every item of the history."""
        # Safe to repeat here: the count of removed items, which a repeat changes, is unused.
        await self.client.clear_session(self.session_id, retry=DEFAULT_RETRY)

    def __repr__(self) -> str:
        return f"RemoteSession({self.session_id!r})"


def _decode(item: session_pb2.Item) -> TResponseInputItem:
    return cast("TResponseInputItem", json.loads(item.item_json))
