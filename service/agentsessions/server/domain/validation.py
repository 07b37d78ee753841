"""Input rules shared by the domain: sizes, names, labels and Agents SDK item JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from .errors import FieldViolation, InvalidArgument, quote
from .models import NewItem

DISPLAY_NAME_MAX = 100
INSTRUCTIONS_MAX = 100_000
DESCRIPTION_MAX = 2_000
MODEL_MAX = 200
TOOLS_MAX = 64
HANDOFFS_MAX = 32
LABELS_MAX = 64
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE_MAX = 63
ITEM_JSON_MAX = 1024 * 1024
ITEMS_PER_CALL_MAX = 1000
HISTORY_MAX_ITEMS_MAX = 100_000
# A message names its first problems, as many as fit this many characters (at least one);
# BadRequest carries them all (servicers/status.py bounds that too).
SUMMARY_CHARS_MAX = 200


class Violations:
    """Collects every problem of one request so the caller sees them all at once."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def raise_if_any(self, reason: str = "INVALID_ARGUMENT") -> None:
        if self.items:
            raise InvalidArgument(self.summary(), violations=self.items, reason=reason)

    def summary(self) -> str:
        parts: list[str] = []
        size = 0
        for violation in self.items:
            part = f"{violation.field}: {violation.description}"
            if parts and size + len(part) > SUMMARY_CHARS_MAX:
                break
            parts.append(part)
            size += len(part) + 2
        more = len(self.items) - len(parts)
        return "; ".join(parts) + (f"; and {more} more" if more else "")


def _some(values: list[str], shown: int = 3) -> str:
    """A few caller values, quoted, for a message: the rest only counted."""
    text = ", ".join(quote(v) for v in values[:shown])
    return text + (f" and {len(values) - shown} more" if len(values) > shown else "")


def update_paths(mask: Collection[str], updatable: frozenset[str]) -> set[str]:
    """The fields a field mask names (AIP-134): `*` means every updatable one."""
    paths = set(mask)
    if "*" in paths:
        paths = set(updatable)
    unknown = paths - updatable
    if not paths or unknown:
        raise InvalidArgument.field(
            "update_mask",
            f"must name fields among {', '.join(sorted(updatable))}"
            + (f"; cannot update {_some(sorted(unknown))}" if unknown else ""),
            reason="INVALID_UPDATE_MASK",
        )
    return paths


def check_display_name(value: str, field: str, found: Violations) -> None:
    if not value.strip():
        found.add(field, "must not be empty")
    elif len(value) > DISPLAY_NAME_MAX:
        found.add(field, f"must be at most {DISPLAY_NAME_MAX} characters, got {len(value)}")


def check_max_length(value: str, limit: int, field: str, found: Violations) -> None:
    if len(value) > limit:
        found.add(field, f"must be at most {limit} characters, got {len(value)}")


def check_labels(labels: dict[str, str], field: str, found: Violations) -> None:
    if len(labels) > LABELS_MAX:
        found.add(field, f"must have at most {LABELS_MAX} entries, got {len(labels)}")
    for key, value in labels.items():
        if not LABEL_KEY.fullmatch(key):
            found.add(
                f"{field}[{quote(key)}]",
                "key must be 1 to 63 lowercase letters, digits, '_' or '-', starting with a letter",
            )
        if len(value) > LABEL_VALUE_MAX:
            found.add(
                f"{field}[{quote(key)}]", f"value must be at most {LABEL_VALUE_MAX} characters"
            )


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def describe_item(item: dict[str, Any], item_json: str) -> NewItem:
    """Derives the stored columns of one SDK item; messages may omit `type`."""
    item_type = item.get("type")
    if not isinstance(item_type, str):
        item_type = "message" if "role" in item else "unknown"
    role = item.get("role") if item_type == "message" else ""
    text = _message_text(item.get("content")) if item_type == "message" else ""
    return NewItem(
        item_json=item_json, type=item_type, role=role if isinstance(role, str) else "", text=text
    )


def parse_item_json(item_json: str, field: str, found: Violations) -> NewItem | None:
    if len(item_json.encode()) > ITEM_JSON_MAX:
        found.add(field, f"must be at most {ITEM_JSON_MAX} bytes")
        return None
    try:
        value = json.loads(item_json)
    except ValueError as exc:
        found.add(field, f"must be JSON: {exc}")
        return None
    if not isinstance(value, dict):
        found.add(field, f"must be a JSON object, got {type(value).__name__}")
        return None
    return describe_item(value, item_json)


def parse_items(item_jsons: list[str], field: str) -> list[NewItem]:
    found = Violations()
    if not item_jsons:
        found.add(field, "must not be empty")
    if len(item_jsons) > ITEMS_PER_CALL_MAX:
        found.add(field, f"must have at most {ITEMS_PER_CALL_MAX} items, got {len(item_jsons)}")
    found.raise_if_any()
    items = [
        parse_item_json(raw, f"{field}[{i}].item_json", found) for i, raw in enumerate(item_jsons)
    ]
    found.raise_if_any(reason="INVALID_ITEM")
    return [item for item in items if item is not None]
