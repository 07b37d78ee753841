"""The keyset-paged list queries for SQLite: each one statement that walks one index."""

from __future__ import annotations

import json
from typing import Any

from ..domain.models import SessionKey
from .base import RunCursor, RunQuery, SessionQuery
from .sqlite_rows import AGENT_COLUMNS, ITEM_COLUMNS, RUN_COLUMNS, SESSION_COLUMNS

Query = tuple[str, dict[str, Any]]

SESSION_KEY_SQL = "s.tenant = :tenant AND s.agent_id = :agent_id AND s.session_id = :session_id"

# The only columns a list may be ordered by; never interpolate anything else.
ORDER_COLUMNS = frozenset({"last_activity_time", "create_time", "update_time"})


def session_index(order_column: str, *, by_agent: bool) -> str:
    """The index that serves this order (see sqlite_schema)."""
    return f"sessions_by_agent_{order_column}" if by_agent else f"sessions_by_{order_column}"


def _session_range(query: SessionQuery) -> tuple[list[str], dict[str, Any]]:
    """The conditions of the index range a session list walks: tenant, agent, cursor."""
    column = query.order.field
    if column not in ORDER_COLUMNS:
        raise ValueError(f"cannot order sessions by {column!r}")
    beyond = "<" if query.order.descending else ">"
    where = ["tenant = :tenant"]
    params: dict[str, Any] = {"tenant": query.tenant}
    if query.agent_id is not None:
        where.append("agent_id = :agent_id")
        params["agent_id"] = query.agent_id
    if query.after is not None:
        # Written as a range on the column plus a tie-break, so SQLite can
        # start the index scan at the cursor instead of filtering from the top.
        where.append(f"{column} {beyond}= :after_value")
        where.append(f"({column} {beyond} :after_value OR pk {beyond} :after_row)")
        params["after_value"] = query.after.value
        params["after_row"] = query.after.row
    return where, params


def _session_order(query: SessionQuery) -> str:
    direction = "DESC" if query.order.descending else "ASC"
    return f"{query.order.field} {direction}, pk {direction}"


def _session_index(query: SessionQuery) -> str:
    return session_index(query.order.field, by_agent=query.agent_id is not None)


def list_sessions_sql(query: SessionQuery) -> Query:
    """One query, walking an index in the asked order from just after the cursor.

    Rows are ordered by (order column, pk) in one direction; pk is the rowid
    and so the implicit last column of the index, which is why the index
    alone delivers the order (no temporary B-tree) and the cursor comparison
    is a range on it.
    """
    column = query.order.field
    where, params = _session_range(query)
    params["limit"] = max(query.limit, 0)
    if query.until is not None:
        # The end of the scan budget, inclusive: the other end of the same range.
        within = ">" if query.order.descending else "<"
        where.append(f"{column} {within}= :until_value")
        where.append(f"({column} {within} :until_value OR pk {within}= :until_row)")
        params["until_value"] = query.until.value
        params["until_row"] = query.until.row

    conditions = query.filter
    if conditions.state is not None:
        where.append("state = :state")
        params["state"] = int(conditions.state)
    if conditions.display_name is not None:
        where.append("display_name = :display_name")
        params["display_name"] = conditions.display_name
    if conditions.display_name_contains:
        # instr(), not LIKE: the caller's text is matched literally, % and _ included.
        where.append("instr(display_name, :display_name_contains) > 0")
        params["display_name_contains"] = conditions.display_name_contains
    for n, (label_key, label_value) in enumerate(sorted(conditions.labels.items())):
        # The pair as labels_json writes it: in JSON text an unescaped `"k":` can only be a
        # key, so the match is exact, for any key or value (json_each cuts text at U+0000).
        where.append(f"instr(sessions.labels, :label_pair_{n}) > 0")
        params[f"label_pair_{n}"] = f"{json.dumps(label_key)}:{json.dumps(label_value)}"

    # INDEXED BY pins the plan: statistics from a later ANALYZE could make a
    # selective filter look cheaper through another index plus a sort.
    sql = f"""
        SELECT {SESSION_COLUMNS}
          FROM sessions INDEXED BY {_session_index(query)}
         WHERE {" AND ".join(where)}
         ORDER BY {_session_order(query)}
         LIMIT :limit
    """
    return sql, params


def session_scan_end_sql(query: SessionQuery, rows: int) -> Query:
    """The position of the `rows`-th session after the cursor, the filter ignored.

    It reads the index alone (tenant, agent, the order column and pk are all in it),
    so it costs a fraction of the filtered walk it bounds.
    """
    where, params = _session_range(query)
    params["offset"] = max(rows - 1, 0)
    sql = f"""
        SELECT {query.order.field} AS value, pk AS row
          FROM sessions INDEXED BY {_session_index(query)}
         WHERE {" AND ".join(where)}
         ORDER BY {_session_order(query)}
         LIMIT 1 OFFSET :offset
    """
    return sql, params


def key_params(key: SessionKey) -> dict[str, Any]:
    return {"tenant": key.tenant, "agent_id": key.agent_id, "session_id": key.session_id}


def list_agents_sql(tenant: str, after: tuple[int, str] | None, limit: int) -> Query:
    """Agents oldest first, ties by id."""
    params: dict[str, Any] = {"tenant": tenant, "limit": max(limit, 0)}
    # Conditions are left out rather than written `:after IS NULL OR ...`,
    # which would keep SQLite from starting the index scan at the cursor.
    beyond = ""
    if after is not None:
        beyond = """
           AND create_time >= :after_time
           AND (create_time > :after_time OR agent_id > :after_id)"""
        params["after_time"], params["after_id"] = after
    sql = f"""
        SELECT {AGENT_COLUMNS}
          FROM agents INDEXED BY agents_by_create_time
         WHERE tenant = :tenant{beyond}
         ORDER BY create_time, agent_id
         LIMIT :limit
    """
    return sql, params


