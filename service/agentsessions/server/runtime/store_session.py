"""`StoreSession`: the Agents SDK `Session` protocol over the `Store`, for one session and run.

`Runner.run_streamed(..., session=StoreSession(...))` reads history and appends each turn
through it. Every append is one store transaction, so a turn is stored whole or not at all.
A run passes its own `write`, which stores the items together with the run's events; given a
run's `fence` (its lease), appends are refused once the run no longer holds the session.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from agents.items import TResponseInputItem
from agents.memory import SessionSettings

from ..domain.models import ItemRecord, Lease, NewItem, SessionKey
from ..domain.names import session_name
from ..domain.validation import describe_item
from ..store.base import Store
from .settle import settle


def item_json_of(item: TResponseInputItem | dict[str, Any]) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


class StoreSession:
    """One stored session seen as an SDK `Session`; items it appends carry `run_id`."""

    session_settings: SessionSettings | None = None

    def __init__(
        self,
        store: Store,
        key: SessionKey,
        *,
        run_id: str = "",
        fence: Lease | None = None,
        write: Callable[[list[NewItem]], Awaitable[list[ItemRecord]]] | None = None,
    ) -> None:
        self.session_id = session_name(key)
        self._store = store
        self._key = key
        self._run_id = run_id
        self.stored: list[ItemRecord] = []  # what this adapter appended, oldest first
        self._fence = fence
        self._write = write or self._add_items

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The newest `limit` items (all when None), oldest first."""
        if limit is not None and limit <= 0:
            return []
        records = await self._store.list_items(self._key, newest_count=limit or 0)
        items: list[TResponseInputItem] = [json.loads(r.item_json) for r in records]
        return items

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        if not items:
            return
        batch = []
        for item in items:
            item_json = item_json_of(item)
            batch.append(describe_item(json.loads(item_json), item_json))
        write = asyncio.ensure_future(self._write(batch))
        try:
            records = await settle(write)
        except asyncio.CancelledError:
            # Stored even though the run is being cancelled: keep the account exact.
            if not write.cancelled() and write.exception() is None:
                self.stored.extend(write.result())
            raise
        self.stored.extend(records)

    async def _add_items(self, batch: list[NewItem]) -> list[ItemRecord]:
        return await self._store.add_items(self._key, batch, run_id=self._run_id, fence=self._fence)

    async def pop_item(self) -> TResponseInputItem | None:
        record = await settle(self._store.pop_item(self._key))
        if record is None:
            return None
        item: TResponseInputItem = json.loads(record.item_json)
        return item

    async def clear_session(self) -> None:
        await settle(self._store.clear_items(self._key))
