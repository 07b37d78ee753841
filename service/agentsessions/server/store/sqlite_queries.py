"""The keyset-paged session list query for SQLite, built from a SessionQuery."""

from __future__ import annotations

from typing import Any

from .base import SessionQuery
from .sqlite_rows import SESSION_COLUMNS

# The only columns a list may be ordered by; never interpolate anything else.
ORDER_COLUMNS = frozenset({"last_activity_time", "create_time", "update_time"})


def session_index(order_column: str, *, by_agent: bool) -> str:
    """The index that serves this order (see sqlite_schema)."""
    return f"sessions_by_agent_{order_column}" if by_agent else f"sessions_by_{order_column}"


def list_sessions_sql(query: SessionQuery) -> tuple[str, dict[str, Any]]:
    """One query, walking an index in the asked order from just after the cursor.

    Rows are ordered by (order column, pk) in one direction; pk is the rowid
    and so the implicit last column of the index, which is why the index
    alone delivers the order (no temporary B-tree) and the cursor comparison
    is a range on it.
    """
    column = query.order.field
    if column not in ORDER_COLUMNS:
        raise ValueError(f"cannot order sessions by {column!r}")
    descending = query.order.descending
    beyond = "<" if descending else ">"
    direction = "DESC" if descending else "ASC"
    by_agent = query.agent_id is not None

    where = ["tenant = :tenant"]
    params: dict[str, Any] = {"tenant": query.tenant, "limit": max(query.limit, 0)}
    if by_agent:
        where.append("agent_id = :agent_id")
        params["agent_id"] = query.agent_id
    if query.after is not None:
        # Written as a range on the column plus a tie-break, so SQLite can
        # start the index scan at the cursor instead of filtering from the top.
        where.append(f"{column} {beyond}= :after_value")
        where.append(f"({column} {beyond} :after_value OR pk {beyond} :after_row)")
        params["after_value"] = query.after.value
        params["after_row"] = query.after.row

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
        # json_each matches any key literally, where a json_extract path would
        # need escaping for keys with dots or quotes.
        where.append(
            "EXISTS (SELECT 1 FROM json_each(sessions.labels)"
            f" WHERE json_each.key = :label_key_{n} AND json_each.value = :label_value_{n}"
            " AND json_each.type = 'text')"
        )
        params[f"label_key_{n}"] = label_key
        params[f"label_value_{n}"] = label_value

    sql = f"""
        SELECT {SESSION_COLUMNS}
          FROM sessions INDEXED BY {session_index(column, by_agent=by_agent)}
         WHERE {" AND ".join(where)}
         ORDER BY {column} {direction}, pk {direction}
         LIMIT :limit
    """
    return sql, params
