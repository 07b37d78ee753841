"""Concurrent partial updates without an etag: every change survives (no lost update)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from agentsessions.server.domain.models import AgentRecord, SessionKey, SessionRecord
from agentsessions.server.store import SQLiteStore
from agentsessions.v1 import agent_pb2, agent_pb2_grpc, session_pb2, session_service_pb2_grpc
from agentsessions.v1 import session_service_pb2 as ss
from google.protobuf import field_mask_pb2, timestamp_pb2

Session = session_pb2.Session
ROUNDS = 3
CALL_TIMEOUT = 30.0  # a barrier that never opens fails the call instead of hanging the test


class ReadBarrier(SQLiteStore):
    """A store whose point reads of agents and sessions wait, while armed, until `expected`
    callers wait: every update that reads the row before its write transaction then reads
    the same version of it, which is the race an update must survive."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._expected = 0
        self._waiting = 0
        self._all_here = asyncio.Event()

    def arm(self, expected: int) -> None:
        self._expected, self._waiting = expected, 0
        self._all_here = asyncio.Event()

    def disarm(self) -> None:
        self._expected = 0
        self._all_here.set()

    async def _barrier(self) -> None:
        if self._expected:
            self._waiting += 1
            if self._waiting >= self._expected:
                self._all_here.set()
            await self._all_here.wait()

    async def get_session(self, key: SessionKey) -> SessionRecord | None:
        await self._barrier()
        return await super().get_session(key)

    async def get_agent(self, tenant: str, agent_id: str) -> AgentRecord | None:
        await self._barrier()
        return await super().get_agent(tenant, agent_id)


@pytest.fixture
async def raced(server_factory, tmp_path: Path):
    store = ReadBarrier(str(tmp_path / "raced.db"))
    server = await server_factory(store=store)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield (
            store,
            agent_pb2_grpc.AgentServiceStub(channel),
            session_service_pb2_grpc.SessionServiceStub(channel),
        )


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def test_concurrent_session_updates_of_different_fields_all_survive(raced) -> None:
    store, agents, sessions = raced
    agent = await agents.CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="A"), agent_id="a")
    )
    created = await sessions.CreateSession(
        ss.CreateSessionRequest(parent=agent.name, session=Session(display_name="start"))
    )
    states = [Session.PAUSED, Session.COMPLETED, Session.ACTIVE]
    for round_ in range(ROUNDS):
        expire = timestamp_pb2.Timestamp(seconds=4_000_000_000 + round_)
        changes = [
            (Session(name=created.name, display_name=f"name {round_}"), mask("display_name")),
            (Session(name=created.name, state=states[round_]), mask("state")),
            (Session(name=created.name, labels={"round": str(round_)}), mask("labels")),
            (Session(name=created.name, expire_time=expire), mask("expire_time")),
        ]
        store.arm(len(changes))
        try:
            await asyncio.gather(
                *(
                    sessions.UpdateSession(
                        ss.UpdateSessionRequest(session=session, update_mask=paths),
                        timeout=CALL_TIMEOUT,
                    )
                    for session, paths in changes
                )
            )
        finally:
            store.disarm()
        after = await sessions.GetSession(ss.GetSessionRequest(name=created.name))
        assert (after.display_name, after.state, dict(after.labels), after.expire_time) == (
            f"name {round_}",
            states[round_],
            {"round": str(round_)},
            expire,
        )


async def test_concurrent_agent_updates_of_different_fields_all_survive(raced) -> None:
    store, agents, _ = raced
    created = await agents.CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="start"), agent_id="a")
    )
    for round_ in range(ROUNDS):
        settings = agent_pb2.ModelSettings(temperature=0.5, max_output_tokens=100 + round_)
        changes = [
            agent_pb2.Agent(name=created.name, display_name=f"name {round_}"),
            agent_pb2.Agent(name=created.name, description=f"description {round_}"),
            agent_pb2.Agent(name=created.name, instructions=f"instructions {round_}"),
            agent_pb2.Agent(name=created.name, model_settings=settings),
            agent_pb2.Agent(
                name=created.name,
                history_policy=agent_pb2.HistoryPolicy(max_items=10 + round_),
            ),
        ]
        paths = ["display_name", "description", "instructions", "model_settings", "history_policy"]
        store.arm(len(changes))
        try:
            await asyncio.gather(
                *(
                    agents.UpdateAgent(
                        agent_pb2.UpdateAgentRequest(agent=agent, update_mask=mask(path)),
                        timeout=CALL_TIMEOUT,
                    )
                    for agent, path in zip(changes, paths, strict=True)
                )
            )
        finally:
            store.disarm()
        after = await agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))
        assert (
            after.display_name,
            after.description,
            after.instructions,
            after.model_settings,
            after.history_policy.max_items,
        ) == (
            f"name {round_}",
            f"description {round_}",
            f"instructions {round_}",
            settings,
            10 + round_,
        )
