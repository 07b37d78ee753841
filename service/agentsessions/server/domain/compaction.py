"""History compaction rules: the request's limits and the summary message that is stored."""

from __future__ import annotations

import json

from .models import NewItem
from .validation import Violations, check_max_length

DEFAULT_KEEP_NEWEST = 20
KEEP_NEWEST_MAX = 100_000
SUMMARY_TEXT_MAX = 100_000
SUMMARY_PREFIX = "Summary of the earlier conversation:"
# A `user` message: the one role every model accepts anywhere in its input. Chat
# templates of many open models reject a `system` message after the first, and some
# endpoints do not know `developer`; the prefix tells the model what the text is.
SUMMARY_ROLE = "user"


def check_compaction(keep_newest_count: int | None, summary_text: str) -> int:
    """Validates a compaction request; returns how many of the newest items to keep."""
    keep = DEFAULT_KEEP_NEWEST if keep_newest_count is None else keep_newest_count
    found = Violations()
    if not 0 <= keep <= KEEP_NEWEST_MAX:
        found.add("keep_newest_count", f"must be between 0 and {KEEP_NEWEST_MAX}, got {keep}")
    check_max_length(summary_text, SUMMARY_TEXT_MAX, "summary_text", found)
    found.raise_if_any()
    return keep


def summary_item(summary_text: str) -> NewItem:
    """The message item that stands for the replaced history: an SDK input message."""
    content = f"{SUMMARY_PREFIX}\n\n{summary_text.strip()}"
    item = {"role": SUMMARY_ROLE, "content": content}
    return NewItem(
        item_json=json.dumps(item, ensure_ascii=False),
        type="message",
        role=SUMMARY_ROLE,
        text=content,
    )
