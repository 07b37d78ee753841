"""The history policy: how many stored items the model sees; a call keeps its output."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..domain.models import ItemRecord, SessionKey
from ..store.base import Store

_LOOKBACK = 16  # items read beyond the window to find calls, doubled as needed


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

    Starts from `max_items` and widens the window back to the call of every tool output in
    it, so that the model never sees an output without its call. (A call in the window has
    its output in it too: outputs come after their calls.)
    """
    if max_items <= 0:
        return None
    size, lookback = max_items, _LOOKBACK
    while True:
        fetched = await store.list_items(key, newest_count=size + lookback)
        if len(fetched) <= size:
            return None  # the whole history fits
        missing = orphan_outputs(fetched[-size:])
        if not missing:
            return size
        calls = {
            call_id: index
            for index, record in enumerate(fetched[:-size])
            if record.type.endswith("_call") and (call_id := _call_id(record)) in missing
        }
        if len(calls) == len(missing):
            size = len(fetched) - min(calls.values())
        elif len(fetched) < size + lookback:
            return size  # some calls were never stored: nothing older to widen to
        else:
            lookback *= 2
