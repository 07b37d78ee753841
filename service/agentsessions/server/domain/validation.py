"""Input rules shared by the domain: sizes, names, labels and Agents SDK item JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from .errors import QUOTE_MAX, FieldViolation, InvalidArgument, quote
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
ITEM_JSON_DEPTH_MAX = 64
HISTORY_MAX_ITEMS_MAX = 100_000
# google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
TIMESTAMP_SECONDS_MIN = -62_135_596_800
TIMESTAMP_SECONDS_MAX = 253_402_300_799
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


def _some(values: list[str], shown: int = 3, limit: int = QUOTE_MAX) -> str:
    """A few caller values, quoted (each to `limit` characters) for a message: the rest only
    counted."""
    text = ", ".join(quote(v, limit) for v in values[:shown])
    return text + (f" and {len(values) - shown} more" if len(values) > shown else "")


def _path_list(updatable: frozenset[str]) -> str:
    """The paths a mask may name, each message's sub-fields after it in brackets:
    `model_settings[.temperature|.top_p]`."""
    shown = []
    for field in sorted(path for path in updatable if "." not in path):
        subs = sorted(p.partition(".")[2] for p in updatable if p.startswith(field + "."))
        shown.append(field + (f"[.{'|.'.join(subs)}]" if subs else ""))
    return ", ".join(shown)


def update_paths(mask: Collection[str], updatable: frozenset[str]) -> set[str]:
    """The paths a field mask names (AIP-134, AIP-161).

    `updatable` holds the resource's updatable fields and, dotted, the sub-fields of its
    message fields (`model_settings.temperature`): a path into a message updates that
    sub-field only. `*` means every updatable top-level field, each replaced whole."""
    paths = set(mask)
    if "*" in paths:
        paths = {path for path in updatable if "." not in path}
    unknown = paths - updatable
    if not paths or unknown:
        # Caller input first and at most two of it, so the message stays short.
        raise InvalidArgument.field(
            "update_mask",
            (f"cannot update {_some(sorted(unknown), 2, 40)}; " if unknown else "")
            + f"must name fields among {_path_list(updatable)}",
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


def timestamp_micros(seconds: int, nanos: int, field: str) -> int:
    """A caller's google.protobuf.Timestamp in microseconds, if it is a valid one: within
    years 1 to 9999 and with nanos in [0, 1e9), so that it fits the store's 64-bit integers."""
    if not TIMESTAMP_SECONDS_MIN <= seconds <= TIMESTAMP_SECONDS_MAX:
        raise InvalidArgument.field(
            field, "must be between 0001-01-01 and 9999-12-31", reason="INVALID_TIME"
        )
    if not 0 <= nanos < 1_000_000_000:
        raise InvalidArgument.field(
            field, "nanos must be between 0 and 999,999,999", reason="INVALID_TIME"
        )
    return seconds * 1_000_000 + nanos // 1000


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


# Brackets outside strings, as bytes: openers become b"(" and closers b")".
_OPENERS_CLOSERS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_BRACKET_RUN = re.compile(rb"\(+|\)+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _run_depth(brackets: bytes) -> int:
    depth = deepest = 0
    for run in _BRACKET_RUN.findall(brackets):
        if run[0] == ord("("):
            depth += len(run)
            deepest = max(deepest, depth)
        else:
            depth -= len(run)
    return deepest


def _bracket_depth(brackets: bytes, limit: int) -> int:
    """How deep `brackets` nest, or some depth over `limit` once it is known to be more.

    Two ways, each linear, each quick where the other is slow: a pass drops every
    innermost pair (one level) at once, which suits many shallow containers; a walk over
    the runs of openers and closers costs a step a run, which suits few deep ones."""
    levels = 0
    while (pairs := brackets.count(b"()")) and pairs * 5 >= len(brackets):
        brackets = brackets.replace(b"()", b"")
        levels += 1
        if levels > limit:
            return levels
    return levels + (_run_depth(brackets) if pairs else brackets.count(b"("))


def json_nests_deeper(text: str, limit: int) -> bool:
    """Whether arrays and objects in JSON `text` nest more than `limit` deep, found in
    linear time without recursion (json.loads recurses once a level). Exact for valid JSON;
    for invalid JSON either answer is safe, since json.loads then fails anyway."""
    if text.count("[") + text.count("{") <= limit:
        return False
    # Drop strings: escaped backslashes, then escaped quotes, then what is between quotes.
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    outside = "".join(unescaped.split('"')[::2])
    brackets = outside.encode(errors="replace").translate(_OPENERS_CLOSERS, _NOT_BRACKETS)
    return _bracket_depth(brackets, limit) > limit


def _not_a_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _has_lone_surrogate(text: str, value: Any) -> bool:
    """A `\\ud800` escape without its pair parses into a string UTF-8 cannot encode."""
    if _SURROGATE.search(text):
        return True
    if not _SURROGATE_ESCAPE.search(text):
        return False
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def load_json_object(text: str, field: str, found: Violations) -> dict[str, Any] | None:
    """`text` as a JSON object, or None with the reason in `found`: strict JSON (no NaN or
    Infinity), nested at most ITEM_JSON_DEPTH_MAX deep, every string encodable as UTF-8.
    The caller bounds the size."""
    if json_nests_deeper(text, ITEM_JSON_DEPTH_MAX):
        found.add(field, f"must not nest arrays and objects more than {ITEM_JSON_DEPTH_MAX} deep")
        return None
    try:
        value = json.loads(text, parse_constant=_not_a_json_constant)
    except RecursionError:
        found.add(field, f"must not nest arrays and objects more than {ITEM_JSON_DEPTH_MAX} deep")
        return None
    except ValueError as exc:
        found.add(field, f"must be JSON: {exc}")
        return None
    if not isinstance(value, dict):
        found.add(field, f"must be a JSON object, got {type(value).__name__}")
        return None
    if _has_lone_surrogate(text, value):
        found.add(field, "must not contain unpaired surrogates (\\ud800 to \\udfff escapes)")
        return None
    return value


def parse_item_json(item_json: str, field: str, found: Violations) -> NewItem | None:
    if len(item_json) > ITEM_JSON_MAX or len(item_json.encode(errors="replace")) > ITEM_JSON_MAX:
        found.add(field, f"must be at most {ITEM_JSON_MAX} bytes")
        return None
    value = load_json_object(item_json, field, found)
    return None if value is None else describe_item(value, item_json)


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
