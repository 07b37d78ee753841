"""Reads as functions of a connection, run on a reader thread: rows, pages and scans.

A page is read from the cursor row by row (domain.paging.read_page) and the cursor is
closed once the page is full, so a byte budget stops the fetching, not just the reply.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from ..domain.models import ItemRecord, SessionKey
from ..domain.paging import item_bytes, read_page, run_bytes, session_bytes
from .base import (
    RunCursor,
    RunPageEntry,
    RunQuery,
    RunScan,
    SessionCursor,
    SessionPageEntry,
    SessionQuery,
    SessionScan,
)
from .sqlite_queries import (
    list_items_sql,
    list_runs_sql,
    list_sessions_sql,
    run_scan_end_sql,
    session_scan_end_sql,
)
from .sqlite_rows import item_from_row, run_from_row, session_from_row
from .sqlite_sql import Params, fetch_all, fetch_one, session_not_found

T = TypeVar("T")
Read = Callable[[sqlite3.Connection], T]


def one(sql: str, params: Params, convert: Callable[[sqlite3.Row], T]) -> Read[T | None]:
    """A read of at most one row, converted on the reader's thread."""

    def read(conn: sqlite3.Connection) -> T | None:
        row = fetch_one(conn, sql, params)
        return convert(row) if row is not None else None

    return read


def every(sql: str, params: Params, convert: Callable[[sqlite3.Row], T]) -> Read[list[T]]:
    """A read of many rows, converted on the reader's thread."""

    def read(conn: sqlite3.Connection) -> list[T]:
        return [convert(row) for row in fetch_all(conn, sql, params)]

    return read


def page(
    sql: str,
    params: Params,
    convert: Callable[[sqlite3.Row], T],
    *,
    limit: int,
    max_bytes: int | None,
    size_of: Callable[[T], int],
) -> Read[list[T]]:
    """A read of up to `limit` rows, fewer once their sizes pass `max_bytes`."""

    def read(conn: sqlite3.Connection) -> list[T]:
        cursor = conn.execute(sql, params)
        try:
            return read_page(map(convert, cursor), limit, max_bytes, size_of)
        finally:
            cursor.close()

    return read


def session_page(query: SessionQuery) -> Read[list[SessionPageEntry]]:
    """A page of `query`'s sessions, each with the cursor that resumes after it."""
    column = query.order.field

    def entry(row: sqlite3.Row) -> SessionPageEntry:
        return SessionPageEntry(
            session_from_row(row), SessionCursor(value=row[column], row=row["pk"])
        )

    return page(
        *list_sessions_sql(query),
        entry,
        limit=query.limit,
        max_bytes=query.max_bytes,
        size_of=lambda e: session_bytes(e.session),
    )


def session_scan(query: SessionQuery, rows: int) -> Read[SessionScan]:
    """A page of `query`'s sessions among the next `rows` after its cursor."""
    end_sql, end_params = session_scan_end_sql(query, rows)

    def read(conn: sqlite3.Connection) -> SessionScan:
        # Two statements, two snapshots: like two pages, which keyset paging allows.
        found = fetch_one(conn, end_sql, end_params)
        end = None if found is None else SessionCursor(found["value"], found["row"])
        return SessionScan(session_page(replace(query, until=end))(conn), end)

    return read


def run_page(query: RunQuery) -> Read[list[RunPageEntry]]:
    """A page of `query`'s runs, each with the cursor that resumes after it."""

    def entry(row: sqlite3.Row) -> RunPageEntry:
        key = SessionKey(query.tenant, row["agent_id"], row["session_id"])
        cursor = RunCursor(row["start_time"], row["run_id"], row["session_row"])
        return RunPageEntry(run_from_row(key, row), cursor)

    return page(
        *list_runs_sql(query),
        entry,
        limit=query.limit,
        max_bytes=query.max_bytes,
        size_of=lambda e: run_bytes(e.run),
    )


def run_scan(query: RunQuery, rows: int) -> Read[RunScan]:
    """A page of `query`'s runs among the next `rows` its walk visits after its cursor."""
    end_sql, end_params = run_scan_end_sql(query, rows)

    def read(conn: sqlite3.Connection) -> RunScan:
        # Two statements, two snapshots: like two pages, which keyset paging allows.
        found = fetch_one(conn, end_sql, end_params)
        end = None
        if found is not None:
            end = RunCursor(found["start_time"], found["run_id"], found["session_row"])
        return RunScan(run_page(replace(query, until=end))(conn), end)

    return read


def items_page(
    key: SessionKey,
    after_sequence: int,
    newest_count: int,
    limit: int | None,
    max_bytes: int | None,
) -> Read[list[ItemRecord]]:
    """A session's items (see Store.list_items); NotFound when the session is missing."""
    sql, params = list_items_sql(key, after_sequence, newest_count, limit)

    def read(conn: sqlite3.Connection) -> list[ItemRecord]:
        cursor = conn.execute(sql, params)
        try:
            first = cursor.fetchone()
            if first is None:
                raise session_not_found(key)
            if first["sequence"] is None or (limit is not None and limit <= 0):
                return []  # the session exists (no item in range, or none asked for)
            rows = itertools.chain([first], cursor)
            count = -1 if limit is None else max(limit, 0)
            return read_page(map(item_from_row, rows), count, max_bytes, item_bytes)
        finally:
            cursor.close()

    return read
