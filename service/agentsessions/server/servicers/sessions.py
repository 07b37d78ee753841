"""SessionService: proto requests to `domain.sessions.Sessions` calls (SendMessage: the runtime)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from agentsessions.v1 import events_pb2, session_pb2, session_service_pb2, session_service_pb2_grpc
from google.protobuf import empty_pb2

from ..domain import names
from ..domain.approvals import decisions_of
from ..domain.errors import InvalidArgument, Unimplemented
from ..domain.models import CancelMode, DisconnectPolicy, SessionKey
from ..domain.sessions import Sessions
from ..runtime import AgentRunner, SendOptions, inputs
from .context import tenant_of
from .convert import (
    busy_policy_of,
    item_to_proto,
    run_to_proto,
    session_from_proto,
    session_to_proto,
    usage_to_proto,
)
from .run_events import decode_run_event

Context = grpc.aio.ServicerContext[Any, Any]
# How long CancelRun waits for the run to end when the caller set no deadline.
CANCEL_WAIT_SECONDS = 30.0
pb = session_service_pb2


class SessionServicer(session_service_pb2_grpc.SessionServiceServicer):
    def __init__(self, sessions: Sessions, runner: AgentRunner | None = None) -> None:
        self._sessions = sessions
        self._runner = runner

    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: Context
    ) -> session_pb2.Session:
        agent_id = names.agent_id_from_name(request.parent, "parent")
        if not request.HasField("session"):
            raise InvalidArgument.field("session", "is required", reason="MISSING_FIELD")
        key = SessionKey(tenant_of(context), agent_id, "")
        record = session_from_proto(request.session, key)
        created = await self._sessions.create(record, request.session_id, request.request_id)
        return session_to_proto(created)

    async def GetSession(
        self, request: pb.GetSessionRequest, context: Context
    ) -> session_pb2.Session:
        key = names.session_key(request.name, tenant_of(context))
        return session_to_proto(await self._sessions.get(key))

    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: Context
    ) -> pb.ListSessionsResponse:
        page = await self._sessions.list_sessions(
            tenant_of(context),
            names.agent_parent(request.parent),
            size=request.page_size,
            token=request.page_token,
            filter_text=request.filter,
            order_by=request.order_by,
        )
        return pb.ListSessionsResponse(
            sessions=[session_to_proto(s) for s in page.entries],
            next_page_token=page.next_page_token,
        )

    async def UpdateSession(
        self, request: pb.UpdateSessionRequest, context: Context
    ) -> session_pb2.Session:
        key = names.session_key(request.session.name, tenant_of(context), "session.name")
        changes = session_from_proto(request.session, key)
        updated = await self._sessions.update(
            changes, list(request.update_mask.paths), request.session.etag
        )
        return session_to_proto(updated)

    async def DeleteSession(
        self, request: pb.DeleteSessionRequest, context: Context
    ) -> empty_pb2.Empty:
        key = names.session_key(request.name, tenant_of(context))
        await self._sessions.delete(key, request.etag)
        return empty_pb2.Empty()

    async def BatchDeleteSessions(
        self, request: pb.BatchDeleteSessionsRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._sessions.batch_delete(tenant_of(context), request.parent, list(request.names))
        return empty_pb2.Empty()

    async def CompactSession(
        self, request: pb.CompactSessionRequest, context: Context
    ) -> pb.CompactSessionResponse:
        runner = self._require_runner()
        key = names.session_key(request.name, tenant_of(context))
        done = await runner.compact(
            key,
            keep_newest_count=(
                request.keep_newest_count if request.HasField("keep_newest_count") else None
            ),
            summary_text=request.summary_text,
            wait_if_busy=request.wait_if_busy,
            wait_timeout=context.time_remaining(),
        )
        response = pb.CompactSessionResponse(
            session=session_to_proto(done.session),
            removed_item_count=done.removed_item_count,
            usage=usage_to_proto(done.usage),
        )
        if done.summary is not None:
            response.summary_item.CopyFrom(item_to_proto(key, done.summary))
        return response

    def _require_runner(self) -> AgentRunner:
        if self._runner is None:
            raise Unimplemented("this server runs no agents", reason="NO_RUNTIME")
        return self._runner

    async def SendMessage(
        self, request: events_pb2.SendMessageRequest, context: Context
    ) -> AsyncIterator[events_pb2.SendMessageResponse]:
        runner = self._require_runner()
        key = names.session_key(request.session, tenant_of(context), "session")
        which = request.WhichOneof("input")
        run_input = inputs.run_input(
            text=request.text if which == "text" else None,
            input_items_json=request.input_items_json if which == "input_items_json" else None,
        )
        if request.after_sequence < 0:
            raise InvalidArgument.field("after_sequence", "must not be negative")
        continuing = request.on_disconnect == session_pb2.Run.DisconnectPolicy.CONTINUE
        options = SendOptions(
            busy_policy=busy_policy_of(request.busy_policy),
            wait_if_busy=request.wait_if_busy,
            wait_timeout=context.time_remaining(),
            max_turns=inputs.max_turns_of(request.max_turns),
            request_id=names.check_request_id(request.request_id) or "",
            on_disconnect=DisconnectPolicy.CONTINUE if continuing else DisconnectPolicy.CANCEL,
        )
        handle = await runner.start(key, run_input, options)
        run = handle.run
        ended = False

        def on_done(_: object) -> None:
            if not ended:
                runner.caller_gone(run)

        # The stubs declare the callback as a class, not a protocol: a function is what works.
        context.add_done_callback(on_done)  # type: ignore[arg-type]
        after = request.after_sequence if handle.joined else 0
        async with contextlib.aclosing(runner.follow(run.key, run.run_id, after)) as events:
            async for event in events:
                ended = ended or event.terminal
                yield decode_run_event(event.body)

    async def StreamRunEvents(
        self, request: pb.StreamRunEventsRequest, context: Context
    ) -> AsyncIterator[events_pb2.SendMessageResponse]:
        runner = self._require_runner()
        key, run_id = names.run_key(request.name, tenant_of(context))
        async with contextlib.aclosing(
            runner.follow(key, run_id, request.after_sequence)
        ) as events:
            async for event in events:
                yield decode_run_event(event.body)

    async def CancelRun(self, request: pb.CancelRunRequest, context: Context) -> session_pb2.Run:
        runner = self._require_runner()
        key, run_id = names.run_key(request.name, tenant_of(context))
        after_turn = request.mode == session_pb2.Run.CancelMode.AFTER_TURN
        remaining = context.time_remaining()
        run = await runner.cancel(
            key,
            run_id,
            CancelMode.AFTER_TURN if after_turn else CancelMode.IMMEDIATE,
            # Leave time to answer within the caller's deadline.
            wait_seconds=CANCEL_WAIT_SECONDS if remaining is None else max(remaining - 0.5, 0),
        )
        return run_to_proto(run)

    async def ResolveApprovals(
        self, request: pb.ResolveApprovalsRequest, context: Context
    ) -> session_pb2.Run:
        runner = self._require_runner()
        key, run_id = names.run_key(request.name, tenant_of(context))
        decisions = decisions_of(
            [(d.call_id, int(d.decision), d.message) for d in request.decisions]
        )
        run = await runner.resolve_approvals(
            key,
            run_id,
            decisions,
            request_id=names.check_request_id(request.request_id) or "",
            decided_by=context.peer() or "",
        )
        return run_to_proto(run)

    async def ListItems(
        self, request: pb.ListItemsRequest, context: Context
    ) -> pb.ListItemsResponse:
        key = names.session_key(request.parent, tenant_of(context), "parent")
        page = await self._sessions.list_items(
            key,
            size=request.page_size,
            token=request.page_token,
            after_sequence=request.after_sequence,
            newest_count=request.newest_count,
        )
        return pb.ListItemsResponse(
            items=[item_to_proto(key, i) for i in page.entries],
            next_page_token=page.next_page_token,
        )

    async def AddItems(self, request: pb.AddItemsRequest, context: Context) -> pb.AddItemsResponse:
        key = names.session_key(request.parent, tenant_of(context), "parent")
        stored = await self._sessions.add_items(
            key, [i.item_json for i in request.items], request.request_id
        )
        return pb.AddItemsResponse(items=[item_to_proto(key, i) for i in stored])

    async def PopItem(self, request: pb.PopItemRequest, context: Context) -> pb.PopItemResponse:
        key = names.session_key(request.parent, tenant_of(context), "parent")
        item = await self._sessions.pop_item(key)
        if item is None:
            return pb.PopItemResponse()
        return pb.PopItemResponse(item=item_to_proto(key, item))

    async def ClearSession(
        self, request: pb.ClearSessionRequest, context: Context
    ) -> pb.ClearSessionResponse:
        key = names.session_key(request.name, tenant_of(context))
        return pb.ClearSessionResponse(deleted_item_count=await self._sessions.clear(key))

    async def GetRun(self, request: pb.GetRunRequest, context: Context) -> session_pb2.Run:
        key, run_id = names.run_key(request.name, tenant_of(context))
        return run_to_proto(await self._sessions.get_run(key, run_id))

    async def ListRuns(self, request: pb.ListRunsRequest, context: Context) -> pb.ListRunsResponse:
        agent_id, session_id = names.runs_parent(request.parent)
        page = await self._sessions.list_runs(
            tenant_of(context),
            agent_id,
            session_id,
            size=request.page_size,
            token=request.page_token,
            filter_text=request.filter,
        )
        return pb.ListRunsResponse(
            runs=[run_to_proto(r) for r in page.entries], next_page_token=page.next_page_token
        )
