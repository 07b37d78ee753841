"""An AgentService behind a bearer-token check, as an authenticating gateway puts it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
from agentsessions.v1 import agent_pb2, agent_pb2_grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


class GuardedAgents(agent_pb2_grpc.AgentServiceServicer):
    """An AgentService that checks the bearer token, as an authenticating gateway does."""

    async def GetAgent(self, request, context):
        token = dict(context.invocation_metadata()).get("authorization", "")
        if token == "Bearer good":
            return agent_pb2.Agent(name=request.name, display_name="Guarded")
        code, reason = (
            (grpc.StatusCode.PERMISSION_DENIED, "READ_ONLY_TOKEN")
            if token == "Bearer reader"
            else (grpc.StatusCode.UNAUTHENTICATED, "MISSING_TOKEN")
        )
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="agentsessions"))
        status = status_pb2.Status(code=code.value[0], message="no", details=[detail])
        await context.abort_with_status(rpc_status.to_status(status))


@contextlib.asynccontextmanager
async def guarded_server() -> AsyncIterator[str]:
    """Serves GuardedAgents on a free port and yields its address."""
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(GuardedAgents(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(0)
