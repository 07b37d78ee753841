"""Page sizes and opaque page tokens bound to the request that made them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import InvalidArgument

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    """AIP-158: 0 means the default; above the maximum is lowered to it."""
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative", reason="INVALID_PAGE_SIZE")
    return min(requested or default, MAX_PAGE_SIZE)


def _fingerprint(params: dict[str, Any]) -> str:
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_token(params: dict[str, Any], cursor: list[Any]) -> str:
    """The token carries the cursor and a fingerprint of the request's other fields."""
    body = json.dumps({"p": _fingerprint(params), "c": cursor}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_token(token: str, params: dict[str, Any]) -> list[Any] | None:
    """The cursor of `token`, or None for the first page."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        fingerprint, cursor = body["p"], body["c"]
        if not isinstance(cursor, list):
            raise TypeError
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidArgument.field(
            "page_token", "is not a token this service issued", reason="INVALID_PAGE_TOKEN"
        ) from None
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
