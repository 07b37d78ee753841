"""Agent rules: what a valid agent is, ids, field masks and etags."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import replace
from typing import Protocol

from ..store.base import Store
from . import names
from .errors import InvalidArgument
from .models import AgentRecord, now_us
from .paging import PAGE_BYTES, Page, agent_bytes, decode_token, page_of, page_size
from .resource_errors import agent_etag_mismatch, agent_not_found, etag_differs
from .validation import (
    DESCRIPTION_MAX,
    HANDOFFS_MAX,
    HISTORY_MAX_ITEMS_MAX,
    INSTRUCTIONS_MAX,
    MODEL_MAX,
    TOOLS_MAX,
    Violations,
    check_display_name,
    check_max_length,
    update_paths,
)

# The top-level fields an update may name and, dotted, the sub-fields of its message
# fields: a path into a message updates only that sub-field (AIP-134, AIP-161).
UPDATABLE_FIELDS = frozenset(
    {
        "display_name",
        "instructions",
        "model",
        "model_settings",
        "model_settings.temperature",
        "model_settings.top_p",
        "model_settings.max_output_tokens",
        "tools",
        "handoffs",
        "history_policy",
        "history_policy.max_items",
        "description",
        "approval_policy",
        "approval_policy.tools",
        "approval_policy.timeout",
    }
)
DEFAULT_MODEL = "echo"
APPROVAL_TIMEOUT_MIN_US = 1_000_000
APPROVAL_TIMEOUT_MAX_US = 30 * 86_400 * 1_000_000


class AgentCatalog(Protocol):
    """What the runtime can run: the models and tools an agent may name."""

    def validate_model(self, model: str) -> None: ...

    def validate_tools(self, tools: Collection[str]) -> None: ...


def new_etag() -> str:
    return secrets.token_hex(8)


def merge_agent(current: AgentRecord, changes: AgentRecord, paths: Collection[str]) -> AgentRecord:
    """`current` with the masked fields taken from `changes`: a whole field for a top-level
    path, one sub-field for a dotted one; the fields not named keep their value. A mask
    naming a message and one of its sub-fields takes both from `changes`, so the order of
    the paths does not matter."""
    updated = current
    for path in paths:
        field, _, sub = path.partition(".")
        if field == "history_policy":  # its one field, max_items, is stored flat
            updated = replace(updated, history_max_items=changes.history_max_items)
        elif field == "approval_policy":  # stored flat too
            if sub in ("", "tools"):
                updated = replace(updated, approval_tools=changes.approval_tools)
            if sub in ("", "timeout"):
                updated = replace(updated, approval_timeout_us=changes.approval_timeout_us)
        elif sub:  # model_settings.<sub>
            value = getattr(changes.model_settings, sub)
            settings = replace(updated.model_settings, **{sub: value})
            updated = replace(updated, model_settings=settings)
        else:
            updated = replace(updated, **{field: getattr(changes, field)})
    return updated


class Agents:
    def __init__(self, store: Store, catalog: AgentCatalog) -> None:
        self._store = store
        self._catalog = catalog

    @staticmethod
    def _check_fields(agent: AgentRecord) -> None:
        """The checks that need nothing but the record."""
        found = Violations()
        check_display_name(agent.display_name, "agent.display_name", found)
        check_max_length(agent.instructions, INSTRUCTIONS_MAX, "agent.instructions", found)
        check_max_length(agent.description, DESCRIPTION_MAX, "agent.description", found)
        check_max_length(agent.model, MODEL_MAX, "agent.model", found)
        settings = agent.model_settings
        if settings.temperature is not None and not 0 <= settings.temperature <= 2:
            found.add("agent.model_settings.temperature", "must be between 0 and 2")
        if settings.top_p is not None and not 0 <= settings.top_p <= 1:
            found.add("agent.model_settings.top_p", "must be between 0 and 1")
        if settings.max_output_tokens is not None and settings.max_output_tokens <= 0:
            found.add("agent.model_settings.max_output_tokens", "must be positive")
        if len(agent.tools) > TOOLS_MAX:
            found.add("agent.tools", f"must have at most {TOOLS_MAX} tools")
        if len(set(agent.tools)) != len(agent.tools):
            found.add("agent.tools", "must not repeat a tool")
        if len(agent.handoffs) > HANDOFFS_MAX:
            found.add("agent.handoffs", f"must have at most {HANDOFFS_MAX} agents")
        missing = [t for t in agent.approval_tools if t not in agent.tools]
        if missing:
            found.add("agent.approval_policy.tools", "names tools the agent does not have")
        if len(set(agent.approval_tools)) != len(agent.approval_tools):
            found.add("agent.approval_policy.tools", "must not repeat a tool")
        timeout = agent.approval_timeout_us
        if timeout and not APPROVAL_TIMEOUT_MIN_US <= timeout <= APPROVAL_TIMEOUT_MAX_US:
            found.add("agent.approval_policy.timeout", "must be 1 second to 30 days, or unset")
        if not 0 <= agent.history_max_items <= HISTORY_MAX_ITEMS_MAX:
            found.add(
                "agent.history_policy.max_items", f"must be between 0 and {HISTORY_MAX_ITEMS_MAX}"
            )
        found.raise_if_any()

    def _check(self, agent: AgentRecord) -> None:
        self._check_fields(agent)
        self._catalog.validate_model(agent.model)
        self._catalog.validate_tools(agent.tools)

    async def _check_handoffs(self, agent: AgentRecord) -> None:
        if not agent.handoffs:
            return
        existing = {a.agent_id for a in await self._store.get_agents(agent.tenant, agent.handoffs)}
        missing = [a for a in agent.handoffs if a not in existing]
        if missing:
            raise InvalidArgument.field(
                "agent.handoffs",
                f"no such agent: {', '.join(names.agent_name(a) for a in missing)}",
                reason="UNKNOWN_HANDOFF",
            )

    async def create(self, agent: AgentRecord, agent_id: str, request_id: str) -> AgentRecord:
        agent_id = names.check_id(agent_id, "agent_id") if agent_id else names.new_id()
        now = now_us()
        agent = replace(
            agent,
            agent_id=agent_id,
            model=agent.model or DEFAULT_MODEL,
            create_time_us=now,
            update_time_us=now,
            etag=new_etag(),
        )
        self._check(agent)
        await self._check_handoffs(agent)
        return await self._store.create_agent(agent, names.check_request_id(request_id))

    async def get(self, tenant: str, agent_id: str) -> AgentRecord:
        agent = await self._store.get_agent(tenant, agent_id)
        if agent is None:
            raise agent_not_found(agent_id)
        return agent

    async def list_agents(self, tenant: str, *, size: int, token: str) -> Page[AgentRecord]:
        limit = page_size(size)
        cursor = decode_token(token, {})
        after = (int(cursor[0]), str(cursor[1])) if cursor is not None else None
        agents = await self._store.list_agents(
            tenant, after=after, limit=limit + 1, max_bytes=PAGE_BYTES
        )
        return page_of(
            agents, limit, {}, lambda a: [a.create_time_us, a.agent_id], size_of=agent_bytes
        )

    async def update(self, changes: AgentRecord, mask: Collection[str], etag: str) -> AgentRecord:
        paths = update_paths(mask, UPDATABLE_FIELDS)
        if "model" in paths and not changes.model:
            changes = replace(changes, model=DEFAULT_MODEL)
        if "handoffs" in paths and changes.agent_id in changes.handoffs:
            raise InvalidArgument.field(
                "agent.handoffs", "an agent cannot hand off to itself", reason="UNKNOWN_HANDOFF"
            )
        # The catalog and other agents are checked for the fields that change only: the
        # stored values passed these checks already. Handoffs before the transaction, as
        # reading other agents inside it would hold up every other write.
        if "handoffs" in paths:
            await self._check_handoffs(changes)

        def apply(current: AgentRecord) -> AgentRecord:
            # Runs inside the store's write transaction on the row as it is there, so two
            # updates of different fields without an etag both survive.
            if etag_differs(etag, current.etag):
                raise agent_etag_mismatch(current.agent_id)
            updated = merge_agent(current, changes, paths)
            self._check_fields(updated)
            if "model" in paths:
                self._catalog.validate_model(updated.model)
            if "tools" in paths:
                self._catalog.validate_tools(updated.tools)
            return replace(
                updated,
                update_time_us=max(now_us(), current.create_time_us),
                etag=new_etag(),
            )

        updated = await self._store.update_agent(changes.tenant, changes.agent_id, apply)
        if updated is None:
            raise agent_not_found(changes.agent_id)
        return updated

    async def delete(self, tenant: str, agent_id: str, *, force: bool, etag: str) -> None:
        await self._store.delete_agent(tenant, agent_id, force=force, expected_etag=etag or None)
