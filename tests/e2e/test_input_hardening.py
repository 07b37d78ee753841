"""Hostile input through the stubs: forged page tokens, long values, bad item JSON,
undecodable bytes and timestamps out of range all come back INVALID_ARGUMENT with a short,
readable error (never INTERNAL or UNKNOWN), and the server answers normally afterwards."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from agentsessions.server.interceptors import decoding
from agentsessions.v1 import agent_pb2, session_pb2
from agentsessions.v1 import events_pb2 as ev
from agentsessions.v1 import session_service_pb2 as ss
from google.protobuf import field_mask_pb2, timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from status_details import Details, details_of

LONG = "x" * 8192
MESSAGE_MAX = 300
METADATA_VALUE_MAX = 100
SESSION_SERVICE = "/agentsessions.v1.SessionService"
ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("AGENTSESSIONS_TEST_ADDRESS")),
    reason="inspects the in-process server's logs and limits",
)


async def failure(call: Awaitable[Any]) -> Details:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return details_of(caught.value)


def assert_short(details: Details) -> None:
    assert len(details.message) < MESSAGE_MAX, details.message
    for key, value in details.error_info.metadata.items():
        assert len(value) < METADATA_VALUE_MAX, (key, value)
    for violation in details.bad_request.field_violations if details.bad_request else ():
        assert len(violation.field) < MESSAGE_MAX and len(violation.description) < MESSAGE_MAX


async def assert_serving(channel: grpc.aio.Channel, agents: Any) -> None:
    agent = await agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/default"))
    assert agent.name == "agents/default"
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def new_session(sessions: Any, name: str = "") -> str:
    created = await sessions.CreateSession(
        ss.CreateSessionRequest(
            parent="agents/default",
            session_id=name,
            session=session_pb2.Session(display_name="hardening"),
        )
    )
    return str(created.name)


def item(**fields: Any) -> session_pb2.Item:
    return session_pb2.Item(item_json=json.dumps(fields))


# --- page tokens ---------------------------------------------------------------------------


def token_body(token: str) -> dict[str, Any]:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    body: dict[str, Any] = json.loads(raw)
    return body


def token_of(body: Any) -> str:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def forged_cursors(real: dict[str, Any]) -> list[Any]:
    """Cursors of every wrong shape, in a token that is otherwise the real one."""
    return [
        [],
        ["x", "y"],
        [None],
        [10**30, "a"],
        [2**63, "a"],
        [-1, "a"],
        [True, "a"],
        [1.5, "a"],
        ["1", "a"],
        [1, "Not An Id!"],
        [1, 2, 3],
        [1],
        [1, "a"],
        [1, 2],
        ["a"],
        [[1], "a"],
        [{"a": 1}],
        None,
        "cursor",
        {"c": 1},
    ]


def well_formed(forged: Any, cursor: list[Any]) -> bool:
    """Whether `forged` has the shape of the list's own cursor `cursor`: such a cursor is
    accepted, as a position in the caller's own list."""
    if not isinstance(forged, list) or len(forged) != len(cursor):
        return False
    for part, real in zip(forged, cursor, strict=True):
        if type(real) is int and not (type(part) is int and 0 <= part < 2**63):
            return False
        if isinstance(real, str) and not (isinstance(part, str) and ID.fullmatch(part)):
            return False
    return True


def forged_tokens(real_token: str) -> list[str]:
    body = token_body(real_token)
    cursor = body["c"]
    tokens = [
        token_of({**body, "c": forged})
        for forged in forged_cursors(body)
        if not well_formed(forged, cursor)
    ]
    tokens += [
        token_of({"p": body["p"], "c": cursor}),  # no kind
        token_of({**body, "x": 1}),  # a key too many
        token_of({**body, "p": None}),
        token_of({**body, "p": ["x"]}),
        token_of({**body, "k": None}),
        token_of([body["k"], body["p"], cursor]),
        token_of(None),
        token_of("token"),
        base64.urlsafe_b64encode(b'{"k":"","p":"","c":' + b"[" * 5000 + b"]" * 5000 + b"}")
        .decode()
        .rstrip("="),
        base64.urlsafe_b64encode(os.urandom(48)).decode(),
        base64.urlsafe_b64encode(b"[" * 300).decode(),
        "not base64 !",
        "é" * 10,
        "A" * 10_000,
        real_token[:-2],
        real_token + "x",
    ]
    return tokens


