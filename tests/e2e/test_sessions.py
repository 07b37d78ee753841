"""SessionService CRUD end to end: create, get, list (filter, order, pages), update, delete."""

from __future__ import annotations

import grpc
import pytest
from agentsessions.v1 import agent_pb2, session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from google.protobuf import field_mask_pb2, timestamp_pb2
from status_details import details_of

Session = session_pb2.Session


async def make_agent(agents, agent_id: str) -> str:
    request = agent_pb2.CreateAgentRequest(
        agent=agent_pb2.Agent(display_name=agent_id), agent_id=agent_id
    )
    return (await agents.CreateAgent(request)).name


async def make_session(sessions, parent: str, name: str = "chat", **fields) -> Session:
    return await sessions.CreateSession(
        ss.CreateSessionRequest(parent=parent, session=Session(display_name=name, **fields))
    )


async def list_all(sessions, **fields) -> list[Session]:
    found: list[Session] = []
    token = ""
    while True:
        page = await sessions.ListSessions(ss.ListSessionsRequest(page_token=token, **fields))
        found += page.sessions
        token = page.next_page_token
        if not token:
            return found


async def test_create_get_with_stats(agents, sessions) -> None:
    parent = await make_agent(agents, "alpha")
    created = await make_session(sessions, parent, "First chat", labels={"team": "search"})
    assert created.name.startswith("agents/alpha/sessions/")
    assert created.state == Session.ACTIVE
    assert created.stats == session_pb2.SessionStats()
    await sessions.AddItems(
        ss.AddItemsRequest(
            parent=created.name,
            items=[
                session_pb2.Item(item_json='{"role": "user", "content": "hello"}'),
                session_pb2.Item(
                    item_json='{"type": "function_call", "name": "f", "call_id": "c", '
                    '"arguments": "{}"}'
                ),
            ],
        )
    )
    fetched = await sessions.GetSession(ss.GetSessionRequest(name=created.name))
    assert fetched.stats.item_count == 2
    assert fetched.stats.message_count == 1
    assert fetched.stats.function_call_count == 1
    assert fetched.labels == {"team": "search"}
    assert (
        fetched.last_activity_time.ToMicroseconds() >= created.last_activity_time.ToMicroseconds()
    )