def list_items_sql(
    key: SessionKey, after_sequence: int, newest_count: int, limit: int | None
) -> Query:
    """A session's items in sequence order, plus one all-NULL item row when none match.

    The LEFT JOIN makes "the session exists" and its items one snapshot. As
    sequences are dense, the newest N are those above item_count - N, so
    both bounds are one range on the items' primary key.
    """
    lower = ":after_sequence"
    if newest_count > 0:
        lower = "max(:after_sequence, s.item_count - :newest_count)"
    sql = f"""
        SELECT s.pk AS session_pk, {ITEM_COLUMNS}
          FROM sessions AS s
          LEFT JOIN items AS i ON i.session_pk = s.pk AND i.sequence > {lower}
         WHERE {SESSION_KEY_SQL}
         ORDER BY i.sequence
         LIMIT :limit
    """
    params = {
        **key_params(key),
        "after_sequence": after_sequence,
        "newest_count": newest_count,
        # At least one row, so that limit 0 still tells a missing session.
        "limit": -1 if limit is None else max(limit, 1),
    }
    return sql, params


# The order of every run list, newest first. Across sessions the session's row breaks ties
# of (start time, run id), since a run id is unique within its session only.
_RUN_ORDER = "r.start_time DESC, r.run_id DESC"
_RUNS_ACROSS_ORDER = f"{_RUN_ORDER}, r.session_pk DESC"


def run_index(query: RunQuery) -> str:
    """The index a run list walks (see sqlite_schema): the session's runs, or the tenant's
    runs in one state, or all the tenant's runs."""
    if query.session_id is not None:
        return "runs_by_start_time"
    return "runs_by_tenant_state" if query.filter.state is not None else "runs_by_tenant_start_time"


def _run_position(
    cursor: RunCursor, name: str, beyond: str, *, across: bool, inclusive: bool
) -> tuple[list[str], dict[str, Any]]:
    """The rows `beyond` the cursor in the walk's order ("<": after it, newest first; ">":
    before it), as a range on start_time plus tie-breaks, so the walk starts at the cursor."""
    last = f"{beyond}=" if inclusive else beyond
    ties = f"r.run_id {last} :{name}_id"
    params: dict[str, Any] = {f"{name}_time": cursor.start_time_us, f"{name}_id": cursor.run_id}
    if across:
        ties = (
            f"r.run_id {beyond} :{name}_id"
            f" OR (r.run_id = :{name}_id AND r.session_pk {last} :{name}_row)"
        )
        params[f"{name}_row"] = cursor.session_row
    where = [
        f"r.start_time {beyond}= :{name}_time",
        f"(r.start_time {beyond} :{name}_time OR {ties})",
    ]
    return where, params


def _run_walk(query: RunQuery) -> tuple[str, list[str], dict[str, Any], str]:
    """FROM, the conditions of the index range walked (parent, and state when the index has
    it, from the cursor on) and ORDER BY."""
    params: dict[str, Any] = {"tenant": query.tenant}
    if query.session_id is None:
        where = ["r.tenant = :tenant"]
        if query.filter.state is not None:
            where.append("r.state = :state")
            params["state"] = int(query.filter.state)
        tables = f"runs AS r INDEXED BY {run_index(query)}"
        order = _RUNS_ACROSS_ORDER
    else:
        where = [SESSION_KEY_SQL]
        params["agent_id"], params["session_id"] = query.agent_id, query.session_id
        tables = f"sessions AS s JOIN runs AS r INDEXED BY {run_index(query)}"
        tables += " ON r.session_pk = s.pk"
        order = _RUN_ORDER
    if query.after is not None:
        more, values = _run_position(
            query.after, "after", "<", across=query.session_id is None, inclusive=False
        )
        where += more
        params.update(values)
    return tables, where, params, order


def list_runs_sql(query: RunQuery) -> Query:
    """The runs of `query` newest first, from just after its cursor up to its `until`.

    The walk is the session's or the tenant's (see run_index); a condition the index does
    not hold (the state within a session, the agent across sessions) is checked on each
    row walked, which is why such a list is scanned with a budget (Store.scan_runs).
    """
    tables, where, params, order = _run_walk(query)
    across = query.session_id is None
    if across:
        # CROSS JOIN keeps runs the outer loop, so the rows come in the index's order.
        tables += " CROSS JOIN sessions AS s ON s.pk = r.session_pk"
        if query.agent_id is not None:
            where.append("s.agent_id = :agent_id")
            params["agent_id"] = query.agent_id
    elif query.filter.state is not None:
        where.append("r.state = :state")
        params["state"] = int(query.filter.state)
    if query.until is not None:
        more, values = _run_position(query.until, "until", ">", across=across, inclusive=True)
        where += more
        params.update(values)
    params["limit"] = max(query.limit, 0)
    sql = f"""
        SELECT s.agent_id AS agent_id, s.session_id AS session_id,
               r.session_pk AS session_row, {RUN_COLUMNS}
          FROM {tables}
         WHERE {" AND ".join(where)}
         ORDER BY {order}
         LIMIT :limit
    """
    return sql, params


def run_scan_end_sql(query: RunQuery, rows: int) -> Query:
    """The position of the `rows`-th run the walk of `query` visits after its cursor,
    whether or not it matches; read from the index alone."""
    tables, where, params, order = _run_walk(query)
    params["offset"] = max(rows - 1, 0)
    sql = f"""
        SELECT r.start_time AS start_time, r.run_id AS run_id, r.session_pk AS session_row
          FROM {tables}
         WHERE {" AND ".join(where)}
         ORDER BY {order}
         LIMIT 1 OFFSET :offset
    """
    return sql, params
