"""Resource names (`agents/{agent}/sessions/{session}`) and resource ids."""

from __future__ import annotations

import re
import uuid

from .errors import InvalidArgument, quote
from .models import SessionKey

# AIP-122 style: lowercase letters, digits and hyphens; a lowercase UUID fits.
ID_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
ID_RULE = (
    "1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit"
)
ALL_AGENTS = "-"  # the AIP-159 wildcard: every agent, or every session


def new_id() -> str:
    return str(uuid.uuid4())


def check_id(value: str, field: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise InvalidArgument.field(
            field, f"must be {ID_RULE}, got {quote(value)}", reason="INVALID_ID"
        )
    return value


def check_request_id(value: str) -> str | None:
    """AIP-155: a request id is a UUID; empty means the caller did not send one."""
    if not value:
        return None
    try:
        uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.field(
            "request_id", f"must be a UUID, got {quote(value)}", reason="INVALID_REQUEST_ID"
        ) from None
    return value


def _segments(name: str, field: str, pattern: str, count: int) -> list[str]:
    parts = name.split("/")
    if len(parts) != count * 2 or any(
        parts[i] != literal for i, literal in enumerate(pattern.split("/")) if i % 2 == 0
    ):
        raise InvalidArgument.field(
            field, f"must be a name like {pattern}, got {quote(name)}", reason="INVALID_NAME"
        )
    return parts[1::2]


def agent_id_from_name(name: str, field: str = "name") -> str:
    (agent_id,) = _segments(name, field, "agents/{agent}", 1)
    return check_id(agent_id, field)


def agent_parent(name: str, field: str = "parent") -> str | None:
    """The agent id of a list parent; None for `agents/-` (every agent)."""
    (agent_id,) = _segments(name, field, "agents/{agent}", 1)
    return None if agent_id == ALL_AGENTS else check_id(agent_id, field)


def runs_parent(name: str, field: str = "parent") -> tuple[str | None, str | None]:
    """The (agent id, session id) of a ListRuns parent (AIP-159): `agents/{a}/sessions/{s}`,
    `agents/{a}/sessions/-` (every session of the agent; session id None) or
    `agents/-/sessions/-` (every session; both None)."""
    agent_id, session_id = _segments(name, field, "agents/{agent}/sessions/{session}", 2)
    if agent_id == ALL_AGENTS:
        if session_id != ALL_AGENTS:
            # A session id is unique only within its agent, so it names no one session here.
            raise InvalidArgument.field(
                field,
                f"must name the session's agent, or be agents/-/sessions/-, got {quote(name)}",
                reason="INVALID_NAME",
            )
        return None, None
    check_id(agent_id, field)
    return agent_id, None if session_id == ALL_AGENTS else check_id(session_id, field)


def session_key(name: str, tenant: str, field: str = "name") -> SessionKey:
    agent_id, session_id = _segments(name, field, "agents/{agent}/sessions/{session}", 2)
    return SessionKey(tenant, check_id(agent_id, field), check_id(session_id, field))


def run_key(name: str, tenant: str, field: str = "name") -> tuple[SessionKey, str]:
    agent_id, session_id, run_id = _segments(
        name, field, "agents/{agent}/sessions/{session}/runs/{run}", 3
    )
    key = SessionKey(tenant, check_id(agent_id, field), check_id(session_id, field))
    return key, check_id(run_id, field)


def agent_name(agent_id: str) -> str:
    return f"agents/{agent_id}"


def session_name(key: SessionKey) -> str:
    return f"agents/{key.agent_id}/sessions/{key.session_id}"


def runs_parent_name(agent_id: str | None, session_id: str | None) -> str:
    """The ListRuns parent of runs_parent's result."""
    return f"agents/{agent_id or ALL_AGENTS}/sessions/{session_id or ALL_AGENTS}"


def item_name(key: SessionKey, sequence: int) -> str:
    return f"{session_name(key)}/items/{sequence}"


def run_name(key: SessionKey, run_id: str) -> str:
    return f"{session_name(key)}/runs/{run_id}"
