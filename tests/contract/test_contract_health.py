"""The standard health service, as load balancers and grpc_health_probe ask it."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
# "" is the whole server; the others are the contract's services by full name.
SERVICE_NAMES = ["", "agentsessions.v1.AgentService", "agentsessions.v1.SessionService"]


@pytest.fixture
def health(channel: grpc.aio.Channel) -> health_pb2_grpc.HealthStub:
    return health_pb2_grpc.HealthStub(channel)


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_check_answers_serving(health: health_pb2_grpc.HealthStub, service: str) -> None:
    reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    assert reply.status == SERVING


async def test_check_of_an_unknown_service_is_not_found(
    health: health_pb2_grpc.HealthStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await health.Check(health_pb2.HealthCheckRequest(service="agentsessions.v1.Nope"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_watch_reports_serving_first(
    health: health_pb2_grpc.HealthStub, service: str
) -> None:
    call = health.Watch(health_pb2.HealthCheckRequest(service=service))
    try:
        first = await asyncio.wait_for(call.read(), timeout=5)
        assert isinstance(first, health_pb2.HealthCheckResponse)
        assert first.status == SERVING
    finally:
        call.cancel()
