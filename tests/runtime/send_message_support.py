"""Helpers for SendMessage end-to-end tests: the stubs of one server, streams, listings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentsessions.server.app import AgentSessionsServer
from agentsessions.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    events_pb2,
    session_pb2,
    session_service_pb2_grpc,
)
from agentsessions.v1 import session_service_pb2 as ss


@dataclass
class Api:
    agents: agent_pb2_grpc.AgentServiceStub
    sessions: session_service_pb2_grpc.SessionServiceStub
    server: AgentSessionsServer

    async def session_with(self, agent_id: str = "default", **agent: Any) -> str:
        """A new session, of a new agent `agent_id` when agent fields are given."""
        if agent:
            agent.setdefault("display_name", agent_id)
            await self.agents.CreateAgent(
                agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(**agent), agent_id=agent_id)
            )
        created = await self.sessions.CreateSession(
            ss.CreateSessionRequest(
                parent=f"agents/{agent_id}", session=session_pb2.Session(display_name="chat")
            )
        )
        return created.name

    async def send(
        self, session: str, text: str, **fields: Any
    ) -> list[events_pb2.SendMessageResponse]:
        request = events_pb2.SendMessageRequest(session=session, text=text, **fields)
        return [event async for event in self.sessions.SendMessage(request)]

    async def items(self, session: str) -> list[session_pb2.Item]:
        return list(
            (
                await self.sessions.ListItems(ss.ListItemsRequest(parent=session, page_size=1000))
            ).items
        )

    async def runs(self, session: str) -> list[session_pb2.Run]:
        return list(
            (await self.sessions.ListRuns(ss.ListRunsRequest(parent=session, page_size=1000))).runs
        )


def kinds(events: list[events_pb2.SendMessageResponse]) -> list[str]:
    return [str(event.WhichOneof("event")) for event in events]
