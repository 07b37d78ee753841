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

Pages are bounded by bytes as well as by count (AIP-158 lets a page be short and still
carry a `next_page_token`): a page ends before the entry that would take its estimated
size past PAGE_BYTES, except that its first entry always comes back, however large. The
store applies the same rule while it reads rows (`read_page`), so it stops fetching once
the budget is reached instead of building the whole page first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from .errors import InvalidArgument
from .models import AgentRecord, ItemRecord, RunRecord, SessionRecord
from .names import ID_PATTERN

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Every token this service issues is far shorter; a longer one is refused unread.
TOKEN_MAX_CHARS = 512
INT64_MAX = 2**63 - 1
# A list not in SHAPES (and not saying its shape) gets only these generic checks.
CURSOR_PARTS_MAX = 4
# The payload of one page: a quarter of gRPC's default 4 MiB message limit. A page passes
# it only when its one entry does (an item of ITEM_JSON_MAX JSON plus its text, ~2 MiB),
# which still fits with room to spare.
PAGE_BYTES = 1024 * 1024
# The rows a filtered list examines per call: past them it returns what it found (maybe
# nothing) and a token to go on. A row costs SQLite 1.5-3 µs (each is a table lookup in
# the list's order, not the file's), so a call costs about a millisecond however little
# its filter matches, and four callers queued on the scan thread wait a few ms each.
SCAN_ROWS = 512
# What an entry costs beyond its text fields: names, times, numbers and field tags.
ENTRY_OVERHEAD_BYTES = 128

Part = Literal["int", "id"]
Shape = tuple[Part, ...]
# The cursor each list puts in its tokens, known by the names of the parameters the list
# binds them to (its `params`): ListAgents (create time, agent id), ListSessions (order
# value, row), ListItems (sequence), ListRuns (start time, run id, the session's row). A
# caller may also say its shape to decode_token itself.
SHAPES: dict[frozenset[str], Shape] = {
    frozenset(): ("int", "id"),
    frozenset({"agent", "filter", "order_by"}): ("int", "int"),
    frozenset({"after", "newest"}): ("int",),
    frozenset({"parent", "filter"}): ("int", "id", "int"),
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


def text_bytes(text: str) -> int:
    """The UTF-8 size of `text`; ASCII (the common case) without encoding it."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def item_bytes(item: ItemRecord) -> int:
    """About what `item` adds to a reply: its JSON and, for a message, its text again."""
    return (
        ENTRY_OVERHEAD_BYTES
        + text_bytes(item.item_json)
        + text_bytes(item.text)
        + len(item.type)
        + len(item.role)
        + len(item.run_id)
    )


def session_bytes(session: SessionRecord) -> int:
    labels = sum(text_bytes(k) + text_bytes(v) + 4 for k, v in session.labels.items())
    return 2 * ENTRY_OVERHEAD_BYTES + text_bytes(session.display_name) + labels


def agent_bytes(agent: AgentRecord) -> int:
    texts = (agent.display_name, agent.description, agent.instructions, agent.model)
    names = (*agent.tools, *agent.handoffs)
    return (
        2 * ENTRY_OVERHEAD_BYTES
        + sum(map(text_bytes, texts))
        + sum(text_bytes(n) + ENTRY_OVERHEAD_BYTES // 2 for n in names)
    )


def run_bytes(run: RunRecord) -> int:
    error = 0 if run.error is None else text_bytes(run.error.message) + len(run.error.reason)
    texts = (run.last_agent_id, run.request_id, run.cancel_reason)
    # A tool call's arguments are the model's and can be long: a list of the runs that wait
    # for approval is bounded by them.
    approvals = sum(
        ENTRY_OVERHEAD_BYTES
        + text_bytes(a.arguments_json)
        + text_bytes(a.message)
        + text_bytes(a.tool_name)
        + len(a.call_id)
        + len(a.request_id)
        + text_bytes(a.decided_by)
        for a in run.approvals
    )
    return 2 * ENTRY_OVERHEAD_BYTES + error + sum(map(text_bytes, texts)) + approvals


def read_page(
    rows: Iterable[T], limit: int, max_bytes: int | None, size_of: Callable[[T], int]
) -> list[T]:
    """What a store reads for a page: rows from `rows` (an iterator over a cursor, read
    lazily) until `limit` of them (negative: no count bound), or until the first row that
    does not fit in `max_bytes` beside the rows before it (by `size_of`; None: no byte
    bound). That row is kept but reading stops there: like the extra row of `limit + 1`,
    it only says that another page exists."""
    taken: list[T] = []
    total = 0
    for row in rows:
        taken.append(row)
        if len(taken) == limit:
            break
        if max_bytes is not None:
            total += size_of(row)
            if total > max_bytes and len(taken) > 1:
                break
    return taken


def page_of(
    rows: list[T],
    limit: int,
    params: dict[str, Any],
    cursor_of: Callable[[T], list[Any]],
    *,
    size_of: Callable[[T], int] | None = None,
    max_bytes: int = PAGE_BYTES,
) -> Page[T]:
    """The page from `rows` read with `limit + 1` (and `read_page`'s byte rule): the rows
    past the page only say another page exists (no COUNT), and the token resumes after
    the page's last row. A page ends at `limit` rows or before the row that would take
    it past `max_bytes` (by `size_of`); its first row is always in it."""
    page = rows[:limit]
    if size_of is not None:
        total = 0
        for n, row in enumerate(page):
            total += size_of(row)
            if total > max_bytes and n > 0:
                page = page[:n]  # the next page starts with the row that did not fit
                break
    if len(page) == len(rows):
        return Page(page, "")
    return Page(page, encode_token(params, cursor_of(page[-1])))