async def real_tokens(channel: grpc.aio.Channel, agents: Any, sessions: Any) -> dict[str, Any]:
    """A second-page token of each of the four lists, with the call that takes it."""
    await agents.CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="two"), agent_id="two")
    )
    first = await new_session(sessions, "tokens-a")
    await new_session(sessions, "tokens-b")
    await sessions.AddItems(
        ss.AddItemsRequest(parent=first, items=[item(role="user", content=c) for c in "ab"])
    )
    for text in ("one", "two"):
        async for _ in sessions.SendMessage(ev.SendMessageRequest(session=first, text=text)):
            pass

    async def list_agents(token: str) -> Any:
        return await agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=1, page_token=token))

    async def list_sessions(token: str) -> Any:
        return await sessions.ListSessions(
            ss.ListSessionsRequest(parent="agents/default", page_size=1, page_token=token)
        )

    async def list_items(token: str) -> Any:
        return await sessions.ListItems(
            ss.ListItemsRequest(parent=first, page_size=1, page_token=token)
        )

    async def list_runs(token: str) -> Any:
        return await sessions.ListRuns(
            ss.ListRunsRequest(parent=first, page_size=1, page_token=token)
        )

    lists: dict[str, Callable[[str], Awaitable[Any]]] = {
        "ListAgents": list_agents,
        "ListSessions": list_sessions,
        "ListItems": list_items,
        "ListRuns": list_runs,
    }
    tokens = {}
    for name, call in lists.items():
        page = await call("")
        assert page.next_page_token, name
        tokens[name] = (call, page.next_page_token)
        await call(page.next_page_token)  # the real token works
    return tokens


async def test_forged_page_tokens_are_invalid_page_token(channel, agents, sessions) -> None:
    lists = await real_tokens(channel, agents, sessions)
    for name, (call, real) in lists.items():
        for token in forged_tokens(real):
            details = await failure(call(token))
            assert (details.code, details.reason, details.violated_fields) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_PAGE_TOKEN",
                ["page_token"],
            ), (name, token[:80], details.message)
            assert_short(details)
        # A token another list issued.
        for other, (_, other_token) in lists.items():
            if other != name:
                details = await failure(call(other_token))
                assert details.reason == "INVALID_PAGE_TOKEN", (name, other)
    await assert_serving(channel, agents)


async def test_forged_cursor_of_the_right_shape_stays_in_the_callers_list(
    channel, agents, sessions
) -> None:
    """Without a key a cursor can be forged in the list's own shape: it names a position
    in the caller's own list, and the list's conditions still apply after it."""
    lists = await real_tokens(channel, agents, sessions)
    call, real = lists["ListItems"]
    body = token_body(real)
    page = await call(token_of({**body, "c": [2**63 - 1]}))
    assert list(page.items) == [] and not page.next_page_token
    page = await call(token_of({**body, "c": [0]}))
    assert page.items[0].sequence == 1


# --- long values ---------------------------------------------------------------------------


async def test_long_names_ids_and_request_ids_are_quoted_short(channel, agents, sessions) -> None:
    session = await new_session(sessions)
    calls = [
        agents.CreateAgent(
            agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="a"), agent_id=LONG)
        ),
        agents.CreateAgent(
            agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="a"), request_id=LONG)
        ),
        agents.GetAgent(agent_pb2.GetAgentRequest(name=LONG)),
        agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/" + LONG)),
        agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name="agents/a/" + LONG)),
        agents.CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent=agent_pb2.Agent(display_name="a", handoffs=["agents/" + LONG])
            )
        ),
        agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(
                agent=agent_pb2.Agent(name="agents/default"),
                update_mask=field_mask_pb2.FieldMask(paths=[LONG, LONG + "y", "z" + LONG, "q"]),
            )
        ),
        sessions.CreateSession(
            ss.CreateSessionRequest(
                parent="agents/default",
                session=session_pb2.Session(display_name="s"),
                session_id=LONG,
            )
        ),
        sessions.CreateSession(
            ss.CreateSessionRequest(
                parent="agents/default",
                session=session_pb2.Session(display_name="s"),
                request_id=LONG,
            )
        ),
        sessions.CreateSession(
            ss.CreateSessionRequest(
                parent="agents/default",
                session=session_pb2.Session(display_name="l", labels={LONG: "v", "k": LONG}),
            )
        ),
        sessions.GetSession(ss.GetSessionRequest(name="agents/default/sessions/" + LONG)),
        sessions.GetSession(ss.GetSessionRequest(name=LONG + "/sessions/s")),
        sessions.ListItems(ss.ListItemsRequest(parent=session + "/" + LONG)),
        sessions.GetRun(ss.GetRunRequest(name=f"{session}/runs/{LONG}")),
        sessions.BatchDeleteSessions(
            ss.BatchDeleteSessionsRequest(parent="agents/-", names=[LONG] * 300)
        ),
        sessions.BatchDeleteSessions(ss.BatchDeleteSessionsRequest(parent=LONG, names=[session])),
    ]
    for call in calls:
        details = await failure(call)
        assert details.code == grpc.StatusCode.INVALID_ARGUMENT, details.message
        assert_short(details)
        assert "x" * 100 not in details.message
    stream = sessions.SendMessage(
        ev.SendMessageRequest(session=session, text="hi", request_id=LONG)
    )
    details = await failure(stream.read())
    assert details.reason == "INVALID_REQUEST_ID"
    assert_short(details)
    await assert_serving(channel, agents)


