"""The SQLite schema: connection pragmas and the ordered migrations applied at open()."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..domain.models import now_us


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


# Ordered; a released migration is never edited, only followed by a new one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "agents, sessions, items, runs, create requests",
        (
            """
            CREATE TABLE agents (
                tenant            TEXT    NOT NULL,
                agent_id          TEXT    NOT NULL,
                display_name      TEXT    NOT NULL,
                description       TEXT    NOT NULL,
                instructions      TEXT    NOT NULL,
                model             TEXT    NOT NULL,
                temperature       REAL,
                top_p             REAL,
                max_output_tokens INTEGER,
                tools             TEXT    NOT NULL,  -- JSON array of tool names
                handoffs          TEXT    NOT NULL,  -- JSON array of agent ids
                history_max_items INTEGER NOT NULL,
                create_time       INTEGER NOT NULL,  -- microseconds since the epoch
                update_time       INTEGER NOT NULL,
                etag              TEXT    NOT NULL,
                PRIMARY KEY (tenant, agent_id)
            )
            """,
            "CREATE INDEX agents_by_create_time ON agents (tenant, create_time, agent_id)",
            # pk is the rowid: the keyset tie-breaker of every session list, and
            # implicitly the last column of every index on this table.
            """
            CREATE TABLE sessions (
                pk                  INTEGER PRIMARY KEY,
                tenant              TEXT    NOT NULL,
                agent_id            TEXT    NOT NULL,
                session_id          TEXT    NOT NULL,
                display_name        TEXT    NOT NULL,
                state               INTEGER NOT NULL,
                labels              TEXT    NOT NULL,  -- JSON object of strings
                create_time         INTEGER NOT NULL,
                update_time         INTEGER NOT NULL,
                last_activity_time  INTEGER NOT NULL,
                expire_time         INTEGER,
                item_count          INTEGER NOT NULL DEFAULT 0,
                message_count       INTEGER NOT NULL DEFAULT 0,
                function_call_count INTEGER NOT NULL DEFAULT 0,
                input_tokens        INTEGER NOT NULL DEFAULT 0,
                output_tokens       INTEGER NOT NULL DEFAULT 0,
                total_tokens        INTEGER NOT NULL DEFAULT 0,
                run_count           INTEGER NOT NULL DEFAULT 0,
                etag                TEXT    NOT NULL,
                UNIQUE (tenant, agent_id, session_id),
                -- Cascades only on a forced delete: an unforced one checks first.
                FOREIGN KEY (tenant, agent_id) REFERENCES agents (tenant, agent_id)
                    ON DELETE CASCADE
            )
            """,
            *(
                f"CREATE INDEX sessions_by_agent_{col} ON sessions (tenant, agent_id, {col})"
                for col in ("last_activity_time", "create_time", "update_time")
            ),
            *(
                f"CREATE INDEX sessions_by_{col} ON sessions (tenant, {col})"
                for col in ("last_activity_time", "create_time", "update_time")
            ),
            # A rowid table, not WITHOUT ROWID: item_json can be large, and
            # WITHOUT ROWID suits small rows only.
            """
            CREATE TABLE items (
                session_pk  INTEGER NOT NULL REFERENCES sessions (pk) ON DELETE CASCADE,
                sequence    INTEGER NOT NULL,
                tenant      TEXT    NOT NULL,
                type        TEXT    NOT NULL,
                role        TEXT    NOT NULL,
                text        TEXT    NOT NULL,
                item_json   TEXT    NOT NULL,
                run_id      TEXT    NOT NULL,
                create_time INTEGER NOT NULL,
                PRIMARY KEY (session_pk, sequence)
            )
            """,
            """
            CREATE TABLE runs (
                session_pk    INTEGER NOT NULL REFERENCES sessions (pk) ON DELETE CASCADE,
                run_id        TEXT    NOT NULL,
                tenant        TEXT    NOT NULL,
                state         INTEGER NOT NULL,
                requests      INTEGER NOT NULL DEFAULT 0,
                input_tokens  INTEGER NOT NULL DEFAULT 0,
                output_tokens INTEGER NOT NULL DEFAULT 0,
                total_tokens  INTEGER NOT NULL DEFAULT 0,
                error_code    INTEGER,
                error_message TEXT,
                error_reason  TEXT,
                start_time    INTEGER NOT NULL,
                end_time      INTEGER,
                last_agent_id TEXT    NOT NULL,
                PRIMARY KEY (session_pk, run_id)
            )
            """,
            "CREATE INDEX runs_by_start_time ON runs (session_pk, start_time, run_id)",
            # Idempotent creates: (tenant, scope, request_id) -> the created resource.
            # The foreign keys drop a row with its resource, so a row always names
            # a live resource and the table never outgrows the data.
            """
            CREATE TABLE create_requests (
                tenant      TEXT    NOT NULL,
                scope       TEXT    NOT NULL,  -- the parent collection, e.g. 'agents/a/sessions'
                request_id  TEXT    NOT NULL,
                agent_id    TEXT    NOT NULL,
                session_pk  INTEGER REFERENCES sessions (pk) ON DELETE CASCADE,
                create_time INTEGER NOT NULL,
                PRIMARY KEY (tenant, scope, request_id),
                FOREIGN KEY (tenant, agent_id) REFERENCES agents (tenant, agent_id)
                    ON DELETE CASCADE
            ) WITHOUT ROWID
            """,
            "CREATE INDEX create_requests_by_agent ON create_requests (tenant, agent_id)",
            "CREATE INDEX create_requests_by_session ON create_requests (session_pk)",
        ),
    ),
    Migration(
        2,
        "session leases, run event logs, idempotent sends, cancellation",
        (
            # The lease of the run (or compaction) holding the session; lease_owner is NULL
            # when free. lease_token only grows: it fences writes of earlier holders.
            "ALTER TABLE sessions ADD COLUMN lease_run_id TEXT",
            "ALTER TABLE sessions ADD COLUMN lease_owner TEXT",
            "ALTER TABLE sessions ADD COLUMN lease_expire_time INTEGER",
            "ALTER TABLE sessions ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0",
            """
            CREATE INDEX sessions_by_lease_expire_time ON sessions (lease_expire_time)
             WHERE lease_owner IS NOT NULL
            """,
            "ALTER TABLE runs ADD COLUMN request_id TEXT",  # NULL when the send had none
            "ALTER TABLE runs ADD COLUMN request_hash TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE runs ADD COLUMN on_disconnect INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE runs ADD COLUMN last_sequence INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE runs ADD COLUMN cancel_mode INTEGER",
            "ALTER TABLE runs ADD COLUMN cancel_reason TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE runs ADD COLUMN events_expire_time INTEGER",
            "ALTER TABLE runs ADD COLUMN events_deleted INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
            # Runs from before event logs have none; one left RUNNING by a crash is over.
            "UPDATE runs SET events_deleted = 1",
            """
            UPDATE runs
               SET state = 3, error_code = 14, error_reason = 'RUN_INTERRUPTED',
                   error_message = 'the server running it stopped before it ended',
                   end_time = start_time
             WHERE state = 1
            """,
            """
            CREATE UNIQUE INDEX runs_by_request_id ON runs (session_pk, request_id)
             WHERE request_id IS NOT NULL
            """,
            "CREATE INDEX runs_running_by_owner ON runs (owner) WHERE state = 1",
            """
            CREATE INDEX runs_by_events_expire_time ON runs (events_expire_time)
             WHERE events_deleted = 0 AND events_expire_time IS NOT NULL
            """,
            # Runs whose expired events are being deleted (events_deleted 1; 2 once gone).
            "CREATE INDEX runs_expiring_events ON runs (session_pk) WHERE events_deleted = 1",
            """
            CREATE TABLE run_events (
                session_pk  INTEGER NOT NULL,
                run_id      TEXT    NOT NULL,
                sequence    INTEGER NOT NULL,
                terminal    INTEGER NOT NULL,
                body        BLOB    NOT NULL,  -- the event, encoded by the runtime
                create_time INTEGER NOT NULL,
                PRIMARY KEY (session_pk, run_id, sequence),
                FOREIGN KEY (session_pk, run_id) REFERENCES runs (session_pk, run_id)
                    ON DELETE CASCADE
            )
            """,
        ),
    ),
    Migration(
        3,
        "history versions, idempotent AddItems",
        (
            # Bumped by every write to a session's history (add, pop, clear, compaction): a
            # compaction stores its summary only if the history is the one it summarized.
            "ALTER TABLE sessions ADD COLUMN history_version INTEGER NOT NULL DEFAULT 0",
            # AddItems with a request_id (AIP-155): a retry returns the first result. The
            # items themselves are not kept here, only what the reply names: their sequences
            # and, per item, [type, role].
            """
            CREATE TABLE add_requests (
                session_pk     INTEGER NOT NULL REFERENCES sessions (pk) ON DELETE CASCADE,
                request_id     TEXT    NOT NULL,
                request_hash   TEXT    NOT NULL,
                first_sequence INTEGER NOT NULL,
                items          TEXT    NOT NULL,  -- JSON array of [type, role]
                create_time    INTEGER NOT NULL,
                PRIMARY KEY (session_pk, request_id)
            )
            """,
            # Requests past their retention go when the session is next added to.
            "CREATE INDEX add_requests_by_create_time ON add_requests (session_pk, create_time)",
        ),
    ),
    Migration(
        4,
        "tool approvals",
        (
            # JSON array of the run's tool calls that needed approval, with their decisions.
            "ALTER TABLE runs ADD COLUMN approvals TEXT NOT NULL DEFAULT '[]'",
            "ALTER TABLE runs ADD COLUMN approval_expire_time INTEGER",
            # The Agents SDK's run state (JSON) while the run waits: it goes on from there.
            "ALTER TABLE runs ADD COLUMN run_state BLOB",
        ),
    ),
    Migration(
        5,
        "agent approval policies",
        (
            # JSON array of the agent's tools whose calls wait for approval.
            "ALTER TABLE agents ADD COLUMN approval_tools TEXT NOT NULL DEFAULT '[]'",
            # Microseconds a call may wait; 0: the server's default.
            "ALTER TABLE agents ADD COLUMN approval_timeout INTEGER NOT NULL DEFAULT 0",
        ),
    ),
    Migration(
        6,
        "run lists across sessions",
        (
            # ListRuns of agents/-/sessions/- (and, scanned, agents/{a}/sessions/-): the
            # tenant's runs newest first; session_pk breaks ties of run ids across sessions.
            """
            CREATE INDEX runs_by_tenant_start_time
                ON runs (tenant, start_time, run_id, session_pk)
            """,
            # The same filtered by state, so the runs waiting for approval are a range of
            # their own instead of a walk over every run.
            """
            CREATE INDEX runs_by_tenant_state
                ON runs (tenant, state, start_time, run_id, session_pk)
            """,
        ),
    ),
    Migration(
        7,
        "run queues",
        (
            # A QUEUED run's request (JSON: text or items, max_turns), for whichever process
            # starts it when the session frees.
            "ALTER TABLE runs ADD COLUMN queued_input TEXT",
            # A session's queue in order (rowid, the index's implicit last column).
            "CREATE INDEX runs_queued ON runs (session_pk) WHERE state = 5",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer version of the service."""


