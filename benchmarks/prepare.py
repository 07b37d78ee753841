"""Creating what a scenario needs on a running server, with blocking stubs."""

from __future__ import annotations

import grpc
from agentsessions.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    session_pb2,
    session_service_pb2,
    session_service_pb2_grpc,
)

AGENT = "agents/default"  # the server creates it at start-up, with the `echo` model


def create_sessions(address: str, count: int, prefix: str = "bench") -> list[session_pb2.Session]:
    """`count` sessions of `agents/default` with ids `{prefix}-{i}`."""
    with grpc.insecure_channel(address) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        return [
            stub.CreateSession(
                session_service_pb2.CreateSessionRequest(
                    parent=AGENT,
                    session_id=f"{prefix}-{i}",
                    session=session_pb2.Session(
                        display_name=f"Benchmark session {i}",
                        labels={"team": "benchmarks", "tier": "gold"},
                    ),
                )
            )
            for i in range(count)
        ]


def create_agent(address: str, agent_id: str, model: str) -> str:
    """An agent with `model`; returns its name."""
    with grpc.insecure_channel(address) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        agent = stub.CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent_id=agent_id,
                agent=agent_pb2.Agent(
                    display_name=agent_id, instructions="Repeat the user.", model=model
                ),
            )
        )
        return agent.name
