"""CompactSession: a summary in place of a session's older items, under the session's run lock.

The lock is the one SendMessage takes, so a compaction never interleaves with a run: the
run's history and its stored items always agree. Where the replaced part ends follows the
history window's rule: a kept tool output always keeps its call.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from agents import Model

from ..domain.compaction import check_compaction, summary_item
from ..domain.models import (
    CompactedHistory,
    ItemRecord,
    Lease,
    SessionKey,
    SessionRecord,
    Usage,
)
from ..domain.resource_errors import agent_not_found, session_not_found
from ..store.base import Store
from .history import history_window
from .models import ModelRegistry
from .summarize import summarize

SUMMARIZED_ITEMS_MAX = 1000  # items the model reads: the first, then the newest replaced


async def _session(store: Store, key: SessionKey) -> SessionRecord:
    session = await store.get_session(key)
    if session is None:
        raise session_not_found(key)
    return session


async def _replaced_items(
    store: Store, key: SessionKey, through: int
) -> tuple[list[ItemRecord], int]:
    """The items 1..`through` the model reads, and how many of them it is not shown."""
    if through <= SUMMARIZED_ITEMS_MAX:
        return await store.list_items(key, limit=through), 0
    # The first item is often an earlier summary: it covers everything before it.
    first = await store.list_items(key, limit=1)
    newest = await store.list_items(
        key, after_sequence=through - SUMMARIZED_ITEMS_MAX + 1, limit=SUMMARIZED_ITEMS_MAX - 1
    )
    return first + newest, through - SUMMARIZED_ITEMS_MAX


async def _summary_model(store: Store, models: ModelRegistry, key: SessionKey) -> Model:
    agent = await store.get_agent(key.tenant, key.agent_id)
    if agent is None:
        raise agent_not_found(key.agent_id)
    return models.get_model(agent.model)


async def compact_session(
    store: Store,
    models: ModelRegistry,
    hold: Callable[..., AbstractAsyncContextManager[Lease]],
    key: SessionKey,
    *,
    keep_newest_count: int | None,
    summary_text: str,
    wait_if_busy: bool = False,
    wait_timeout: float | None = None,
) -> CompactedHistory:
    """Replaces all but the newest `keep_newest_count` items (20 when None) by a summary.

    The summary is `summary_text`, or the agent's model's when that is blank. Raises
    InvalidArgument for bad limits, NotFound, Aborted (SESSION_BUSY) when a run holds the
    session and not `wait_if_busy`, DeadlineExceeded when still busy after `wait_timeout`,
    Aborted (HISTORY_CHANGED) when the history was written to after it was read, and the
    model's failure as a domain error.
    """
    keep = check_compaction(keep_newest_count, summary_text)
    await _session(store, key)
    # Resolved before waiting for the lock: a model the server cannot use fails at once.
    model = None if summary_text.strip() else await _summary_model(store, models, key)
    async with hold(key, wait=wait_if_busy, wait_seconds=wait_timeout):
        # Read before the session and its items: AddItems and PopItem do not wait for the
        # lock, and any of their writes from here on makes the compaction's write refuse.
        version = await store.get_history_version(key)
        if version is None:
            raise session_not_found(key)
        session = await _session(store, key)
        count = session.stats.item_count
        kept = 0 if keep == 0 else await history_window(store, key, keep)
        if kept is None or kept >= count:
            return CompactedHistory(session)  # nothing older than what is kept
        through = count - kept
        text, usage = summary_text, Usage()
        if model is not None:
            items, omitted = await _replaced_items(store, key, through)
            text, usage = await summarize(model, items, omitted=omitted)
        return await store.compact_items(
            key,
            through_sequence=through,
            summary=summary_item(text),
            expected_history_version=version,
            usage=usage,
        )
