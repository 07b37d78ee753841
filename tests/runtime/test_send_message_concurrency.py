"""Twenty concurrent SendMessage calls on one session: one run at a time, whole turns only."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import grpc
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message
from agentsessions.server.runtime import ModelRegistry
from agentsessions.v1 import session_pb2
from runtime.conftest import Connect
from runtime.send_message_support import Api
from status_details import details_of

CALLS = 20


class OneAtATime:
    """A model that takes a while, notes how many calls overlap, and answers each message."""

    def __init__(self, first_waits_for: asyncio.Event | None = None) -> None:
        self.active = 0
        self.most_active = 0
        self.calls = 0
        self._first_waits_for = first_waits_for

    async def respond(self, call: ModelCall) -> Any:
        self.active += 1
        self.calls += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if self.calls == 1 and self._first_waits_for is not None:
                await self._first_waits_for.wait()
            await asyncio.sleep(0.005)  # a model takes time; overlapping runs would show here
            text = call.input[-1]["content"]
            return [assistant_message(f"re: {text}")]
        finally:
            self.active -= 1

    def model(self) -> ScriptedModel:
        return ScriptedModel([ModelStep.respond(self.respond) for _ in range(CALLS)])


def assert_whole_turns(items: Sequence[session_pb2.Item], runs: Sequence[session_pb2.Run]) -> None:
    """Each run stored exactly its message and the reply to it, next to each other."""
    assert len(items) == 2 * len(runs)
    for asked, answered in zip(items[::2], items[1::2], strict=True):
        assert (asked.role, answered.role) == ("user", "assistant")
        assert answered.text == f"re: {asked.text}"
        assert asked.run_id == answered.run_id
    assert len({item.run_id for item in items}) == len(runs)
    assert all(run.state == session_pb2.Run.COMPLETED for run in runs)
    spans = sorted((run.start_time.ToMicroseconds(), run.end_time.ToMicroseconds()) for run in runs)
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


async def fire(
    api: Api, session: str, *, wait: bool, all_refused: asyncio.Event | None = None
) -> list[Any]:
    refused = 0

    async def one(n: int) -> Any:
        nonlocal refused
        try:
            return await api.send(session, f"message {n}", wait_if_busy=wait)
        except grpc.aio.AioRpcError as error:
            refused += 1
            if all_refused is not None and refused == CALLS - 1:
                all_refused.set()
            return error

    return await asyncio.gather(*(one(n) for n in range(CALLS)))


async def test_concurrent_calls_on_a_busy_session_are_refused(connect: Connect) -> None:
    # The first run holds the session until the others have been answered.
    others_answered = asyncio.Event()
    model = OneAtATime(first_waits_for=others_answered)
    api = await connect(models=ModelRegistry(models={"scripted": model.model()}))
    session = await api.session_with("busy", model="scripted")
    results = await fire(api, session, wait=False, all_refused=others_answered)

    completed = [r for r in results if isinstance(r, list)]
    refused = [details_of(r) for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert (len(completed), len(refused)) == (1, CALLS - 1)
    assert all(d.code == grpc.StatusCode.ABORTED and d.reason == "SESSION_BUSY" for d in refused)
    assert all(d.error_info.metadata["run"].startswith(f"{session}/runs/") for d in refused)
    assert all(events[-1].WhichOneof("event") == "run_completed" for events in completed)
    assert model.most_active == 1
    assert_whole_turns(await api.items(session), await api.runs(session))


async def test_concurrent_calls_that_wait_run_in_turn(connect: Connect) -> None:
    model = OneAtATime()
    api = await connect(models=ModelRegistry(models={"scripted": model.model()}))
    session = await api.session_with("queue", model="scripted")
    results = await fire(api, session, wait=True)

    assert all(isinstance(r, list) for r in results), [
        r for r in results if not isinstance(r, list)
    ]
    finals = sorted(r[-1].run_completed.final_output for r in results)
    assert finals == sorted(f"re: message {n}" for n in range(CALLS))
    assert model.most_active == 1
    items, runs = await api.items(session), await api.runs(session)
    assert len(runs) == CALLS
    assert_whole_turns(items, runs)
    assert max(r[-1].run_completed.session_stats.run_count for r in results) == CALLS
