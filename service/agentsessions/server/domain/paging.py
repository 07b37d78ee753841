"""Page sizes and opaque page tokens bound to the request that made them.

A token is base64 of `{"k": kind, "p": fingerprint, "c": cursor}`: the cursor is where the
page ended (the last row's sort key), `kind` says which list issued it and `fingerprint`
which request of that list. Tokens are not signed. A key kept per process would break
paging across a restart and between the processes of `serve --workers`, and a key shared
by them would have to live in the database; so instead nothing in a token is trusted
before it is checked: a token decodes to exactly the shape its list issues (a list of the
right length, of integers in the store's 64-bit range and of resource ids), or it is
refused with INVALID_ARGUMENT, reason INVALID_PAGE_TOKEN. A forged cursor that passes
these checks names a position in the caller's own list, which the caller could have
reached by paging, and the list's query still applies all its conditions after it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from .errors import InvalidArgument
from .names import ID_PATTERN

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Every token this service issues is far shorter; a longer one is refused unread.
TOKEN_MAX_CHARS = 512
INT64_MAX = 2**63 - 1
# A list not in SHAPES (and not saying its shape) gets only these generic checks.
CURSOR_PARTS_MAX = 4

Part = Literal["int", "id"]
Shape = tuple[Part, ...]
# The cursor each list puts in its tokens, known by the names of the parameters the list
# binds them to (its `params`): ListAgents (create time, agent id), ListSessions (order
# value, row), ListItems (sequence), ListRuns (start time, run id). A caller may also say
# its shape to decode_token itself.
SHAPES: dict[frozenset[str], Shape] = {
    frozenset(): ("int", "id"),
    frozenset({"agent", "filter", "order_by"}): ("int", "int"),
    frozenset({"after", "newest"}): ("int",),
    frozenset({"session"}): ("int", "id"),
}
_FINGERPRINT = re.compile(r"[0-9a-f]{16}")


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    """AIP-158: 0 means the default; above the maximum is lowered to it."""
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative", reason="INVALID_PAGE_SIZE")
    return min(requested or default, MAX_PAGE_SIZE)


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _kind(params: Collection[str]) -> str:
    """Which list: the names of the parameters it binds its tokens to."""
    return _digest(sorted(params))[:8]


def _fingerprint(params: dict[str, Any]) -> str:
    return _digest(params)


def encode_token(params: dict[str, Any], cursor: list[Any]) -> str:
    """The token carries the cursor and a fingerprint of the request's other fields."""
    body = json.dumps(
        {"k": _kind(params), "p": _fingerprint(params), "c": cursor}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _invalid() -> InvalidArgument:
    return InvalidArgument.field(
        "page_token", "is not a token this service issued", reason="INVALID_PAGE_TOKEN"
    )


def _fits(value: Any, part: Part) -> bool:
    if part == "int":
        # bool is an int to Python, not to JSON.
        return type(value) is int and 0 <= value <= INT64_MAX
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def _fits_any(value: Any) -> bool:
    return _fits(value, "int") or _fits(value, "id")


def _body(token: str) -> dict[str, Any]:
    if len(token) > TOKEN_MAX_CHARS:
        raise _invalid()
    try:
        raw = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode("ascii"))
        body = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        # UnicodeError (not ASCII, not UTF-8) and JSONDecodeError are ValueErrors.
        raise _invalid() from None
    if not isinstance(body, dict) or set(body) != {"k", "p", "c"}:
        raise _invalid()
    return body


def decode_token(
    token: str, params: dict[str, Any], shape: Shape | None = None
) -> list[Any] | None:
    """The cursor of `token`, or None for the first page.

    The cursor has exactly `shape` (by default the one SHAPES gives for `params`); a
    token of another list, or not of this service, is INVALID_PAGE_TOKEN; one of this list
    issued for other parameters (filter, order, parent...) is PAGE_TOKEN_MISMATCH.
    """
    if not token:
        return None
    body = _body(token)
    kind, fingerprint, cursor = body["k"], body["p"], body["c"]
    if kind != _kind(params) or not isinstance(fingerprint, str):
        raise _invalid()
    if not _FINGERPRINT.fullmatch(fingerprint) or not isinstance(cursor, list):
        raise _invalid()
    expected = shape if shape is not None else SHAPES.get(frozenset(params))
    if expected is not None:
        if len(cursor) != len(expected) or not all(map(_fits, cursor, expected)):
            raise _invalid()
    elif not 1 <= len(cursor) <= CURSOR_PARTS_MAX or not all(map(_fits_any, cursor)):
        raise _invalid()
    if fingerprint != _fingerprint(params):
        raise InvalidArgument.field(
            "page_token",
            "was issued for a request with other parameters; keep them the same between pages",
            reason="PAGE_TOKEN_MISMATCH",
        )
    return cursor


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    entries: list[T]
    next_page_token: str


def page_of(
    rows: list[T], limit: int, params: dict[str, Any], cursor_of: Callable[[T], list[Any]]
) -> Page[T]:
    """The page from `rows` read with `limit + 1`: the extra row only says another page
    exists (no COUNT), and the token resumes after the page's last row."""
    if len(rows) <= limit:
        return Page(rows, "")
    rows = rows[:limit]
    return Page(rows, encode_token(params, cursor_of(rows[-1])))
