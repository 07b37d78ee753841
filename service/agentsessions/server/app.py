"""Wiring and lifecycle: store, domain, servicers, health, reflection, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc
from agentsessions.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    session_service_pb2,
    session_service_pb2_grpc,
)
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .config import Config
from .domain.agents import AgentCatalog, Agents
from .domain.errors import AlreadyExists
from .domain.models import DEFAULT_TENANT, AgentRecord
from .domain.sessions import Sessions
from .interceptors import server_interceptors
from .runtime import AgentRunner, ModelRegistry, ToolRegistry
from .servicers.agents import AgentServicer
from .servicers.run_events import encode_run_event
from .servicers.sessions import SessionServicer
from .store import Store
from .store.sqlite import SQLiteStore

log = logging.getLogger("agentsessions.server")

SERVICE_NAMES = (
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    session_service_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name,
)
DEFAULT_AGENT_ID = "default"


class AgentSessionsServer:
    """One running server: `await start()`, then `await stop(grace)`.

    Tests create it with port 0 and read `port` once started. `reuse_port` is for the
    processes of `serve --workers N`, which bind one port together (SO_REUSEPORT); a lone
    server leaves it off, so it fails to start on a port another process holds.
    """

    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        catalog: AgentCatalog | None = None,
        models: ModelRegistry | None = None,
        tools: ToolRegistry | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.config = config
        self.reuse_port = reuse_port
        self.store: Store = store or SQLiteStore(config.db, cache_kib=config.sqlite_cache_kib)
        self.runner = AgentRunner(
            self.store,
            models
            or ModelRegistry.from_providers(
                config.providers, echo_word_delay=config.echo_word_delay_seconds
            ),
            tools or ToolRegistry.with_entry_points(),
            encode=encode_run_event,
            lease_seconds=config.lease_seconds,
            retention_seconds=config.event_retention_seconds,
            approval_timeout_seconds=config.approval_timeout_seconds,
            max_queued_runs=config.max_queued_runs,
        )
        self.catalog: AgentCatalog = catalog or self.runner
        self.agents = Agents(self.store, self.catalog)
        self.sessions = Sessions(self.store)
        self.health = health.aio.HealthServicer()
        self.port = 0
        self._server: grpc.aio.Server | None = None

    def _build(self) -> grpc.aio.Server:
        limit = self.config.max_message_bytes
        server = grpc.aio.server(
            interceptors=server_interceptors(),
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                ("grpc.so_reuseport", int(self.reuse_port)),
            ],
        )
        agent_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(self.agents), server)
        session_service_pb2_grpc.add_SessionServiceServicer_to_server(
            SessionServicer(self.sessions, self.runner), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        return server

    async def _ensure_default_agent(self) -> None:
        agent = AgentRecord(
            tenant=DEFAULT_TENANT,
            agent_id=DEFAULT_AGENT_ID,
            display_name="Default agent",
            instructions="You are a helpful assistant.",
            model="echo",
        )
        with contextlib.suppress(AlreadyExists):
            await self.agents.create(agent, DEFAULT_AGENT_ID, "")

    async def start(self) -> None:
        await self.store.open()
        try:
            if self.config.create_default_agent:
                await self._ensure_default_agent()
            await self.runner.open()
            self._server = self._build()
            self.port = self._server.add_insecure_port(f"{self.config.host}:{self.config.port}")
            await self._server.start()
        except BaseException:
            await self.store.close()
            raise
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"address": f"{self.config.host}:{self.port}"})

    async def stop(self, grace: float | None = None) -> None:
        """Health says NOT_SERVING first, so balancers drain; then calls get `grace` seconds."""
        grace = self.config.grace_seconds if grace is None else grace
        try:
            await self.health.enter_graceful_shutdown()
            # Runs get most of the grace; the rest lets their callers hear RunCancelled.
            await asyncio.gather(
                self.runner.aclose(grace - min(1.0, grace / 2)),
                self._server.stop(grace) if self._server is not None else asyncio.sleep(0),
            )
        finally:
            await self.store.close()

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
