"""The client's shape: a method per RPC, a default per method, name helpers."""

from __future__ import annotations

import inspect
import re

import pytest
from agentsessions.client import (
    METHOD_DEFAULTS,
    AsyncClient,
    Client,
    agent_path,
    parse_agent_path,
    parse_run_path,
    parse_session_path,
    run_path,
    session_path,
)
from agentsessions.v1 import agent_pb2, session_service_pb2

SERVICES = [
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"],
    session_service_pb2.DESCRIPTOR.services_by_name["SessionService"],
]
RPCS = [method.name for service in SERVICES for method in service.methods]
STREAMING = {"SendMessage", "StreamRunEvents"}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_the_services_have_the_rpcs_this_suite_expects() -> None:
    assert len(RPCS) == 22
    assert STREAMING | {"CancelRun"} <= set(RPCS)


@pytest.mark.parametrize("rpc", RPCS)
def test_every_rpc_has_an_async_and_a_sync_method(rpc: str) -> None:
    async_method = getattr(AsyncClient, snake(rpc))
    sync_method = getattr(Client, snake(rpc))
    streaming = rpc in STREAMING
    assert inspect.iscoroutinefunction(async_method) is not streaming
    assert not inspect.iscoroutinefunction(sync_method)
    async_params = inspect.signature(async_method).parameters
    assert list(async_params) == list(inspect.signature(sync_method).parameters)
    for keyword in ("timeout", "metadata") + (("resume",) if streaming else ("retry",)):
        assert async_params[keyword].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("rpc", RPCS)
def test_every_rpc_has_a_default_deadline(rpc: str) -> None:
    assert METHOD_DEFAULTS[rpc].timeout > 0


def test_only_calls_safe_to_repeat_are_retried() -> None:
    never = {"DeleteAgent", "DeleteSession", "PopItem", "ClearSession"}
    never |= {"CompactSession", "BatchDeleteSessions"}
    # Streams are not repeated as a whole: they are resumed after the last event received.
    never |= STREAMING
    assert {rpc for rpc in RPCS if METHOD_DEFAULTS[rpc].retry is None} == never
    assert {rpc for rpc in RPCS if METHOD_DEFAULTS[rpc].resume is not None} == STREAMING
    # Retried unless the request carries an etag (test_client_retry_policy.py).
    assert {rpc for rpc in RPCS if METHOD_DEFAULTS[rpc].etag_field} == {
        "UpdateAgent",
        "UpdateSession",
    }


def test_name_helpers_round_trip() -> None:
    assert parse_agent_path(agent_path("a-1")) == "a-1"
    assert parse_session_path(session_path("a", "s")) == ("a", "s")
    assert parse_run_path(run_path("a", "s", "r")) == ("a", "s", "r")
    for bad in ("agents/A", "agents/a/sessions/", "sessions/s", "agents/a/sessions/s/x"):
        with pytest.raises(ValueError):
            parse_session_path(bad)
