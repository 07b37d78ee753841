"""The server as tools see it: health, reflection, message size limits, unknown methods."""

from __future__ import annotations

import grpc
import pytest
from agentsessions.v1 import session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from status_details import details_of


async def test_health_serving_for_each_service(channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "agentsessions.v1.AgentService", "agentsessions.v1.SessionService"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_both_services(channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for reply in stub.ServerReflectionInfo(iter([request])):
        names = {s.name for s in reply.list_services_response.service}
        break
    assert {"agentsessions.v1.AgentService", "agentsessions.v1.SessionService"} <= names


async def test_oversized_request_is_resource_exhausted(server_factory) -> None:
    server = await server_factory(max_message_bytes=64 * 1024)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = ss_stub(channel)
        big = session_pb2.Item(item_json='{"role":"user","content":"' + "x" * 100_000 + '"}')
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AddItems(ss.AddItemsRequest(parent="agents/default/sessions/s", items=[big]))
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def ss_stub(channel):
    from agentsessions.v1 import session_service_pb2_grpc

    return session_service_pb2_grpc.SessionServiceStub(channel)


async def test_unexpected_failure_is_a_bare_internal(server_factory, monkeypatch) -> None:
    server = await server_factory()

    async def broken(*args, **kwargs):
        raise RuntimeError("secret detail that must not leak")

    monkeypatch.setattr(server.store, "get_session", broken)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await ss_stub(channel).GetSession(
                ss.GetSessionRequest(name="agents/default/sessions/s")
            )
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.INTERNAL
    assert "secret" not in details.message
    assert details.reason == "INTERNAL"
