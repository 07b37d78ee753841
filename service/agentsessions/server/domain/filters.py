"""The `filter` and `order_by` languages of ListSessions (a small subset of AIP-160 and AIP-132)."""

from __future__ import annotations

import re
from typing import cast

from ..store.base import SessionFilter, SessionOrder, SessionOrderField
from .errors import InvalidArgument
from .models import SessionState

_CONDITION = re.compile(
    r"""\s*(?P<field>state|display_name|labels\.[a-z][a-z0-9_-]{0,62})\s*
        (?P<op>=|:)\s*
        (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[A-Za-z0-9_-]+))\s*""",
    re.VERBOSE,
)
_AND = re.compile(r"\s+AND\s+")
_ORDER_FIELDS = ("last_activity_time", "create_time", "update_time")


def _bad_filter(description: str) -> InvalidArgument:
    return InvalidArgument.field("filter", description, reason="INVALID_FILTER")


def parse_filter(text: str) -> SessionFilter:
    if not text.strip():
        return SessionFilter()
    state: SessionState | None = None
    labels: dict[str, str] = {}
    display_name: str | None = None
    contains: str | None = None
    for part in _AND.split(text.strip()):
        match = _CONDITION.fullmatch(part)
        if not match:
            raise _bad_filter(
                f"cannot read {part!r}; use conditions like state = ACTIVE, "
                'labels.team = "search" or display_name : "text", joined by AND'
            )
        field, op = match["field"], match["op"]
        value = (
            match["bare"] if match["quoted"] is None else re.sub(r"\\(.)", r"\1", match["quoted"])
        )
        if field == "state":
            if op != "=" or value not in SessionState.__members__:
                raise _bad_filter(
                    f"state must be compared with = to one of {list(SessionState.__members__)}"
                )
            state = SessionState[value]
        elif field == "display_name":
            if op == "=":
                display_name = value
            else:
                contains = value
        else:
            if op != "=":
                raise _bad_filter(f"{field} can only be compared with =")
            labels[field.removeprefix("labels.")] = value
    return SessionFilter(
        state=state, labels=labels, display_name=display_name, display_name_contains=contains
    )


def parse_order_by(text: str) -> SessionOrder:
    words = text.split()
    if not words:
        return SessionOrder()
    if (
        len(words) > 2
        or words[0] not in _ORDER_FIELDS
        or (len(words) == 2 and words[1] not in ("asc", "desc"))
    ):
        raise InvalidArgument.field(
            "order_by",
            f"must be one of {', '.join(_ORDER_FIELDS)}, optionally followed by asc or desc",
            reason="INVALID_ORDER_BY",
        )
    # AIP-132: a named field sorts ascending unless `desc` follows.
    descending = len(words) == 2 and words[1] == "desc"
    return SessionOrder(field=cast(SessionOrderField, words[0]), descending=descending)