async def test_create_errors(agents, sessions) -> None:
    parent = await make_agent(agents, "beta")
    cases = [
        (
            ss.CreateSessionRequest(parent="agents/missing", session=Session(display_name="x")),
            grpc.StatusCode.NOT_FOUND,
            "AGENT_NOT_FOUND",
        ),
        (
            ss.CreateSessionRequest(parent=parent, session=Session(display_name="")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            ss.CreateSessionRequest(parent=parent, session=Session(display_name="y" * 101)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            ss.CreateSessionRequest(
                parent=parent, session=Session(display_name="x", labels={"Bad Key": "v"})
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            ss.CreateSessionRequest(
                parent=parent, session=Session(display_name="x"), session_id="UPPER"
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ID",
        ),
        (
            ss.CreateSessionRequest(parent="nonsense", session=Session(display_name="x")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_NAME",
        ),
        (ss.CreateSessionRequest(parent=parent), grpc.StatusCode.INVALID_ARGUMENT, "MISSING_FIELD"),
    ]
    for request, code, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sessions.CreateSession(request)
        details = details_of(caught.value)
        assert (details.code, details.reason) == (code, reason), request
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            assert details.violated_fields
    await sessions.CreateSession(
        ss.CreateSessionRequest(parent=parent, session=Session(display_name="x"), session_id="s1")
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.CreateSession(
            ss.CreateSessionRequest(
                parent=parent, session=Session(display_name="x"), session_id="s1"
            )
        )
    assert details_of(caught.value).code == grpc.StatusCode.ALREADY_EXISTS


async def test_get_missing(sessions) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.GetSession(ss.GetSessionRequest(name="agents/default/sessions/none"))
    details = details_of(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


async def test_list_filters_orders_and_spans_agents(agents, sessions) -> None:
    a = await make_agent(agents, "agent-a")
    b = await make_agent(agents, "agent-b")
    s1 = await make_session(sessions, a, "Alpha one", labels={"env": "prod"})
    s2 = await make_session(sessions, a, "alpha two", labels={"env": "dev"})
    s3 = await make_session(sessions, b, "Beta", labels={"env": "prod"})
    await sessions.UpdateSession(
        ss.UpdateSessionRequest(
            session=Session(name=s2.name, state=Session.PAUSED),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        )
    )
    # Newest activity first by default: s3 was created last, then the update did not touch activity.
    names = [s.name for s in await list_all(sessions, parent="agents/-", page_size=1)]
    assert names == [s3.name, s2.name, s1.name]
    assert [s.name for s in await list_all(sessions, parent=a)] == [s2.name, s1.name]
    assert [
        s.name for s in await list_all(sessions, parent="agents/-", order_by="create_time")
    ] == [
        s1.name,
        s2.name,
        s3.name,
    ]
    by_update = await list_all(sessions, parent="agents/-", order_by="update_time desc")
    assert by_update[0].name == s2.name
    assert [
        s.name for s in await list_all(sessions, parent="agents/-", filter="state = PAUSED")
    ] == [s2.name]
    prod = await list_all(
        sessions, parent="agents/-", filter='labels.env = "prod"', order_by="create_time"
    )
    assert [s.name for s in prod] == [s1.name, s3.name]
    both = await list_all(sessions, parent=a, filter='display_name : "lpha" AND labels.env = prod')
    assert [s.name for s in both] == [s1.name]
    exact = await list_all(sessions, parent="agents/-", filter='display_name = "Beta"')
    assert [s.name for s in exact] == [s3.name]


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"filter": "colour = red"}, "filter", "INVALID_FILTER"),
        ({"filter": "state = SLEEPING"}, "filter", "INVALID_FILTER"),
        ({"order_by": "display_name"}, "order_by", "INVALID_ORDER_BY"),
        ({"page_size": -5}, "page_size", "INVALID_PAGE_SIZE"),
        ({"page_token": "not-a-token"}, "page_token", "INVALID_PAGE_TOKEN"),
    ],
)
async def test_list_rejects_bad_parameters(sessions, fields, field, reason) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.ListSessions(ss.ListSessionsRequest(parent="agents/-", **fields))
    details = details_of(caught.value)
    assert (details.code, details.reason, details.violated_fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        reason,
        [field],
    )


async def test_changed_parameters_between_pages(agents, sessions) -> None:
    parent = await make_agent(agents, "pager")
    for i in range(3):
        await make_session(sessions, parent, f"s{i}")
    first = await sessions.ListSessions(ss.ListSessionsRequest(parent=parent, page_size=2))
    assert first.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.ListSessions(
            ss.ListSessionsRequest(
                parent=parent, page_size=2, page_token=first.next_page_token, order_by="create_time"
            )
        )
    assert details_of(caught.value).reason == "PAGE_TOKEN_MISMATCH"
    # A different page size is allowed between pages (AIP-158).
    rest = await sessions.ListSessions(
        ss.ListSessionsRequest(parent=parent, page_size=5, page_token=first.next_page_token)
    )
    assert len(rest.sessions) == 1 and not rest.next_page_token


async def test_update_fields_mask_and_etag(agents, sessions) -> None:
    parent = await make_agent(agents, "updater")
    created = await make_session(sessions, parent, "before", labels={"a": "1"})
    expire = timestamp_pb2.Timestamp(seconds=2_000_000_000)
    updated = await sessions.UpdateSession(
        ss.UpdateSessionRequest(
            session=Session(
                name=created.name,
                display_name="after",
                state=Session.COMPLETED,
                labels={"b": "2"},
                expire_time=expire,
                etag=created.etag,
            ),
            update_mask=field_mask_pb2.FieldMask(
                paths=["display_name", "state", "labels", "expire_time"]
            ),
        )
    )
    assert (updated.display_name, updated.state, dict(updated.labels)) == (
        "after",
        Session.COMPLETED,
        {"b": "2"},
    )
    assert updated.expire_time == expire
    assert updated.etag != created.etag
    partial = await sessions.UpdateSession(
        ss.UpdateSessionRequest(
            session=Session(name=created.name, display_name="ignored", labels={}),
            update_mask=field_mask_pb2.FieldMask(paths=["labels"]),
        )
    )
    assert partial.display_name == "after" and dict(partial.labels) == {}
    for session, paths, code, reason in [
        (
            Session(name=created.name, display_name="x", etag=created.etag),
            ["display_name"],
            grpc.StatusCode.ABORTED,
            "ETAG_MISMATCH",
        ),
        (
            Session(name=created.name, display_name=""),
            ["display_name"],
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            Session(name=created.name),
            ["stats"],
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_UPDATE_MASK",
        ),
        (Session(name=created.name), [], grpc.StatusCode.INVALID_ARGUMENT, "INVALID_UPDATE_MASK"),
        (
            Session(name=parent + "/sessions/ghost", display_name="x"),
            ["display_name"],
            grpc.StatusCode.NOT_FOUND,
            "SESSION_NOT_FOUND",
        ),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sessions.UpdateSession(
                ss.UpdateSessionRequest(
                    session=session, update_mask=field_mask_pb2.FieldMask(paths=paths)
                )
            )
        details = details_of(caught.value)
        assert (details.code, details.reason) == (code, reason)


async def test_delete_with_etag(agents, sessions) -> None:
    parent = await make_agent(agents, "deleter")
    created = await make_session(sessions, parent)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.DeleteSession(ss.DeleteSessionRequest(name=created.name, etag="old"))
    assert details_of(caught.value).reason == "ETAG_MISMATCH"
    await sessions.DeleteSession(ss.DeleteSessionRequest(name=created.name, etag=created.etag))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sessions.DeleteSession(ss.DeleteSessionRequest(name=created.name))
    assert details_of(caught.value).code == grpc.StatusCode.NOT_FOUND
