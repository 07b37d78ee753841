"""What a caller may send to a run: plain text or SDK input items, checked before the run starts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..domain.errors import FieldViolation, InvalidArgument, quote
from ..domain.validation import ITEM_JSON_DEPTH_MAX, json_nests_deeper

DEFAULT_MAX_TURNS = 10
MAX_TURNS_LIMIT = 100
TEXT_MAX_CHARS = 1_000_000
INPUT_ITEMS_MAX = 100
MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})


@dataclass(frozen=True, slots=True)
class RunInput:
    """Either `text` (a user message) or `items` (SDK input items), never both."""

    text: str | None = None
    items: tuple[dict[str, Any], ...] = ()

    def to_sdk(self) -> str | list[Any]:
        """The input as `Runner.run_streamed` takes it."""
        if self.text is not None:
            return self.text
        return [dict(item) for item in self.items]


def text_input(text: str) -> RunInput:
    if not text.strip():
        raise InvalidArgument.field("text", "must not be empty or only whitespace")
    if len(text) > TEXT_MAX_CHARS:
        raise InvalidArgument.field("text", f"must be at most {TEXT_MAX_CHARS} characters")
    return RunInput(text=text)


def _item_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return f"must be a JSON object, got {type(item).__name__}"
    item_type = item.get("type")
    if item_type is None or item_type == "message":
        role = item.get("role")
        if role not in MESSAGE_ROLES:
            return f"a message needs a role of {', '.join(sorted(MESSAGE_ROLES))}"
        content = item.get("content")
        if not isinstance(content, str | list):
            return "a message needs content: a string or a list of content parts"
        if isinstance(content, list) and not all(isinstance(p, dict) for p in content):
            return "every content part must be a JSON object"
        return None
    if not isinstance(item_type, str) or not item_type:
        return "type must be a non-empty string"
    if item_type.endswith("_output") and not isinstance(item.get("call_id"), str):
        return f"a {item_type} needs a call_id"
    return None


def items_input(input_items_json: str) -> RunInput:
    field = "input_items_json"
    if json_nests_deeper(input_items_json, ITEM_JSON_DEPTH_MAX + 1):
        raise InvalidArgument.field(field, f"must not nest more than {ITEM_JSON_DEPTH_MAX} deep")
    try:
        value = json.loads(input_items_json)
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise InvalidArgument.field(field, "must not contain unpaired surrogates") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument.field(field, f"must be JSON: {quote(str(exc))}") from None
    if not isinstance(value, list) or not value:
        raise InvalidArgument.field(field, "must be a non-empty JSON array of objects")
    if len(value) > INPUT_ITEMS_MAX:
        raise InvalidArgument.field(field, f"must have at most {INPUT_ITEMS_MAX} items")
    violations = [
        FieldViolation(f"{field}[{index}]", problem)
        for index, item in enumerate(value)
        if (problem := _item_problem(item)) is not None
    ]
    if violations:
        raise InvalidArgument(
            f"{field}: {violations[0].field}: {violations[0].description}", violations=violations
        )
    return RunInput(items=tuple(value))


def run_input(*, text: str | None, input_items_json: str | None) -> RunInput:
    """The input of a SendMessage request; exactly one of the two must be set."""
    if text is not None and input_items_json is not None:
        raise InvalidArgument.field("input", "give text or input_items_json, not both")
    if text is not None:
        return text_input(text)
    if input_items_json is not None:
        return items_input(input_items_json)
    raise InvalidArgument.field("text", "is required (or input_items_json)")


def max_turns_of(requested: int) -> int:
    """0 means the default; a negative or huge value is the caller's mistake."""
    if requested == 0:
        return DEFAULT_MAX_TURNS
    if not 0 < requested <= MAX_TURNS_LIMIT:
        raise InvalidArgument.field("max_turns", f"must be between 0 and {MAX_TURNS_LIMIT}")
    return requested
