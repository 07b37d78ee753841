"""`serve --workers N`: N processes on one port (SO_REUSEPORT), supervised by the first."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from agentsessions.v1 import agent_pb2, agent_pb2_grpc
from server_process import ServerProcess

GET_DEFAULT = agent_pb2.GetAgentRequest(name="agents/default")


def connections(pid: int, port: int) -> int:
    """Established TCP connections to `port` whose sockets process `pid` holds (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            established = state == "01"
            if established and int(local.rsplit(":", 1)[1], 16) == port and inode in inodes:
                count += 1
    return count


async def call_on_new_channel(address: str, channels: list[grpc.aio.Channel]) -> None:
    """GetAgent on a channel of its own: a connection of its own, which one worker accepts."""
    channel = grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
    channels.append(channel)
    agent = await agent_pb2_grpc.AgentServiceStub(channel).GetAgent(GET_DEFAULT, timeout=10)
    assert agent.name == "agents/default"


async def assert_every_worker_answers(server: ServerProcess, workers: list[int]) -> None:
    """Opens channels until each worker holds one that was answered (2**-40 to miss by luck)."""
    channels: list[grpc.aio.Channel] = []
    try:
        for _ in range(40):
            await call_on_new_channel(server.address, channels)
            held = {pid: connections(pid, server.port) for pid in workers}
            if all(held.values()):
                return
        raise AssertionError(f"connections per worker after {len(channels)} channels: {held}")
    finally:
        for channel in channels:
            await channel.close()


def running(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


async def test_two_workers_share_one_port_and_both_answer(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "workers.db", "--workers", "2") as server:
        workers = server.children()
        assert len(workers) == 2
        await assert_every_worker_answers(server, workers)
        assert await asyncio.to_thread(server.stop) == 0


async def test_sigterm_stops_every_worker_then_the_supervisor(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "workers.db", "--workers", "2") as server:
        workers = server.children()
        assert len(workers) == 2
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        # Within the default grace period of 10 s, with a margin for a loaded machine.
        assert await asyncio.to_thread(server.process.wait, 15) == 0
        assert running(workers) == []


async def test_a_killed_worker_is_replaced_and_the_service_keeps_answering(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "workers.db", "--workers", "2") as server:
        killed, survivor = server.children()
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        # Connections the kernel had handed to the dying worker's socket fail with it, as with
        # a lone server (Linux resets them unless net.ipv4.tcp_migrate_req is set). Once the
        # worker is reaped and its socket gone, new connections go to the survivor.
        while running([killed]):
            assert time.monotonic() < deadline, "the killed worker was not reaped"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        channels: list[grpc.aio.Channel] = []
        try:
            # Until the replacement is up, every call on a new connection succeeds.
            while len(workers := server.children()) < 2 or killed in workers:
                assert time.monotonic() < deadline, f"no replacement: {workers}"
                await call_on_new_channel(server.address, channels)
                await asyncio.sleep(0.1)
        finally:
            for channel in channels:
                await channel.close()
        assert survivor in workers
        # The replacement is a child before it listens: retry until it takes connections.
        while True:
            try:
                await assert_every_worker_answers(server, workers)
                break
            except AssertionError:
                assert time.monotonic() < deadline, "the replacement took no connection"
        assert await asyncio.to_thread(server.stop) == 0


async def test_workers_that_keep_dying_stop_the_supervisor(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "workers.db", "--workers", "2") as server:
        assert server.process is not None
        deadline = time.monotonic() + 60
        while server.process.poll() is None:
            assert time.monotonic() < deadline, "the supervisor kept restarting"
            for pid in server.children():
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.05)
        assert server.process.returncode == 1


async def test_a_taken_port_is_refused_with_and_without_workers(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "single.db") as single:
        with pytest.raises(RuntimeError, match="did not start"):
            ServerProcess(tmp_path / "other.db", "--workers", "2", port=single.port).start()
        assert await asyncio.to_thread(single.stop) == 0
    with ServerProcess(tmp_path / "workers.db", "--workers", "2") as group:
        with pytest.raises(RuntimeError, match="did not start"):
            ServerProcess(tmp_path / "other.db", port=group.port).start()
        assert await asyncio.to_thread(group.stop) == 0


@pytest.mark.parametrize("value", ["0", "65", "-1"])
def test_a_workers_value_out_of_range_is_one_line_and_exit_2(tmp_path: Path, value: str) -> None:
    command = [sys.executable, "-m", "agentsessions.server.cli", "serve", "--port", "0"]
    command += ["--db", str(tmp_path / "never.db"), "--workers", value]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"agentsessions serve: workers must be 1 to 64, not {value}"
    ]
    assert not (tmp_path / "never.db").exists()