def configure(conn: sqlite3.Connection, *, writer: bool, cache_kib: int = 2000) -> None:
    """Sets the per-connection pragmas."""
    conn.execute("PRAGMA busy_timeout = 5000")
    # Negative: a size in KiB. Each connection has its own page cache.
    conn.execute(f"PRAGMA cache_size = {-int(cache_kib)}")
    conn.execute("PRAGMA foreign_keys = ON")
    if writer:
        # WAL lets readers run beside the one writer and is persistent in the file.
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL fsyncs the WAL on every commit, so an acknowledged write survives
        # power loss, not only a process crash (NORMAL's guarantee in WAL mode).
        # The store groups concurrent writes into one commit to pay for it once.
        conn.execute("PRAGMA synchronous = FULL")
    else:
        conn.execute("PRAGMA query_only = ON")


def migrate(conn: sqlite3.Connection) -> int:
    """Applies the pending migrations, each in its own transaction; returns the version."""
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version      INTEGER PRIMARY KEY,
            name         TEXT    NOT NULL,
            applied_time INTEGER NOT NULL
        )
        """
    )
    version = 0
    for migration in MIGRATIONS:
        # IMMEDIATE takes the write lock before reading the version, so two
        # processes opening one file at once cannot both apply a migration.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = _current_version(conn)
            if version > LATEST_VERSION:
                raise SchemaTooNew(
                    f"database schema version {version} is newer than this service's "
                    f"{LATEST_VERSION}"
                )
            if migration.version > version:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_time) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now_us()),
                )
                version = migration.version
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version


def _current_version(conn: sqlite3.Connection) -> int:
    value = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    return int(value) if value is not None else 0
