"""The `filter` languages of ListSessions and ListRuns and ListSessions' `order_by` (small
subsets of AIP-160 and AIP-132).

A filter is conditions joined by `AND` (whitespace on both sides). ListSessions reads

    state = ACTIVE
    labels.KEY = "value"        (KEY: a lowercase letter, then up to 62 of a-z 0-9 _ -)
    display_name = "text"       (the whole name)
    display_name : "text"       (a substring)

and ListRuns reads `state = REQUIRES_APPROVAL` (or another run state), once.

A value is a double-quoted string, where a backslash takes the next character
literally, or a bare word of letters, digits, `_` and `-`.

The filter is read by a hand-written scanner and parser, each one pass over the
text, so the time is linear in its length; the length and the number of
conditions are checked before the conditions are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple, cast

from ..store.base import RunFilter, SessionFilter, SessionOrder, SessionOrderField
from .errors import QUOTE_MAX, InvalidArgument, quote
from .models import RunState, SessionState

FILTER_MAX_LENGTH = 4096
FILTER_MAX_CONDITIONS = 16

_ORDER_FIELDS = ("last_activity_time", "create_time", "update_time")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
_BARE_CHARS = _WORD_CHARS - {"."}
_KEY_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz")
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_KEY_MAX = 63
_HINT = (
    'use conditions like state = ACTIVE, labels.team = "search" or '
    'display_name : "text", joined by AND'
)
_RUN_HINT = "use state = REQUIRES_APPROVAL or another run state"


def _bad_filter(description: str) -> InvalidArgument:
    return InvalidArgument.field("filter", description, reason="INVALID_FILTER")


def _cannot_read(text: str, start: int, hint: str = _HINT) -> InvalidArgument:
    return _bad_filter(f"cannot read {quote(text[start : start + QUOTE_MAX + 1])}; {hint}")


_TokenKind = Literal["word", "string", "op"]


class _Token(NamedTuple):
    kind: _TokenKind
    text: str  # the word, the operator, or the string's value with its escapes undone
    start: int  # index of the token's first character in the filter
    spaced: bool  # whitespace comes right before it


def _tokens(text: str) -> list[_Token]:
    """Words, quoted strings and the operators = and :, in one pass.

    Every condition has exactly one operator (one inside a string is part of the
    string), so the operators count the conditions: the scan stops at one too many.
    """
    tokens: list[_Token] = []
    operators = 0
    end = len(text)
    i = 0
    spaced = False
    while i < end:
        char = text[i]
        if char.isspace():
            spaced = True
            i += 1
            continue
        start = i
        if char in _WORD_CHARS:
            while i < end and text[i] in _WORD_CHARS:
                i += 1
            tokens.append(_Token("word", text[start:i], start, spaced))
        elif char in "=:":
            operators += 1
            if operators > FILTER_MAX_CONDITIONS:
                raise _bad_filter(f"must have at most {FILTER_MAX_CONDITIONS} conditions")
            i += 1
            tokens.append(_Token("op", char, start, spaced))
        elif char == '"':
            value: list[str] = []
            i += 1
            while True:
                if i >= end:
                    raise _bad_filter(
                        f"the string at {quote(text[start : start + QUOTE_MAX + 1])} is not closed"
                    )
                char = text[i]
                if char == '"':
                    i += 1
                    break
                if char == "\\":
                    if i + 1 >= end or text[i + 1] == "\n":
                        raise _bad_filter(
                            "a backslash must be followed by a character, at "
                            + quote(text[i : i + QUOTE_MAX + 1])
                        )
                    value.append(text[i + 1])
                    i += 2
                else:
                    value.append(char)
                    i += 1
            tokens.append(_Token("string", "".join(value), start, spaced))
        else:
            raise _cannot_read(text, start)
        spaced = False
    return tokens


def _is_label_key(key: str) -> bool:
    return (
        0 < len(key) <= _KEY_MAX
        and key[0] in _KEY_FIRST
        and all(char in _KEY_CHARS for char in key)
    )


def _is_bare(word: str) -> bool:
    return all(char in _BARE_CHARS for char in word)


class _Condition(NamedTuple):
    field: _Token
    op: _Token
    value: _Token


def _conditions(text: str, hint: str) -> Iterator[_Condition]:
    """The conditions of `text`, each yielded before the next is read, so that the caller's
    objection to one comes before a syntax error further on."""
    # The limits come first, before any scanning: a long filter costs nothing.
    if len(text) > FILTER_MAX_LENGTH:
        raise _bad_filter(f"must be at most {FILTER_MAX_LENGTH} characters, got {len(text)}")
    tokens = _tokens(text)
    count = len(tokens)
    i = 0
    while i < count:
        # A condition: FIELD OP VALUE.
        if i + 2 >= count:
            raise _cannot_read(text, tokens[i].start, hint)
        field, op, value = tokens[i], tokens[i + 1], tokens[i + 2]
        if (
            field.kind != "word"
            or op.kind != "op"
            or value.kind == "op"
            or (value.kind == "word" and not _is_bare(value.text))
        ):
            raise _cannot_read(text, field.start, hint)
        yield _Condition(field, op, value)
        i += 3
        if i == count:
            break
        # Between conditions: AND, with whitespace on both sides.
        joint = tokens[i]
        if not (
            joint.kind == "word"
            and joint.text == "AND"
            and joint.spaced
            and i + 1 < count
            and tokens[i + 1].spaced
        ):
            raise _cannot_read(text, joint.start, hint)
        i += 1


def parse_filter(text: str) -> SessionFilter:
    """ListSessions' filter."""
    state: SessionState | None = None
    labels: dict[str, str] = {}
    display_name: str | None = None
    contains: str | None = None
    for field, op, value in _conditions(text, _HINT):
        if field.text == "state":
            if op.text != "=" or value.text not in SessionState.__members__:
                raise _bad_filter(
                    f"state must be compared with = to one of {list(SessionState.__members__)}"
                )
            state = SessionState[value.text]
        elif field.text == "display_name":
            if op.text == "=":
                display_name = value.text
            else:
                contains = value.text
        elif field.text.startswith("labels.") and _is_label_key(field.text[7:]):
            if op.text != "=":
                raise _bad_filter(f"{field.text} can only be compared with =")
            labels[field.text[7:]] = value.text
        else:
            raise _cannot_read(text, field.start)
    return SessionFilter(
        state=state, labels=labels, display_name=display_name, display_name_contains=contains
    )


def parse_run_filter(text: str) -> RunFilter:
    """ListRuns' filter: `state = STATE`, the only field a run list is indexed by."""
    state: RunState | None = None
    for field, op, value in _conditions(text, _RUN_HINT):
        if field.text != "state":
            raise _cannot_read(text, field.start, _RUN_HINT)
        if op.text != "=" or value.text not in RunState.__members__:
            raise _bad_filter(
                f"state must be compared with = to one of {list(RunState.__members__)}"
            )
        if state is not None:
            # A run has one state: two conditions on it could only match nothing or repeat.
            raise _bad_filter("state can appear once")
        state = RunState[value.text]
    return RunFilter(state=state)


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
