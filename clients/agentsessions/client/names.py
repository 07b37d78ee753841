"""Resource-name helpers: build and parse `agents/{agent}/sessions/{session}` names."""

from __future__ import annotations

import re

_ID = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_AGENT_RE = re.compile(rf"^agents/(?P<agent>{_ID}|-)$")
_SESSION_RE = re.compile(rf"^agents/(?P<agent>{_ID})/sessions/(?P<session>{_ID})$")
_RUN_RE = re.compile(rf"^agents/(?P<agent>{_ID})/sessions/(?P<session>{_ID})/runs/(?P<run>{_ID})$")

ALL_AGENTS = "agents/-"
"""The parent that lists sessions across every agent."""

ALL_SESSIONS = "agents/-/sessions/-"
"""The parent that lists runs across every session of every agent."""

WAITING_FOR_APPROVAL = "state = REQUIRES_APPROVAL"
"""The ListRuns filter of the runs that wait for a decision on a tool call."""


def agent_path(agent_id: str) -> str:
    """Returns the resource name of an agent.

    Example:
        >>> agent_path("default")
        'agents/default'
    """
    return f"agents/{agent_id}"


def session_path(agent_id: str, session_id: str) -> str:
    """Returns the resource name of a session.

    Example:
        >>> session_path("default", "s1")
        'agents/default/sessions/s1'
    """
    return f"agents/{agent_id}/sessions/{session_id}"


def run_path(agent_id: str, session_id: str, run_id: str) -> str:
    """Returns the resource name of a run."""
    return f"agents/{agent_id}/sessions/{session_id}/runs/{run_id}"


def parse_agent_path(name: str) -> str:
    """Returns the agent id of `agents/{agent}`; raises ValueError for anything else."""
    match = _AGENT_RE.match(name)
    if match is None:
        raise ValueError(f"not an agent name (agents/AGENT): {name!r}")
    return match["agent"]


def parse_session_path(name: str) -> tuple[str, str]:
    """Returns (agent id, session id) of `agents/{agent}/sessions/{session}`.

    Raises:
        ValueError: the name is not a session name.
    """
    match = _SESSION_RE.match(name)
    if match is None:
        raise ValueError(f"not a session name (agents/AGENT/sessions/SESSION): {name!r}")
    return match["agent"], match["session"]


def parse_run_path(name: str) -> tuple[str, str, str]:
    """Returns (agent id, session id, run id) of a run name; raises ValueError otherwise."""
    match = _RUN_RE.match(name)
    if match is None:
        raise ValueError(f"not a run name (agents/A/sessions/S/runs/RUN): {name!r}")
    return match["agent"], match["session"], match["run"]


def as_agent_name(value: str) -> str:
    """Accepts `agents/{agent}` or a bare agent id and returns the resource name."""
    return value if value.startswith("agents/") else agent_path(value)


def as_session_name(value: str, default_agent: str = "default") -> str:
    """Accepts `agents/{a}/sessions/{s}`, `{a}/{s}`, or a bare `{s}` of `default_agent`."""
    if value.startswith("agents/"):
        return value
    if "/" in value:
        agent_id, _, session_id = value.partition("/")
        return session_path(agent_id, session_id)
    return session_path(default_agent, value)


def as_run_name(value: str, default_agent: str = "default") -> str:
    """Accepts `agents/{a}/sessions/{s}/runs/{r}`, `{a}/{s}/{r}`, or `{s}/{r}` of `default_agent`.

    Raises:
        ValueError: the value has none of these shapes.
    """
    if value.startswith("agents/"):
        return value
    parts = value.split("/")
    if len(parts) == 3:
        return run_path(*parts)
    if len(parts) == 2:
        return run_path(default_agent, *parts)
    raise ValueError(f"not a run (agents/A/sessions/S/runs/R, A/S/R or S/R): {value!r}")
