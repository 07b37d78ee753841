"""AgentService: proto requests to `domain.agents.Agents` calls."""

from __future__ import annotations

from typing import Any

import grpc
from agentsessions.v1 import agent_pb2, agent_pb2_grpc
from google.protobuf import empty_pb2

from ..domain import names
from ..domain.agents import Agents
from ..domain.errors import InvalidArgument
from .context import tenant_of
from .convert import agent_from_proto, agent_to_proto

Context = grpc.aio.ServicerContext[Any, Any]


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, agents: Agents) -> None:
        self._agents = agents

    async def CreateAgent(
        self, request: agent_pb2.CreateAgentRequest, context: Context
    ) -> agent_pb2.Agent:
        if not request.HasField("agent"):
            raise InvalidArgument.field("agent", "is required", reason="MISSING_FIELD")
        record = agent_from_proto(request.agent, tenant_of(context))
        created = await self._agents.create(record, request.agent_id, request.request_id)
        return agent_to_proto(created)

    async def GetAgent(
        self, request: agent_pb2.GetAgentRequest, context: Context
    ) -> agent_pb2.Agent:
        agent_id = names.agent_id_from_name(request.name)
        return agent_to_proto(await self._agents.get(tenant_of(context), agent_id))

    async def ListAgents(
        self, request: agent_pb2.ListAgentsRequest, context: Context
    ) -> agent_pb2.ListAgentsResponse:
        page = await self._agents.list_agents(
            tenant_of(context), size=request.page_size, token=request.page_token
        )
        return agent_pb2.ListAgentsResponse(
            agents=[agent_to_proto(a) for a in page.entries], next_page_token=page.next_page_token
        )

    async def UpdateAgent(
        self, request: agent_pb2.UpdateAgentRequest, context: Context
    ) -> agent_pb2.Agent:
        agent_id = names.agent_id_from_name(request.agent.name, "agent.name")
        changes = agent_from_proto(request.agent, tenant_of(context), agent_id)
        updated = await self._agents.update(
            changes, list(request.update_mask.paths), request.agent.etag
        )
        return agent_to_proto(updated)

    async def DeleteAgent(
        self, request: agent_pb2.DeleteAgentRequest, context: Context
    ) -> empty_pb2.Empty:
        agent_id = names.agent_id_from_name(request.name)
        await self._agents.delete(
            tenant_of(context), agent_id, force=request.force, etag=request.etag
        )
        return empty_pb2.Empty()