# --- item JSON -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item_json", "words"),
    [
        pytest.param('{"a":' + "[" * 100_000 + "]" * 100_000 + "}", "deep", id="arrays-100k-deep"),
        pytest.param('{"a":' * 100_000 + "1" + "}" * 100_000, "deep", id="objects-100k-deep"),
        pytest.param("[" * 100_000, "deep", id="unclosed-100k-deep"),
        pytest.param('{"role":"user","content":"\\ud800"}', "surrogate", id="lone-high"),
        pytest.param('{"role":"user","content":"\\udc00\\ud800"}', "surrogate", id="reversed"),
        pytest.param('{"\\ud83d":"key"}', "surrogate", id="lone-in-key"),
        pytest.param('[{"role":"user","content":"hi"}]', "object", id="top-level-array"),
        pytest.param('"text"', "object", id="top-level-string"),
        pytest.param("null", "object", id="top-level-null"),
        pytest.param('{"role":"user","content":NaN}', "NaN", id="nan"),
        pytest.param('{"n":-Infinity}', "Infinity", id="infinity"),
        pytest.param('{"role":"user"', "JSON", id="truncated"),
        pytest.param("", "JSON", id="empty"),
        pytest.param('{"a":"' + "x" * (1024 * 1024) + '"}', "bytes", id="over-1-mib"),
    ],
)
async def test_bad_item_json_is_invalid_argument_with_its_field(
    channel, agents, sessions, item_json, words
) -> None:
    parent = await new_session(sessions)
    good = item(role="user", content="fine")
    details = await failure(
        sessions.AddItems(
            ss.AddItemsRequest(parent=parent, items=[good, session_pb2.Item(item_json=item_json)])
        )
    )
    assert (details.code, details.reason, details.violated_fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ITEM",
        ["items[1].item_json"],
    )
    assert words in details.message, details.message
    assert_short(details)
    assert not (await sessions.ListItems(ss.ListItemsRequest(parent=parent))).items
    await assert_serving(channel, agents)


async def test_valid_item_json_at_the_limits_is_stored(sessions) -> None:
    parent = await new_session(sessions)
    deep = json.loads("[" * 63 + "]" * 63)
    batch = [
        item(role="user", content="😀 \ud83d\ude00 paired"),
        session_pb2.Item(item_json='{"role":"user","content":"\\ud83d\\ude00 \\\\ud800"}'),
        item(type="data", value=deep, text='[[[{{{ \\" not brackets'),
    ]
    added = await sessions.AddItems(ss.AddItemsRequest(parent=parent, items=batch))
    assert [i.sequence for i in added.items] == [1, 2, 3]
    listed = await sessions.ListItems(ss.ListItemsRequest(parent=parent))
    assert listed.items[1].text == "😀 \\ud800"
    assert json.loads(listed.items[2].item_json)["value"] == deep


# --- undecodable requests ------------------------------------------------------------------


GARBAGE = [
    b"\xff\xff\xff\xff\xff",
    b"\x0a\x05\xff\xfe\xfd\xfc\xfb",  # field 1 (a string) that is not UTF-8
    b"\x0a\xff\xff\xff\xff\x0f",  # a length past the end
    b"\x08" + b"\xff" * 11,  # a varint too long
]


@pytest.fixture
def fresh_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoding, "_undecodable_log", decoding.RateLimitedLog())


