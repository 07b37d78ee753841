"""Record builders and error checks shared by the store contract tests."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
from agentsessions.server.domain.errors import DomainError
from agentsessions.server.domain.models import (
    AgentRecord,
    FinishedRun,
    Lease,
    ModelSettingsSpec,
    NewItem,
    RunRecord,
    RunState,
    SessionKey,
    SessionRecord,
    SessionStats,
    now_us,
)
from agentsessions.server.store import Store

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
OWNER = "process-1"
LEASE_US = 60_000_000  # a lease no test outlives

E = TypeVar("E", bound=DomainError)


def agent(agent_id: str = "helper", tenant: str = TENANT, **fields: Any) -> AgentRecord:
    fields.setdefault("display_name", f"Agent {agent_id}")
    return AgentRecord(tenant=tenant, agent_id=agent_id, **fields)


def full_agent(agent_id: str = "full") -> AgentRecord:
    return agent(
        agent_id,
        display_name="Full agent",
        description="answers briefly",
        instructions="Be brief. Ünïcödé ✓",
        model="scripted",
        model_settings=ModelSettingsSpec(temperature=0.25, top_p=0.5, max_output_tokens=300),
        tools=("clock", "weather"),
        handoffs=("billing", "support"),
        history_max_items=40,
    )


def session(
    session_id: str = "s1", agent_id: str = "helper", tenant: str = TENANT, **fields: Any
) -> SessionRecord:
    fields.setdefault("display_name", f"Session {session_id}")
    return SessionRecord(tenant=tenant, agent_id=agent_id, session_id=session_id, **fields)


def key_of(record: SessionRecord) -> SessionKey:
    return SessionKey(record.tenant, record.agent_id, record.session_id)


def message(text: str, role: str = "user") -> NewItem:
    item_json = json.dumps({"role": role, "content": text}, ensure_ascii=False)
    return NewItem(item_json=item_json, type="message", role=role, text=text)


def function_call(name: str = "clock") -> NewItem:
    item_json = json.dumps({"type": "function_call", "name": name, "arguments": "{}"})
    return NewItem(item_json=item_json, type="function_call")


def function_output(output: str = "12:00") -> NewItem:
    item_json = json.dumps({"type": "function_call_output", "output": output})
    return NewItem(item_json=item_json, type="function_call_output")


async def seeded(store: Store, *session_ids: str, agent_id: str = "helper") -> list[SessionKey]:
    """Creates the agent and the sessions; returns their keys."""
    await store.create_agent(agent(agent_id), None)
    keys = []
    for session_id in session_ids:
        keys.append(key_of(await store.create_session(session(session_id, agent_id), None)))
    return keys


async def raises(kind: type[E], reason: str, call: Awaitable[Any]) -> E:
    """Awaits `call`, which must raise `kind` with `reason`; returns the error."""
    with pytest.raises(kind) as caught:
        await call
    assert caught.value.reason == reason, caught.value
    return caught.value


def running(key: SessionKey, run_id: str = "run-1", **fields: Any) -> RunRecord:
    fields.setdefault("owner", OWNER)
    return RunRecord(key=key, run_id=run_id, state=RunState.RUNNING, **fields)


async def start(
    store: Store, key: SessionKey, run_id: str = "run-1", **fields: Any
) -> tuple[RunRecord, Lease]:
    """Starts a run on a free session; returns the run as recorded and its lease."""
    started = await store.start_run(
        running(key, run_id, **fields), lease_expire_time_us=now_us() + LEASE_US
    )
    assert started.run is not None and started.lease is not None, started
    assert not started.joined and started.busy is None, started
    return started.run, started.lease


def terminal_body(run: RunRecord, stats: SessionStats, sequence: int) -> bytes:
    """A terminal event that shows what the store handed the encoder."""
    return json.dumps(
        {
            "run_id": run.run_id,
            "state": run.state.name,
            "sequence": sequence,
            "total_tokens": stats.total_tokens,
        }
    ).encode()


async def finish(
    store: Store,
    run: RunRecord,
    lease: Lease,
    state: RunState = RunState.COMPLETED,
    **fields: Any,
) -> FinishedRun:
    """Ends `run` (as it was started, with `fields` changed) with a `terminal_body` event."""
    ended = dataclasses.replace(run, state=state, **fields)
    return await store.finish_run(ended, lease=lease, terminal=terminal_body)
