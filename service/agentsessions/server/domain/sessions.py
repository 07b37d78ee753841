"""Session rules: creation under an agent, listing, updates, and the history calls."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import replace

from ..store.base import (
    ItemsRequest,
    RunCursor,
    RunQuery,
    RunScan,
    SessionCursor,
    SessionFilter,
    SessionQuery,
    SessionScan,
    Store,
)
from . import names
from .agents import new_etag
from .errors import InvalidArgument
from .filters import parse_filter, parse_order_by, parse_run_filter
from .models import ItemRecord, NewItem, RunRecord, SessionKey, SessionRecord, now_us
from .paging import (
    PAGE_BYTES,
    SCAN_ROWS,
    Page,
    decode_token,
    encode_token,
    item_bytes,
    page_of,
    page_size,
    run_bytes,
    session_bytes,
)
from .resource_errors import (
    agent_not_found,
    etag_differs,
    run_not_found,
    session_etag_mismatch,
    session_not_found,
)
from .validation import Violations, check_display_name, check_labels, parse_items, update_paths

UPDATABLE_FIELDS = frozenset({"display_name", "state", "labels", "expire_time"})
DEFAULT_ITEM_PAGE_SIZE = 100
BATCH_DELETE_MAX = 1000
# How long an AddItems request_id is remembered: far longer than any retry waits.
ADD_REQUEST_RETENTION_US = 24 * 3600 * 1_000_000


def items_hash(items: list[NewItem]) -> str:
    """What a retry of AddItems with the same request_id must repeat: its items, in order."""
    canonical = json.dumps([item.item_json for item in items], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _run_position(cursor: RunCursor) -> list[object]:
    """A run list's page-token cursor (paging.SHAPES)."""
    return [cursor.start_time_us, cursor.run_id, cursor.session_row]


def _check_session(session: SessionRecord) -> None:
    found = Violations()
    check_display_name(session.display_name, "session.display_name", found)
    check_labels(session.labels, "session.labels", found)
    found.raise_if_any()


