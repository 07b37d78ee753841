"""AsyncClient: one coroutine per RPC of AgentService and SessionService, over grpc.aio."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc
from agentsessions.client import _requests as build
from agentsessions.client._channel import ChannelOptions, Metadata, create_aio_channel
from agentsessions.client._defaults import DEFAULT, RetryArg, TimeoutArg
from agentsessions.client._invoke import call_async, resolve_stream
from agentsessions.client._requests import (
    AgentLike,
    BusyLike,
    CancelModeLike,
    DisconnectLike,
    ItemLike,
    MaskLike,
    SessionLike,
)
from agentsessions.client._stream import AsyncMessageStream, opener
from agentsessions.client.names import ALL_AGENTS
from agentsessions.client.pagers import AsyncPager
from agentsessions.v1 import agent_pb2, agent_pb2_grpc, session_pb2, session_service_pb2_grpc
from agentsessions.v1 import session_service_pb2 as ss

AgentPager = AsyncPager[agent_pb2.ListAgentsResponse, agent_pb2.Agent]
SessionPager = AsyncPager[ss.ListSessionsResponse, session_pb2.Session]
ItemPager = AsyncPager[ss.ListItemsResponse, session_pb2.Item]
RunPager = AsyncPager[ss.ListRunsResponse, session_pb2.Run]


class AsyncClient:
    """An asyncio client for agentsessions.

    Every method takes the request's fields as keyword arguments, plus
    keyword-only `timeout` (seconds for the whole call, retries included; None
    for no deadline), `retry` (a `Retry`, or None for a single attempt) and
    `metadata`. Left out, `timeout` and `retry` come from the method's defaults.
    Failures raise `AgentSessionsError` subclasses, never raw gRPC errors.

    Example:
        >>> async with AsyncClient("127.0.0.1:50051") as client:  # doctest: +SKIP
        ...     agent = await client.get_agent("agents/default")

    Args:
        address: `host:port`; defaults to $AGENTSESSIONS_ADDRESS, then 127.0.0.1:50051.
        credentials: TLS channel credentials; plaintext when None.
        token: bearer token for every call; defaults to $AGENTSESSIONS_TOKEN.
        keepalive_time: seconds between keepalive pings; None turns them off.
        keepalive_timeout: seconds to wait for a ping's answer.
        channel_options: more raw `grpc.*` channel arguments.
        channel: an existing channel to use instead; the client does not close it.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
        keepalive_time: float | None = 30.0,
        keepalive_timeout: float = 10.0,
        channel_options: Sequence[tuple[str, Any]] = (),
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self.options = ChannelOptions(
            address, credentials, token, keepalive_time, keepalive_timeout, channel_options
        )
        self._owns_channel = channel is None
        self._channel = channel or create_aio_channel(self.options)
        self._auth = self.options.auth_metadata()
        self._agents = agent_pb2_grpc.AgentServiceStub(self._channel)
        self._sessions = session_service_pb2_grpc.SessionServiceStub(self._channel)

    @property
    def address(self) -> str:
        return self.options.resolved_address()

    @property
    def channel(self) -> grpc.aio.Channel:
        """The underlying gRPC channel."""
        return self._channel

    async def close(self) -> None:
        """Closes the channel, cancelling calls still going on."""
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _md(self, metadata: Metadata) -> tuple[tuple[str, str], ...]:
        return (*self._auth, *metadata)

    # AgentService

    async def create_agent(
        self,
        agent: AgentLike,
        *,
        agent_id: str = "",
        request_id: str | None = None,
        timeout: TimeoutArg = DEFAULT,
        retry: RetryArg = DEFAULT,
        metadata: Metadata = (),
    ) -> agent_pb2.Agent:
        """Creates an agent; `agent` is an Agent or a dict of its fields.

        A `request_id` is generated when not given, so retries never create twice.
        """
        request = build.create_agent(agent, agent_id, request_id)
        return await call_async(
            "CreateAgent", self._agents.CreateAgent, request,
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    async def get_agent(
        self, name: str, *, timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT,
        metadata: Metadata = (),
    ) -> agent_pb2.Agent:  # fmt: skip
        """Gets an agent by name, `agents/{agent}`."""
        return await call_async(
            "GetAgent", self._agents.GetAgent, agent_pb2.GetAgentRequest(name=name),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    async def list_agents(
        self, *, page_size: int = 0, timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT,
        metadata: Metadata = (),
    ) -> AgentPager:  # fmt: skip
        """Lists agents, oldest first; the pager fetches further pages as you iterate."""

        async def fetch(page_token: str) -> agent_pb2.ListAgentsResponse:
            request = agent_pb2.ListAgentsRequest(page_size=page_size, page_token=page_token)
            return await call_async(
                "ListAgents", self._agents.ListAgents, request,
                timeout=timeout, retry=retry, metadata=self._md(metadata),
            )  # fmt: skip

        return AsyncPager(await fetch(""), fetch, lambda page: page.agents)

    async def update_agent(
        self, agent: AgentLike, *, update_mask: MaskLike, timeout: TimeoutArg = DEFAULT,
        retry: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> agent_pb2.Agent:  # fmt: skip
        """Updates the fields in `update_mask` (names, or "*") of the agent named `agent.name`.

        Retried on UNAVAILABLE unless `agent.etag` is set: a repeat after a lost reply
        would fail with ABORTED though the update succeeded; pass `retry` to opt in.
        """
        return await call_async(
            "UpdateAgent", self._agents.UpdateAgent, build.update_agent(agent, update_mask),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    async def delete_agent(
        self, name: str, *, force: bool = False, etag: str = "", timeout: TimeoutArg = DEFAULT,
        retry: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> None:  # fmt: skip
        """Deletes an agent; with `force`, also its sessions and their items."""
        await call_async(
            "DeleteAgent", self._agents.DeleteAgent,
            agent_pb2.DeleteAgentRequest(name=name, force=force, etag=etag),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    # SessionService: sessions

    async def create_session(
        self, parent: str, session: SessionLike | None = None, *, session_id: str = "",
        request_id: str | None = None, timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT,
        metadata: Metadata = (),
    ) -> session_pb2.Session:  # fmt: skip
        """Creates a session under the agent `parent`; `session` is a Session or a dict."""
        request = build.create_session(parent, session, session_id, request_id)
        return await call_async(
            "CreateSession", self._sessions.CreateSession, request,
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    async def get_session(
        self, name: str, *, timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT,
        metadata: Metadata = (),
    ) -> session_pb2.Session:  # fmt: skip
        """Gets a session with its stats."""
        return await call_async(
            "GetSession", self._sessions.GetSession, ss.GetSessionRequest(name=name),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    async def list_sessions(
        self, parent: str = ALL_AGENTS, *, page_size: int = 0, filter: str = "",
        order_by: str = "", timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT,
        metadata: Metadata = (),
    ) -> SessionPager:  # fmt: skip
        """Lists the sessions of agent `parent` (all agents by default), newest activity first."""

        async def fetch(page_token: str) -> ss.ListSessionsResponse:
            request = ss.ListSessionsRequest(
                parent=parent, page_size=page_size, page_token=page_token, filter=filter,
                order_by=order_by,
            )  # fmt: skip
            return await call_async(
                "ListSessions", self._sessions.ListSessions, request,
                timeout=timeout, retry=retry, metadata=self._md(metadata),
            )  # fmt: skip

        return AsyncPager(await fetch(""), fetch, lambda page: page.sessions)

    async def update_session(
        self, session: SessionLike, *, update_mask: MaskLike, timeout: TimeoutArg = DEFAULT,
        retry: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> session_pb2.Session:  # fmt: skip
        """Updates the fields in `update_mask` of the session named `session.name`.

        Retried on UNAVAILABLE unless `session.etag` is set: a repeat after a lost reply
        would fail with ABORTED though the update succeeded; pass `retry` to opt in.
        """
        return await call_async(
            "UpdateSession", self._sessions.UpdateSession,
            build.update_session(session, update_mask),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    async def delete_session(
        self, name: str, *, etag: str = "", timeout: TimeoutArg = DEFAULT,
        retry: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> None:  # fmt: skip
        """Deletes a session with its items and runs."""
        await call_async(
            "DeleteSession", self._sessions.DeleteSession,
            ss.DeleteSessionRequest(name=name, etag=etag),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    async def batch_delete_sessions(
        self, names: Sequence[str], *, parent: str = ALL_AGENTS, timeout: TimeoutArg = DEFAULT,
        retry: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> None:  # fmt: skip
        """Deletes several sessions with their items and runs, all or none.

        Every name must be under `parent` (`agents/{agent}`, or any agent's by
        default); if one session is missing, none is deleted and NotFound names it.
        """
        await call_async(
            "BatchDeleteSessions", self._sessions.BatchDeleteSessions,
            build.batch_delete_sessions(parent, names),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    def send_message(
        self, session: str, *, text: str | None = None,
        input_items: Sequence[Mapping[str, Any]] | None = None, wait_if_busy: bool = False,
        max_turns: int = 0, request_id: str | None = None,
        on_disconnect: DisconnectLike | None = None, after_sequence: int = 0,
        busy_policy: BusyLike | None = None,
        timeout: TimeoutArg = DEFAULT, resume: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> AsyncMessageStream:  # fmt: skip
        """Sends `text` (or SDK `input_items`) to the session's agent and streams the run.

        The call starts at once; iterate the stream for the events, or
        `await stream.final_text()` for the reply.

        `request_id` (a UUID; one is generated per call when not given) makes the
        call safe to repeat: the same id and input join the run it started instead of
        starting another, streaming after `after_sequence`. A call that breaks with
        UNAVAILABLE is resumed per `resume` (default `METHOD_DEFAULTS`): after the
        run started, with StreamRunEvents after the last event received; before, by
        sending again with the same `request_id`. `on_disconnect` ("cancel", the
        server's default, or "continue", or a `Run.DisconnectPolicy`) says whether the
        run goes on when this call ends first; with "cancel", a connection that drops
        while the server stays up cancels the run, and the resumed stream ends with
        its run_cancelled event. `busy_policy` says what happens when another run holds
        the session: "reject" (SessionBusy), "wait" (as `wait_if_busy`), "interrupt"
        (that run is cancelled and this one starts), or "enqueue" (this run waits in the
        session's queue, its first event run_queued, and starts in turn).

        Raises:
            SessionBusy: (while iterating) another run is going on and not `wait_if_busy`.
            RequestIdReused: (while iterating) `request_id` started a run with another input.
        """
        request = build.send_message(
            session, text, input_items, wait_if_busy, max_turns, request_id, on_disconnect,
            after_sequence, busy_policy,
        )  # fmt: skip
        deadline, policy = resolve_stream("SendMessage", timeout, resume)
        return AsyncMessageStream(
            opener(self._sessions, self._md(metadata)), request, timeout=deadline, resume=policy
        )

    def stream_run_events(
        self, name: str, *, after_sequence: int = 0, timeout: TimeoutArg = DEFAULT,
        resume: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> AsyncMessageStream:  # fmt: skip
        """Streams the run `name`'s events after `after_sequence`, then follows it to its end.

        The stream is the one `send_message` returns: iterate it, or
        `await stream.final_text()`. A run that has ended is replayed; a call that
        breaks with UNAVAILABLE is resumed after the last event received, per `resume`.

        Raises:
            EventsExpired: (while iterating) the run's events are past their retention.
            NotFound: (while iterating) there is no such run.
        """
        request = ss.StreamRunEventsRequest(name=name, after_sequence=after_sequence)
        deadline, policy = resolve_stream("StreamRunEvents", timeout, resume)
        return AsyncMessageStream(
            opener(self._sessions, self._md(metadata)), request, timeout=deadline, resume=policy
        )

    # SessionService: history

    async def list_items(
        self, parent: str, *, page_size: int = 0, after_sequence: int = 0, newest_count: int = 0,
        timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> ItemPager:  # fmt: skip
        """Lists the session `parent`'s items in chronological order.

        `after_sequence` keeps only later items; `newest_count` only the newest N.
        """

        async def fetch(page_token: str) -> ss.ListItemsResponse:
            request = ss.ListItemsRequest(
                parent=parent, page_size=page_size, page_token=page_token,
                after_sequence=after_sequence, newest_count=newest_count,
            )  # fmt: skip
            return await call_async(
                "ListItems", self._sessions.ListItems, request,
                timeout=timeout, retry=retry, metadata=self._md(metadata),
            )  # fmt: skip

        return AsyncPager(await fetch(""), fetch, lambda page: page.items)

    async def add_items(
        self, parent: str, items: Sequence[ItemLike], *, request_id: str | None = None,
        timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> list[session_pb2.Item]:  # fmt: skip
        """Appends SDK items (dicts, JSON text or Items) in one transaction.

        Returns the stored items' names, sequences, types and roles, without `item_json`
        and `text` (read those back with `list_items`). A `request_id` is generated when
        not given, so a retry after a lost reply stores nothing twice.
        """
        response = await call_async(
            "AddItems", self._sessions.AddItems, build.add_items(parent, items, request_id),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip
        return list(response.items)

    async def pop_item(
        self, parent: str, *, timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT,
        metadata: Metadata = (),
    ) -> session_pb2.Item | None:  # fmt: skip
        """Removes and returns the newest item; None when the session is empty."""
        response = await call_async(
            "PopItem", self._sessions.PopItem, ss.PopItemRequest(parent=parent),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip
        return response.item if response.HasField("item") else None

    async def clear_session(
        self, name: str, *, timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT,
        metadata: Metadata = (),
    ) -> int:  # fmt: skip
        """Removes every item of the session; returns how many there were.

        Not retried unless `retry` is given: a repeat after a lost reply would return 0.
        """
        response = await call_async(
            "ClearSession", self._sessions.ClearSession, ss.ClearSessionRequest(name=name),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip
        return response.deleted_item_count

    async def compact_session(
        self, name: str, *, keep_newest_count: int | None = None, summary_text: str = "",
        wait_if_busy: bool = False, timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT,
        metadata: Metadata = (),
    ) -> ss.CompactSessionResponse:  # fmt: skip
        """Replaces all but the newest `keep_newest_count` items (20 by default) by a summary.

        The summary is `summary_text`, or written by the session's agent's model
        when empty. Returns the session with its new stats, how many items were
        removed and the stored summary item. Never retried.

        Raises:
            SessionBusy: a run holds the session and not `wait_if_busy`.
        """
        return await call_async(
            "CompactSession", self._sessions.CompactSession,
            build.compact_session(name, keep_newest_count, summary_text, wait_if_busy),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    # SessionService: runs

    async def get_run(
        self, name: str, *, timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT,
        metadata: Metadata = (),
    ) -> session_pb2.Run:  # fmt: skip
        """Gets one run, `agents/{a}/sessions/{s}/runs/{run}`."""
        return await call_async(
            "GetRun", self._sessions.GetRun, ss.GetRunRequest(name=name),
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    async def list_runs(
        self, parent: str, *, page_size: int = 0, filter: str = "",
        timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> RunPager:  # fmt: skip
        """Lists runs newest first: those of the session `parent`, of every session of an
        agent (`agents/{a}/sessions/-`) or of every session (`ALL_SESSIONS`).

        `filter` is `state = STATE`; `state = REQUIRES_APPROVAL` (`WAITING_FOR_APPROVAL`)
        gives the runs that wait for a decision, e.g.
        `await client.list_runs(ALL_SESSIONS, filter=WAITING_FOR_APPROVAL)`.
        """

        async def fetch(page_token: str) -> ss.ListRunsResponse:
            request = ss.ListRunsRequest(
                parent=parent, page_size=page_size, page_token=page_token, filter=filter
            )
            return await call_async(
                "ListRuns", self._sessions.ListRuns, request,
                timeout=timeout, retry=retry, metadata=self._md(metadata),
            )  # fmt: skip

        return AsyncPager(await fetch(""), fetch, lambda page: page.runs)

    async def cancel_run(
        self, name: str, *, mode: CancelModeLike = "immediate", timeout: TimeoutArg = DEFAULT,
        retry: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> session_pb2.Run:  # fmt: skip
        """Cancels the run `name` and returns it once it has ended.

        If the call's deadline comes first, the run comes back as it is then (still
        RUNNING, `cancel_mode` recorded): the cancellation stands and the run ends soon.

        `mode` is "immediate" (stop now; a model turn not yet stored is dropped) or
        "after_turn" (let the current turn and its tool calls finish and be stored), or
        a `Run.CancelMode`. A run that has already ended is returned unchanged, so a
        repeat is harmless.
        """
        request = ss.CancelRunRequest(name=name, mode=build.cancel_mode(mode))
        return await call_async(
            "CancelRun", self._sessions.CancelRun, request,
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip

    async def resolve_approvals(
        self, run: str, *, approve: Iterable[str] = (),
        reject: Iterable[str] | Mapping[str, str] = (), request_id: str | None = None,
        timeout: TimeoutArg = DEFAULT, retry: RetryArg = DEFAULT, metadata: Metadata = (),
    ) -> session_pb2.Run:  # fmt: skip
        """Decides tool calls the run `run` waits on, by call id, and returns the run.

        `reject` is a list of call ids, or a mapping of call id to the message the model
        receives instead of the tool's output. Once no call waits, the run goes on (its
        stream, or `stream_run_events`, carries the rest). A call decided before raises
        FailedPrecondition (reason ALREADY_DECIDED); the `request_id` (a new UUID when not
        given) makes a retry of this call safe.
        """
        request = build.resolve_approvals(run, approve, reject, request_id)
        return await call_async(
            "ResolveApprovals", self._sessions.ResolveApprovals, request,
            timeout=timeout, retry=retry, metadata=self._md(metadata),
        )  # fmt: skip
