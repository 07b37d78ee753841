"""Fuzzing every RPC of the contract through a real server: no request, however malformed,
huge or deep, gets INTERNAL or UNKNOWN, and the server answers normally afterwards.

The methods come from the generated descriptors, so a new RPC is fuzzed without a change
here. Each method gets its own server, seeded with an agent, sessions with items, a run and
page tokens, so that fuzzed requests naming them reach past validation into the store.

`make test` runs a short, derandomized pass (AGENTSESSIONS_FUZZ_EXAMPLES requests in all,
default 1,000, spread over the methods, plus as many raw byte strings). A longer run:

    AGENTSESSIONS_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/e2e/test_fuzz.py -q

draws new random examples each time and prints its figures at the end.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from agentsessions.v1 import agent_pb2, events_pb2, session_pb2, session_service_pb2
from agentsessions.v1 import session_service_pb2 as ss
from fuzz_requests import Known, RequestStrategies
from google.protobuf import descriptor as pd
from google.protobuf import message_factory
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from status_details import DETAILS_KEY, details_of

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("AGENTSESSIONS_TEST_ADDRESS")),
    reason="starts a server per method and seeds it",
)

DEFAULT_EXAMPLES = 1000
TOTAL = int(os.environ.get("AGENTSESSIONS_FUZZ_EXAMPLES", "") or DEFAULT_EXAMPLES)
LONG_RUN = TOTAL > DEFAULT_EXAMPLES
# A call that takes this long means the server froze: fail rather than wait forever.
CALL_TIMEOUT = 120.0
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
FORBIDDEN_NUMBERS = {code.value[0] for code in FORBIDDEN}
OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]

METHODS: list[pd.MethodDescriptor] = [
    method
    for file in (agent_pb2.DESCRIPTOR, session_service_pb2.DESCRIPTOR)
    for service in file.services_by_name.values()
    for method in service.methods
]
PER_METHOD = max(10, math.ceil(TOTAL / len(METHODS) / 2))  # half typed, half raw bytes

FUZZ_SETTINGS = settings(
    max_examples=PER_METHOD,
    database=None,  # nothing written into the work tree
    deadline=None,  # no timing assertion; CALL_TIMEOUT catches a frozen server
    derandomize=not LONG_RUN,  # `make test` is repeatable; the long run explores
    # One server per method serves all its examples, on purpose.
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


@dataclass
class Tally:
    """What the run sent and what came back, for the summary line."""

    requests: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)


TALLY = Tally()


def path_of(method: pd.MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def class_of(descriptor: pd.Descriptor) -> type[Message]:
    cls: type[Message] = message_factory.GetMessageClass(descriptor)
    return cls


async def invoke(
    channel: grpc.aio.Channel, method: pd.MethodDescriptor, request: bytes
) -> list[bytes]:
    """Sends raw request bytes to `method` and returns the raw replies (one, or a stream)."""
    path = path_of(method)
    if method.server_streaming:
        call = channel.unary_stream(path)(request, timeout=CALL_TIMEOUT)
        return [reply async for reply in call]
    return [await channel.unary_unary(path)(request, timeout=CALL_TIMEOUT)]


def check_reply(method: pd.MethodDescriptor, replies: list[bytes]) -> str:
    """Stream replies are events; a run that failed must not have failed INTERNAL."""
    if not method.server_streaming:
        return "OK"
    outcome = "OK"
    cls = class_of(method.output_type)
    for raw in replies:
        event = cls.FromString(raw)
        if event.WhichOneof("event") == "run_failed":
            error = event.run_failed.error
            assert error.code not in FORBIDDEN_NUMBERS, f"{method.name}: run failed {error}"
            outcome = "OK (run failed)"
    return outcome


async def send(channel: grpc.aio.Channel, method: pd.MethodDescriptor, raw: bytes) -> None:
    TALLY.requests += 1
    try:
        replies = await invoke(channel, method, raw)
    except grpc.aio.AioRpcError as error:
        code = error.code()
        TALLY.codes[code.name] += 1
        assert code not in FORBIDDEN, f"{method.name}: {code.name} {error.details()!r:.300}"
        assert code != grpc.StatusCode.DEADLINE_EXCEEDED, f"{method.name} froze the server"
        # Every status the service raises carries an ErrorInfo; gRPC's own message size
        # limit answers RESOURCE_EXHAUSTED without one.
        if _has_details(error):
            details_of(error)
        else:
            assert code is grpc.StatusCode.RESOURCE_EXHAUSTED, f"{method.name}: {code.name} bare"
        return
    TALLY.codes[check_reply(method, replies)] += 1


def _has_details(error: grpc.aio.AioRpcError) -> bool:
    return any(key == DETAILS_KEY for key, _ in error.trailing_metadata() or ())


# Seed data -------------------------------------------------------------------------------

AGENT, SESSION, RUN, ITEM = (
    f"agentsessions/{kind}" for kind in ("Agent", "Session", "Run", "Item")
)
SESSION_PARENT = "agentsessions/SessionParent"  # fuzz_requests.PARENTS


async def seed(channel: grpc.aio.Channel) -> Known:
    """Resources for fuzzed requests to name: an agent, sessions with items, a run, tokens."""
    from agentsessions.v1 import agent_pb2_grpc, session_service_pb2_grpc

    agents = agent_pb2_grpc.AgentServiceStub(channel)
    sessions = session_service_pb2_grpc.SessionServiceStub(channel)
    known = Known(ids=["default"])
    known.add(AGENT, "agents/default")
    known.add(SESSION_PARENT, "agents/default")
    known.add(SESSION_PARENT, "agents/-")
    agent = await agents.CreateAgent(
        agent_pb2.CreateAgentRequest(
            agent_id="fuzz",
            agent=agent_pb2.Agent(display_name="Fuzz", model="echo", tools=["calculate"]),
        )
    )
    known.add(AGENT, agent.name)
    known.add(SESSION_PARENT, agent.name)
    known.ids.append("fuzz")
    known.etags.append(agent.etag)
    for parent, session_id in (
        ("agents/default", "s1"),
        ("agents/default", "s2"),
        (agent.name, "s3"),
    ):
        session = await sessions.CreateSession(
            ss.CreateSessionRequest(
                parent=parent,
                session_id=session_id,
                session=session_pb2.Session(display_name=session_id, labels={"team": "fuzz"}),
            )
        )
        known.add(SESSION, session.name)
        known.names.append(f"agents/-/sessions/{session_id}")
        known.ids.append(session_id)
        known.etags.append(session.etag)
    history = [
        {"role": "user", "content": "what is 2+2"},
        {"type": "function_call", "call_id": "c1", "name": "calculate", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "4"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "4"}]},
    ]
    s1 = "agents/default/sessions/s1"
    added = await sessions.AddItems(
        ss.AddItemsRequest(
            parent=s1, items=[session_pb2.Item(item_json=json.dumps(item)) for item in history]
        )
    )
    for item in added.items:
        known.add(ITEM, item.name)
    async for event in sessions.SendMessage(
        events_pb2.SendMessageRequest(session="agents/default/sessions/s2", text="hello there")
    ):
        if event.WhichOneof("event") == "run_started":
            known.add(RUN, event.run_started.run)
            known.ids.append(event.run_started.run.rsplit("/", 1)[1])
    lists = [
        agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=1)),
        sessions.ListSessions(ss.ListSessionsRequest(parent="agents/-", page_size=1)),
        sessions.ListSessions(
            ss.ListSessionsRequest(parent="agents/default", page_size=1, filter="state = ACTIVE")
        ),
        sessions.ListItems(ss.ListItemsRequest(parent=s1, page_size=1)),
        sessions.ListRuns(ss.ListRunsRequest(parent="agents/default/sessions/s2", page_size=1)),
    ]
    for listed in lists:
        token = (await listed).next_page_token
        if token:
            known.tokens.append(token)
    return known


@dataclass
class Target:
    channel: grpc.aio.Channel
    known: Known


@pytest.fixture
async def target(server_factory: Any) -> AsyncIterator[Target]:
    server = await server_factory()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=OPTIONS) as channel:
        yield Target(channel, await seed(channel))
        await assert_serving(channel)


async def assert_serving(channel: grpc.aio.Channel) -> None:
    """After the fuzzing: health SERVING, and a read and a write answer as usual."""
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    from agentsessions.v1 import agent_pb2_grpc

    agents = agent_pb2_grpc.AgentServiceStub(channel)
    created = await agents.CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="after"))
    )
    fetched = await agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))
    assert fetched.display_name == "after"


# The fuzzing ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS, ids=lambda method: method.name)
@FUZZ_SETTINGS
@given(data=st.data())
async def test_fuzzed_requests_never_internal(
    target: Target, method: pd.MethodDescriptor, data: st.DataObject
) -> None:
    strategies = RequestStrategies(target.known)
    request = data.draw(strategies.message(method.input_type), label="request")
    await send(target.channel, method, request.SerializeToString())


def _raw_requests(method: pd.MethodDescriptor) -> st.SearchStrategy[bytes]:
    """Bytes that are not the request message, or only nearly: random, truncated, flipped."""
    valid = (
        RequestStrategies(Known())
        .message(method.input_type)
        .map(lambda message: message.SerializeToString())
    )

    def damage(raw: bytes, at: int, byte: int, how: int) -> bytes:
        if not raw:
            return bytes([byte])
        at %= len(raw)
        return [raw[:at], raw[:at] + bytes([byte]) + raw[at + 1 :], raw + bytes([byte]) * 3][how]

    undecodable_string = st.builds(
        lambda tag, body: bytes([tag, len(body)]) + body,
        st.sampled_from([0x0A, 0x12, 0x1A, 0x22]),  # fields 1-4 as length-delimited
        st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"a\x80"]),
    )
    return st.one_of(
        st.binary(max_size=256),
        undecodable_string,
        st.builds(damage, valid, st.integers(0, 10**6), st.integers(0, 255), st.integers(0, 2)),
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS, ids=lambda method: method.name)
@FUZZ_SETTINGS
@given(data=st.data())
async def test_raw_bytes_never_internal(
    target: Target, method: pd.MethodDescriptor, data: st.DataObject
) -> None:
    raw = data.draw(_raw_requests(method), label="raw")
    await send(target.channel, method, raw)


def test_every_rpc_is_fuzzed() -> None:
    """The methods come from the descriptors: both services, every RPC."""
    paths = {path_of(method) for method in METHODS}
    assert "/agentsessions.v1.SessionService/AddItems" in paths
    assert "/agentsessions.v1.AgentService/CreateAgent" in paths
    assert len(paths) == sum(
        len(service.methods)
        for file in (agent_pb2.DESCRIPTOR, session_service_pb2.DESCRIPTOR)
        for service in file.services_by_name.values()
    )


@pytest.fixture(scope="module", autouse=True)
def summary(request: pytest.FixtureRequest) -> Any:
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.getplugin("terminalreporter"), plugins.getplugin("capturemanager")
    if reporter is None or capture is None or not TALLY.requests:
        return
    seconds = time.monotonic() - TALLY.started
    codes = ", ".join(f"{name} {count}" for name, count in TALLY.codes.most_common())
    with capture.global_and_fixture_disabled():
        reporter.write_line(
            f"\nfuzz: {TALLY.requests} requests over {len(METHODS)} methods in {seconds:.0f} s: "
            f"{codes}"
        )