class Sessions:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(
        self, session: SessionRecord, session_id: str, request_id: str
    ) -> SessionRecord:
        session_id = names.check_id(session_id, "session_id") if session_id else names.new_id()
        now = now_us()
        session = replace(
            session,
            session_id=session_id,
            create_time_us=now,
            update_time_us=now,
            last_activity_time_us=now,
            etag=new_etag(),
        )
        _check_session(session)
        return await self._store.create_session(session, names.check_request_id(request_id))

    async def _check_agent(self, tenant: str, agent_id: str) -> None:
        if await self._store.get_agent(tenant, agent_id) is None:
            raise agent_not_found(agent_id)

    async def get(self, key: SessionKey) -> SessionRecord:
        session = await self._store.get_session(key)
        if session is None:
            raise session_not_found(key)
        return session

    async def list_sessions(
        self,
        tenant: str,
        agent_id: str | None,
        *,
        size: int,
        token: str,
        filter_text: str,
        order_by: str,
    ) -> Page[SessionRecord]:
        limit = page_size(size)
        params = {"agent": agent_id, "filter": filter_text, "order_by": order_by}
        query = SessionQuery(
            tenant=tenant,
            agent_id=agent_id,
            filter=parse_filter(filter_text),
            order=parse_order_by(order_by),
            limit=limit,
        )
        cursor = decode_token(token, params)
        if cursor is not None:
            query = replace(query, after=SessionCursor(value=int(cursor[0]), row=int(cursor[1])))
        query = replace(query, limit=limit + 1, max_bytes=PAGE_BYTES)
        # A filter may match few of the rows it walks: the call examines at most SCAN_ROWS
        # of them and, short of a full page, resumes after the last one on its next page.
        if query.filter != SessionFilter():
            scan = await self._store.scan_sessions(query, SCAN_ROWS)
        else:
            scan = SessionScan(await self._store.list_sessions(query), None)
        if not scan.entries and agent_id is not None:
            # AIP-132: a parent that does not exist is NOT_FOUND, not an empty list. Asked
            # only of an empty page: a session listed proves its agent exists.
            await self._check_agent(tenant, agent_id)
        page = page_of(
            scan.entries,
            limit,
            params,
            lambda row: [row.cursor.value, row.cursor.row],
            size_of=lambda row: session_bytes(row.session),
        )
        token = page.next_page_token
        if not token and scan.end is not None:
            token = encode_token(params, [scan.end.value, scan.end.row])
        return Page([row.session for row in page.entries], token)

    async def update(
        self, changes: SessionRecord, mask: Collection[str], etag: str
    ) -> SessionRecord:
        paths = update_paths(mask, UPDATABLE_FIELDS)
        key = SessionKey(changes.tenant, changes.agent_id, changes.session_id)

        def apply(current: SessionRecord) -> SessionRecord:
            # Runs inside the store's write transaction on the row as it is there, so two
            # updates of different fields without an etag both survive.
            if etag_differs(etag, current.etag):
                raise session_etag_mismatch(key)
            updated = current
            if "display_name" in paths:
                updated = replace(updated, display_name=changes.display_name)
            if "state" in paths:
                updated = replace(updated, state=changes.state)
            if "labels" in paths:
                updated = replace(updated, labels=dict(changes.labels))
            if "expire_time" in paths:
                updated = replace(updated, expire_time_us=changes.expire_time_us)
            _check_session(updated)
            return replace(
                updated,
                update_time_us=max(now_us(), current.create_time_us),
                etag=new_etag(),
            )

        updated = await self._store.update_session(key, apply)
        if updated is None:
            raise session_not_found(key)
        return updated

    async def delete(self, key: SessionKey, etag: str) -> None:
        await self._store.delete_session(key, expected_etag=etag or None)

    async def batch_delete(self, tenant: str, parent: str, session_names: list[str]) -> None:
        """Deletes the named sessions, all or none (AIP-235).

        `parent` is `agents/{agent}` or `agents/-`; every name must be under it, and
        appear once. A missing session fails the whole call with NotFound.
        """
        agent_id = names.agent_parent(parent)
        if not session_names:
            raise InvalidArgument.field("names", "must not be empty", reason="MISSING_FIELD")
        if len(session_names) > BATCH_DELETE_MAX:
            raise InvalidArgument.field(
                "names",
                f"must have at most {BATCH_DELETE_MAX} names, got {len(session_names)}",
                reason="TOO_MANY_NAMES",
            )
        found = Violations()
        keys: list[SessionKey] = []
        first_index: dict[SessionKey, int] = {}
        for index, name in enumerate(session_names):
            field = f"names[{index}]"
            try:
                key = names.session_key(name, tenant, field)
            except InvalidArgument as exc:
                found.items.extend(exc.violations)
                continue
            if agent_id is not None and key.agent_id != agent_id:
                found.add(field, f"must be a session of {parent}, got {name!r}")
            elif key in first_index:
                found.add(field, f"repeats names[{first_index[key]}] ({name})")
            else:
                first_index[key] = index
                keys.append(key)
        found.raise_if_any()
        await self._store.delete_sessions(keys)

    async def list_items(
        self,
        key: SessionKey,
        *,
        size: int,
        token: str,
        after_sequence: int,
        newest_count: int,
    ) -> Page[ItemRecord]:
        found = Violations()
        if after_sequence < 0:
            found.add("after_sequence", "must not be negative")
        if newest_count < 0:
            found.add("newest_count", "must not be negative")
        found.raise_if_any()
        limit = page_size(size, DEFAULT_ITEM_PAGE_SIZE)
        params = {"after": after_sequence, "newest": newest_count}
        cursor = decode_token(token, params)
        # Later pages go on from the last sequence returned: the newest-N window
        # only decides where the first page starts.
        items = await self._store.list_items(
            key,
            after_sequence=int(cursor[0]) if cursor is not None else after_sequence,
            newest_count=newest_count if cursor is None else 0,
            limit=limit + 1,
            max_bytes=PAGE_BYTES,
        )
        return page_of(items, limit, params, lambda item: [item.sequence], size_of=item_bytes)

    async def add_items(
        self, key: SessionKey, item_jsons: list[str], request_id: str = ""
    ) -> list[ItemRecord]:
        """Appends the items; returns them stored, without item_json and text.

        The reply names the items (sequence, type, role, create time) but does not repeat
        their bodies: the caller has them, and a reply that echoed them could outgrow the
        message limit after the items were stored. With a `request_id` (AIP-155) a retry
        returns the first call's result and stores nothing; the same id with other items
        is InvalidArgument (REQUEST_ID_REUSED).
        """
        checked_id = names.check_request_id(request_id)
        items = parse_items(item_jsons, "items")
        if checked_id is None:
            stored = await self._store.add_items(key, items)
        else:
            digest = items_hash(items)
            request = ItemsRequest(checked_id, digest, now_us() - ADD_REQUEST_RETENTION_US)
            added = await self._store.add_items_once(key, items, request)
            if added.replayed and added.request_hash != digest:
                raise InvalidArgument.field(
                    "request_id",
                    "was used for another AddItems with different items",
                    reason="REQUEST_ID_REUSED",
                )
            stored = added.items
        return [replace(item, item_json="", text="") for item in stored]

    async def pop_item(self, key: SessionKey) -> ItemRecord | None:
        return await self._store.pop_item(key)

    async def clear(self, key: SessionKey) -> int:
        return await self._store.clear_items(key)

    async def get_run(self, key: SessionKey, run_id: str) -> RunRecord:
        run = await self._store.get_run(key, run_id)
        if run is None:
            raise run_not_found(key, run_id)
        return run

    async def list_runs(
        self,
        tenant: str,
        agent_id: str | None,
        session_id: str | None,
        *,
        size: int,
        token: str,
        filter_text: str,
    ) -> Page[RunRecord]:
        """The runs of one session, of every session of an agent (`session_id` None) or of
        every session of the tenant (both None), newest first, filtered by state."""
        limit = page_size(size)
        run_filter = parse_run_filter(filter_text)
        params = {"parent": names.runs_parent_name(agent_id, session_id), "filter": filter_text}
        cursor = decode_token(token, params)
        query = RunQuery(
            tenant,
            agent_id,
            session_id,
            filter=run_filter,
            after=None if cursor is None else RunCursor(cursor[0], cursor[1], cursor[2]),
            limit=limit + 1,
            max_bytes=PAGE_BYTES,
        )
        # The walk is a session's runs, or the tenant's (of the filter's state, if any):
        # every run it visits matches but for a condition the index lacks, the state within
        # a session or the agent across sessions. Then, as a filtered ListSessions, the call
        # examines at most SCAN_ROWS runs and, short of a full page, resumes after the last.
        exact = run_filter.state is None if session_id is not None else agent_id is None
        if exact:
            scan = RunScan(await self._store.find_runs(query), None)
        else:
            scan = await self._store.scan_runs(query, SCAN_ROWS)
        if not scan.entries and agent_id is not None:
            # AIP-132: a parent that does not exist is NOT_FOUND, not an empty list. Asked
            # of every empty page, so a session deleted between pages is noticed too.
            if session_id is not None:
                await self.get(SessionKey(tenant, agent_id, session_id))
            else:
                await self._check_agent(tenant, agent_id)
        page = page_of(
            scan.entries,
            limit,
            params,
            lambda entry: _run_position(entry.cursor),
            size_of=lambda entry: run_bytes(entry.run),
        )
        token = page.next_page_token
        if not token and scan.end is not None:
            token = encode_token(params, _run_position(scan.end))
        return Page([entry.run for entry in page.entries], token)
