"""The agentsessions Python client library and command line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentsessions.client._channel import ChannelOptions, tls_credentials
from agentsessions.client._defaults import (
    DEFAULT,
    DEFAULT_RESUME,
    METHOD_DEFAULTS,
    MethodDefaults,
    Retry,
)
from agentsessions.client._stream import AsyncMessageStream, MessageStream
from agentsessions.client.async_client import AsyncClient
from agentsessions.client.client import Client
from agentsessions.client.exceptions import (
    Aborted,
    AgentSessionsError,
    AlreadyExists,
    ApprovalRequired,
    Cancelled,
    DeadlineExceeded,
    EventsExpired,
    EventsMissing,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    RequestIdReused,
    ResourceExhausted,
    SessionBusy,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
)
from agentsessions.client.names import (
    ALL_AGENTS,
    ALL_SESSIONS,
    WAITING_FOR_APPROVAL,
    agent_path,
    parse_agent_path,
    parse_run_path,
    parse_session_path,
    run_path,
    session_path,
)
from agentsessions.client.pagers import AsyncPager, Pager

if TYPE_CHECKING:
    from agentsessions.client.remote_session import RemoteSession

__all__ = [
    "ALL_AGENTS",
    "ALL_SESSIONS",
    "DEFAULT",
    "DEFAULT_RESUME",
    "METHOD_DEFAULTS",
    "WAITING_FOR_APPROVAL",
    "Aborted",
    "AgentSessionsError",
    "AlreadyExists",
    "ApprovalRequired",
    "AsyncClient",
    "AsyncMessageStream",
    "AsyncPager",
    "Cancelled",
    "ChannelOptions",
    "Client",
    "DeadlineExceeded",
    "EventsExpired",
    "EventsMissing",
    "FailedPrecondition",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "MessageStream",
    "MethodDefaults",
    "NotFound",
    "OutOfRange",
    "Pager",
    "PermissionDenied",
    "RemoteSession",
    "RequestIdReused",
    "ResourceExhausted",
    "Retry",
    "SessionBusy",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "agent_path",
    "parse_agent_path",
    "parse_run_path",
    "parse_session_path",
    "run_path",
    "session_path",
    "tls_credentials",
]


def __getattr__(name: str) -> Any:
    # RemoteSession imports the Agents SDK, which takes seconds; only load it when asked.
    if name == "RemoteSession":
        from agentsessions.client.remote_session import RemoteSession

        return RemoteSession
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