async def test_undecodable_bytes_are_invalid_argument_logged_once(
    channel, agents, caplog, fresh_log
) -> None:
    caplog.set_level(logging.INFO)
    methods = [
        f"{SESSION_SERVICE}/GetSession",
        f"{SESSION_SERVICE}/AddItems",
        "/agentsessions.v1.AgentService/CreateAgent",
    ]
    for method in methods:
        call = channel.unary_unary(method)  # no serializers: the bytes go as they are
        for raw in GARBAGE:
            details = await failure(call(raw))
            assert (details.code, details.reason) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "MALFORMED_REQUEST",
            ), details.message
            assert_short(details)
            assert "agentsessions.v1." in details.message
    streaming = channel.unary_stream(f"{SESSION_SERVICE}/SendMessage")
    for raw in GARBAGE:
        details = await failure(streaming(raw).read())
        assert (details.code, details.reason) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "MALFORMED_REQUEST",
        )
    warnings = [r for r in caplog.records if r.name == "agentsessions.requests"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    await assert_serving(channel, agents)


def test_undecodable_log_is_once_per_peer_per_interval() -> None:
    now = [0.0]
    limiter = decoding.RateLimitedLog(interval=60, peers_max=3, lines_max=5, clock=lambda: now[0])
    assert limiter.allow("a") == 0
    assert limiter.allow("a") is None and limiter.allow("a") is None
    assert limiter.allow("b") == 0
    now[0] = 59.0
    assert limiter.allow("a") is None
    now[0] = 61.0
    assert limiter.allow("a") == 3  # three held back since the last line
    # However many peers, at most lines_max lines an interval.
    now[0] = 200.0
    assert [limiter.allow(f"p{i}") for i in range(8)] == [0] * 5 + [None] * 3
    assert decoding.peer_host("ipv4:10.0.0.1:5123") == "ipv4:10.0.0.1"
    assert decoding.peer_host("ipv6:[::1]:5123") == "ipv6:[::1]"
    assert decoding.peer_host("unix:/tmp/s") == "unix:/tmp/s"


# --- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expire",
    [
        timestamp_pb2.Timestamp(seconds=2**62),
        timestamp_pb2.Timestamp(seconds=-(2**62)),
        timestamp_pb2.Timestamp(seconds=2**63 - 1),
        timestamp_pb2.Timestamp(seconds=253_402_300_800),
        timestamp_pb2.Timestamp(seconds=1, nanos=-1),
        timestamp_pb2.Timestamp(seconds=1, nanos=2**31 - 1),
    ],
)
async def test_expire_time_out_of_range_is_invalid_argument(
    channel, agents, sessions, expire
) -> None:
    details = await failure(
        sessions.CreateSession(
            ss.CreateSessionRequest(
                parent="agents/default",
                session=session_pb2.Session(display_name="t", expire_time=expire),
            )
        )
    )
    assert (details.code, details.violated_fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ["session.expire_time"],
    )
    name = await new_session(sessions)
    details = await failure(
        sessions.UpdateSession(
            ss.UpdateSessionRequest(
                session=session_pb2.Session(name=name, expire_time=expire),
                update_mask=field_mask_pb2.FieldMask(paths=["expire_time"]),
            )
        )
    )
    assert (details.code, details.violated_fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ["session.expire_time"],
    )
    await assert_serving(channel, agents)


async def test_expire_time_at_the_edges_of_the_range_is_kept(sessions) -> None:
    for seconds in (253_402_300_799, -62_135_596_800):
        expire = timestamp_pb2.Timestamp(seconds=seconds, nanos=999_999_000)
        created = await sessions.CreateSession(
            ss.CreateSessionRequest(
                parent="agents/default",
                session=session_pb2.Session(display_name="t", expire_time=expire),
            )
        )
        assert created.expire_time == expire


@pytest.mark.parametrize(
    "input_items_json",
    ["[" * 100_000 + "]" * 100_000, '[{"role": "user", "content": "\\ud800"}]', "[1e999999]"],
    ids=["deep", "lone-surrogate", "huge-number"],
)
async def test_bad_send_message_input_is_invalid_argument(
    channel, agents, sessions, input_items_json
) -> None:
    parent = await new_session(sessions)
    request = ev.SendMessageRequest(session=parent, input_items_json=input_items_json)
    details = await failure(_drain(sessions.SendMessage(request)))
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.violated_fields == ["input_items_json"] or details.violated_fields[0].startswith(
        "input_items_json"
    )
    assert_short(details)
    assert not (await sessions.ListRuns(ss.ListRunsRequest(parent=parent))).runs
    await assert_serving(channel, agents)


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass
