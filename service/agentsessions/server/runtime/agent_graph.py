"""Builds the Agents SDK `Agent` of a stored agent: model, settings, tools and handoffs."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection
from typing import Any

from agents import Agent, FunctionTool, Model, ModelSettings, Tool, handoff

from ..domain.errors import DomainError, FailedPrecondition, InvalidArgument
from ..domain.models import AgentRecord
from ..domain.names import agent_name
from ..store.base import Store
from .models import ModelRegistry
from .sink import FailingModel
from .tools import ToolRegistry

log = logging.getLogger("agentsessions.runtime")

MAX_AGENTS = 32  # agents reachable by handoffs from one run's agent, itself included


async def load_reachable(store: Store, root: AgentRecord) -> dict[str, AgentRecord]:
    """The root agent and every stored agent it can hand off to, directly or not."""
    found = {root.agent_id: root}
    wanted = list(root.handoffs)
    while wanted and len(found) < MAX_AGENTS:
        ids = [i for i in dict.fromkeys(wanted) if i not in found][: MAX_AGENTS - len(found)]
        if not ids:
            break
        wanted = []
        for record in await store.get_agents(root.tenant, ids):
            found[record.agent_id] = record
            wanted.extend(record.handoffs)
    missing = {i for r in found.values() for i in r.handoffs} - set(found)
    if missing:
        log.warning("handoff targets not found or beyond the limit", extra={"agents": missing})
    return found


def handoff_tool_name(agent_id: str) -> str:
    return "transfer_to_" + agent_id.replace("-", "_")


def _settings(record: AgentRecord) -> ModelSettings:
    spec = record.model_settings
    return ModelSettings(
        temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_output_tokens
    )


def _with_approval(tool: Tool, needing: Collection[str]) -> Tool:
    """The tool, waiting for approval when the agent says so (or its registry already did)."""
    if isinstance(tool, FunctionTool) and tool.name in needing and tool.needs_approval is not True:
        return dataclasses.replace(tool, needs_approval=True)
    return tool


def build_agent(
    records: dict[str, AgentRecord],
    root_id: str,
    *,
    models: ModelRegistry,
    tools: ToolRegistry,
    observe: Callable[[Model, str], Model],
) -> Agent[Any]:
    """The SDK agent for `root_id`, with handoffs to the others in `records`.

    The root agent's model must resolve (its errors are raised: the run cannot start);
    another agent's model error is raised only if the run hands off to it.
    """
    agents: dict[str, Agent[Any]] = {}
    for agent_id, record in records.items():
        try:
            model: Model = models.get_model(record.model)
        except DomainError as exc:
            if agent_id == root_id:
                raise
            model = FailingModel(exc)
        try:
            agent_tools = tools.get_tools(record.tools)
        except InvalidArgument as exc:
            raise FailedPrecondition(
                f"{agent_name(agent_id)} names tools this server does not have: {exc.message}",
                reason="UNKNOWN_TOOL",
                metadata={"agent": agent_name(agent_id)},
            ) from None
        agents[agent_id] = Agent(
            name=agent_id,
            instructions=record.instructions or None,
            handoff_description=record.description or record.display_name,
            model=observe(model, agent_id),
            model_settings=_settings(record),
            tools=[_with_approval(tool, record.approval_tools) for tool in agent_tools],
        )
    for agent_id, record in records.items():
        agents[agent_id].handoffs = [
            handoff(agents[target], tool_name_override=handoff_tool_name(target))
            for target in record.handoffs
            if target in agents
        ]
    return agents[root_id]
