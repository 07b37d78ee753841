"""10,000 sessions: every order pages each session exactly once, and memory stays flat."""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

import grpc
import pytest
from agentsessions.v1 import agent_pb2, agent_pb2_grpc, session_pb2, session_service_pb2_grpc
from agentsessions.v1 import session_service_pb2 as ss
from server_process import ServerProcess

AGENTS = 5
SESSIONS = 10_000
WARM = 4_000
ORDERS = [
    ("", "last_activity_time", True),
    ("last_activity_time", "last_activity_time", False),
    ("create_time", "create_time", False),
    ("create_time desc", "create_time", True),
    ("update_time", "update_time", False),
    ("update_time desc", "update_time", True),
]


async def create_sessions(stub, parents: list[str], start: int, stop: int) -> list[str]:
    async def one(i: int) -> str:
        session = session_pb2.Session(display_name=f"session {i}", labels={"n": str(i % 7)})
        request = ss.CreateSessionRequest(parent=parents[i % len(parents)], session=session)
        return (await stub.CreateSession(request)).name

    names: list[str] = []
    for chunk in range(start, stop, 200):
        names += await asyncio.gather(*(one(i) for i in range(chunk, min(chunk + 200, stop))))
    return names


async def page_through(stub, parent: str, order_by: str, field: str, descending: bool) -> list[str]:
    names: list[str] = []
    previous: tuple[int, ...] | None = None
    token = ""
    while True:
        request = ss.ListSessionsRequest(
            parent=parent, order_by=order_by, page_size=1000, page_token=token
        )
        page = await stub.ListSessions(request)
        for session in page.sessions:
            value = (getattr(session, field).ToMicroseconds(),)
            if previous is not None:
                assert (value <= previous) if descending else (value >= previous), order_by
            previous = value
            names.append(session.name)
        token = page.next_page_token
        if not token:
            return names


async def page_all_orders(stub, parents: list[str]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for order_by, field, descending in ORDERS:
        seen[f"agents/- {order_by}"] = await page_through(
            stub, "agents/-", order_by, field, descending
        )
        for parent in parents:
            seen[f"{parent} {order_by}"] = await page_through(
                stub, parent, order_by, field, descending
            )
    return seen


async def median_rss_while_paging(
    server: ServerProcess, stub, parents: list[str]
) -> tuple[int, dict[str, list[str]]]:
    """Pages through every order three times; the allocator's noise is about 2 MiB."""
    samples = []
    for _ in range(3):
        seen = await page_all_orders(stub, parents)
        samples.append(server.rss_bytes())
    return statistics.median(samples), seen


@pytest.mark.slow
async def test_ten_thousand_sessions_page_exactly_once(tmp_path: Path) -> None:
    with ServerProcess(
        tmp_path / "scale.db", "--config", str(_no_default_agent(tmp_path))
    ) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            agents = agent_pb2_grpc.AgentServiceStub(channel)
            stub = session_service_pb2_grpc.SessionServiceStub(channel)
            parents = []
            for i in range(AGENTS):
                request = agent_pb2.CreateAgentRequest(
                    agent=agent_pb2.Agent(display_name=f"agent {i}"), agent_id=f"agent-{i}"
                )
                parents.append((await agents.CreateAgent(request)).name)

            # By 4,000 sessions SQLite's page caches (256 KiB a connection) are
            # full, so what grows from here on would be memory held per session.
            created = await create_sessions(stub, parents, 0, WARM)
            rss_small, _ = await median_rss_while_paging(server, stub, parents)

            created += await create_sessions(stub, parents, WARM, SESSIONS)
            rss_large, seen = await median_rss_while_paging(server, stub, parents)

            everything = sorted(created)
            assert len(set(everything)) == SESSIONS
            for label, names in seen.items():
                parent = label.split(" ")[0]
                expected = [
                    n for n in everything if parent == "agents/-" or n.startswith(parent + "/")
                ]
                assert sorted(names) == expected, f"{label}: a session missing or repeated"
            # 6,000 more sessions paged through 93 times must not mean more memory:
            # holding them would take about 6 MiB (a record with its labels is ~1 KiB).
            growth = rss_large - rss_small
            print(f"server RSS {rss_small / 2**20:.1f} MiB -> {rss_large / 2**20:.1f} MiB")
            assert growth < 4 * 2**20, f"server memory grew by {growth / 2**20:.1f} MiB"


def _no_default_agent(tmp_path: Path) -> Path:
    config = tmp_path / "scale.toml"
    # A small page cache, so that what the caches hold cannot hide memory held per session.
    config.write_text("create_default_agent = false\nsqlite_cache_kib = 256\n")
    return config
