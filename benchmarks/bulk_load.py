"""Builds a large store fast: the service's own schema, then big executemany transactions.

`python -m benchmarks.bulk_load FILE --sessions 1000000 --items 10000000` creates FILE with the
service's migrations (so the service opens it as usual), drops the secondary indexes, inserts
agents, sessions and items with synchronous=OFF, recreates the indexes from their saved SQL
and leaves the file in WAL mode. One session in a hundred is long and holds half the items;
the rest share the other half, so both a long history and many short ones are measured.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agentsessions.server.domain.models import DEFAULT_TENANT
from agentsessions.server.store.sqlite_rows import SESSION_COLUMNS
from agentsessions.server.store.sqlite_schema import migrate

AGENTS = 10
BATCH = 50_000
START_US = 1_700_000_000_000_000  # a fixed start keeps runs comparable
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "and",
    "runs",
    "far",
    "away",
]


@dataclass(frozen=True)
class Shape:
    """How many sessions and items, and which sessions are long."""

    sessions: int
    items: int

    @property
    def long_sessions(self) -> int:
        return max(1, self.sessions // 100)

    def items_of(self, index: int) -> int:
        """Items of session `index`: the long ones share half the items, the rest the other half."""
        long_items, short_items = self.items // 2, self.items - self.items // 2
        if index < self.long_sessions:
            share, count, offset = long_items, self.long_sessions, index
        else:
            share, count = short_items, self.sessions - self.long_sessions
            offset = index - self.long_sessions
        return share // count + (1 if offset < share % count else 0)


def agent_id(index: int) -> str:
    return f"bench-{index % AGENTS}"


def session_id(index: int) -> str:
    return f"s{index:08d}"


def _create_schema(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(conn)
    finally:
        conn.close()


AGENT_INSERT_COLUMNS = (
    "tenant, agent_id, display_name, description, instructions, model, temperature, top_p, "
    "max_output_tokens, tools, handoffs, history_max_items, create_time, update_time, etag"
)


def _agents(now: int) -> list[tuple[object, ...]]:
    return [
        (
            DEFAULT_TENANT,
            agent_id(i),
            f"Agent {i}",
            "",
            "Repeat the user.",
            "echo",
            None,
            None,
            None,
            "[]",
            "[]",
            0,
            now,
            now,
            f"etag{i:012d}",
        )
        for i in range(AGENTS)
    ]


def _item(sequence: int) -> tuple[str, str, str]:
    """Role, text and item_json of a message of about 100 bytes."""
    role = "user" if sequence % 2 else "assistant"
    text = " ".join(WORDS[(sequence + k) % len(WORDS)] for k in range(8))
    return role, text, json.dumps({"role": role, "content": text}, separators=(",", ":"))


def _sessions(shape: Shape) -> Iterator[tuple[object, ...]]:
    """Rows in the order of SESSION_COLUMNS: later migrations add columns with defaults."""
    for i in range(shape.sessions):
        count = shape.items_of(i)
        created = START_US + i * 1_000
        # Activity out of creation order, so the two orders use different index ranges.
        active = START_US + ((i * 7_919) % shape.sessions) * 1_000 + 500
        yield (
            i + 1,
            DEFAULT_TENANT,
            agent_id(i),
            session_id(i),
            f"Session {i}",
            1,
            '{"team":"benchmarks"}',
            created,
            created,
            active,
            None,
            count,
            count,
            0,
            0,
            0,
            0,
            0,
            f"{i:016x}",
        )


def _items(shape: Shape) -> Iterator[tuple[object, ...]]:
    samples = [_item(s) for s in range(1, 27)]
    for i in range(shape.sessions):
        created = START_US + i * 1_000
        for sequence in range(1, shape.items_of(i) + 1):
            role, text, item_json = samples[sequence % 26]
            yield (i + 1, sequence, DEFAULT_TENANT, "message", role, text, item_json, "", created)


def _chunks(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    chunk: list[tuple[object, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load(path: Path, shape: Shape, *, progress: bool = False) -> float:
    """Creates `path` holding `shape`; returns the seconds it took."""
    started = time.perf_counter()
    path.unlink(missing_ok=True)
    _create_schema(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Only while loading: a crash here leaves a file to delete, not data to keep.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('sessions', 'items')"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        now = START_US
        conn.execute("BEGIN")
        # Named columns: later migrations add agent columns with defaults.
        conn.executemany(
            f"INSERT INTO agents ({AGENT_INSERT_COLUMNS}) VALUES ({', '.join('?' * 15)})",
            _agents(now),
        )
        placeholders = ", ".join("?" * 19)
        for n, chunk in enumerate(_chunks(_sessions(shape))):
            conn.executemany(
                f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ({placeholders})", chunk
            )
            _report(progress, "sessions", (n + 1) * BATCH, shape.sessions, started)
        conn.execute("COMMIT")
        for n, chunk in enumerate(_chunks(_items(shape))):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", chunk)
            conn.execute("COMMIT")
            _report(progress, "items", (n + 1) * BATCH, shape.items, started)
        for name, sql in indexes:
            _report(progress, f"index {name}", 0, 0, started)
            conn.execute(sql)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    return time.perf_counter() - started


def _report(enabled: bool, what: str, done: int, total: int, started: float) -> None:
    if enabled and (not total or done % (BATCH * 20) == 0 or done >= total):
        shown = f" {min(done, total):,}/{total:,}" if total else ""
        print(f"{time.perf_counter() - started:7.1f} s  {what}{shown}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bulk_load", description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=10_000_000)
    args = parser.parse_args()
    seconds = load(args.path, Shape(args.sessions, args.items), progress=True)
    size = args.path.stat().st_size / 1e9
    print(
        f"{args.path}: {args.sessions:,} sessions, {args.items:,} items, {size:.2f} GB, "
        f"{seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
