"""SIGTERM: health turns NOT_SERVING first, then the server stops cleanly."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from server_process import ServerProcess

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_sigterm_drains_then_exits(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "stop.db") as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service="agentsessions.v1.SessionService")
            )
            first = await watch.read()
            assert first.status == SERVING
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            second = await asyncio.wait_for(watch.read(), timeout=10)
            assert second.status == NOT_SERVING
        exit_code = await asyncio.to_thread(server.process.wait, 30)
        assert exit_code == 0
