"""The history policy: how many stored items the model sees; a call keeps its output."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..domain.models import ItemRecord, SessionKey
from ..store.base import Store

_WIDEN_STEP_MIN = 16


def _is_output(item_type: str) -> bool:
    return item_type.endswith("_output")


def _call_id(record: ItemRecord) -> str | None:
    try:
        value = json.loads(record.item_json).get("call_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def orphan_outputs(window: Sequence[ItemRecord]) -> set[str]:
    """Call ids of tool outputs in `window` whose call is not in it (it is older)."""
    calls: set[str] = set()
    outputs: set[str] = set()
    for record in window:
        if record.type.endswith("_call") or _is_output(record.type):
            call_id = _call_id(record)
            if call_id is not None:
                (outputs if _is_output(record.type) else calls).add(call_id)
    return outputs - calls


async def history_window(store: Store, key: SessionKey, max_items: int) -> int | None:
    """How many of the newest items the model sees; None for all of them.

    Starts from `max_items` and widens while the window holds a tool output whose call is
    older than the window, so that the model never sees an output without its call. (A call
    in the window has its output in it too: outputs come after their calls.)
    """
    if max_items <= 0:
        return None
    size = max_items
    while True:
        window = await store.list_items(key, newest_count=size)
        if len(window) < size:
            return None  # the whole history fits
        if not orphan_outputs(window):
            return size
        size += max(size, _WIDEN_STEP_MIN)
