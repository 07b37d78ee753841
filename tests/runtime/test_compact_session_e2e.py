"""CompactSession with injected models, through the stubs: the model's summary, holding the
session as a run does, and what the next SendMessage shows the model."""

from __future__ import annotations

import asyncio
import json

import grpc
import httpx2
import openai
import pytest
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message
from agentsessions.server.runtime import ModelRegistry
from agentsessions.server.runtime.summarize import INSTRUCTIONS
from agentsessions.v1 import session_pb2
from agentsessions.v1 import session_service_pb2 as ss
from runtime.conftest import Connect
from runtime.runtime_support import gated_stream
from status_details import details_of

PREFIX = "Summary of the earlier conversation:\n\n"


async def seed(api, session: str, *items: dict) -> None:
    batch = [session_pb2.Item(item_json=json.dumps(i)) for i in items]
    await api.sessions.AddItems(ss.AddItemsRequest(parent=session, items=batch))


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


async def compact(api, session: str, **fields) -> ss.CompactSessionResponse:
    # A deadline, so that a compaction waiting where it should not fails instead of hanging.
    request = ss.CompactSessionRequest(name=session, **fields)
    return await api.sessions.CompactSession(request, timeout=10)


async def test_the_model_summary_is_what_the_next_run_sees(connect: Connect) -> None:
    model = ScriptedModel(
        [[assistant_message("The user likes green tea.")], [assistant_message("Green tea.")]]
    )
    api = await connect(models=ModelRegistry(models={"scripted": model}))
    session = await api.session_with("tea", model="scripted", instructions="Be brief.")
    await seed(api, session, user("I like green tea"), assistant("Noted"), user("And you?"))

    done = await compact(api, session, keep_newest_count=1)

    summary_call = model.calls[0]
    assert summary_call.system_instructions == INSTRUCTIONS
    assert summary_call.input == [user("user: I like green tea\nassistant: Noted")]
    assert summary_call.tools == [] and summary_call.handoffs == []
    assert done.removed_item_count == 2
    assert done.summary_item.text == PREFIX + "The user likes green tea."

    events = await api.send(session, "What do I like?")

    assert events[-1].run_completed.final_output == "Green tea."
    run_call = model.calls[1]
    assert run_call.system_instructions == "Be brief."
    assert run_call.input == [
        user(PREFIX + "The user likes green tea."),
        user("And you?"),
        user("What do I like?"),
    ]
    stats = events[-1].run_completed.session_stats
    assert (stats.item_count, stats.message_count) == (4, 4)


def watch_compactions(api, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """An event set when a compaction found the session held and is waiting for it.

    A compaction holds the session through the store's lease, as a run does: once its try
    for the lease was refused, it is in line for the session.
    """
    store = api.server.store
    original, asked = store.acquire_lease, asyncio.Event()

    async def acquire_lease(key, **options):
        lease, holder = await original(key, **options)
        if holder is not None:
            asked.set()
        return lease, holder

    monkeypatch.setattr(store, "acquire_lease", acquire_lease)
    return asked


async def test_a_busy_session_is_aborted_and_a_waiting_compaction_goes_after(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, streaming = asyncio.Event(), asyncio.Event()
    model = ScriptedModel([ModelStep.stream(gated_stream(["Slow"], gate, started=streaming))])
    api = await connect(models=ModelRegistry(models={"scripted": model}))
    session = await api.session_with("slow", model="scripted")
    await seed(api, session, user("one"), assistant("two"))
    run = asyncio.create_task(api.send(session, "three"))
    await streaming.wait()

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await compact(api, session, keep_newest_count=0, summary_text="s")
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.ABORTED and details.reason == "SESSION_BUSY"

    asked = watch_compactions(api, monkeypatch)
    waiting = asyncio.create_task(
        compact(api, session, keep_newest_count=1, summary_text="s", wait_if_busy=True)
    )
    await asked.wait()
    assert not waiting.done()
    gate.set()
    events = await run
    done = await waiting

    assert details.error_info.metadata["run"] == events[0].run_started.run
    # The run's input and reply were stored before the compaction took the session.
    assert done.removed_item_count == 3
    assert [i.text for i in await api.items(session)] == [PREFIX + "s", "Slow"]


async def test_a_run_waits_for_nothing_while_a_summary_is_written(connect: Connect) -> None:
    writing, release = asyncio.Event(), asyncio.Event()

    async def slow_summary(call: ModelCall) -> list:
        writing.set()
        await release.wait()
        return [assistant_message("short")]

    model = ScriptedModel([ModelStep.respond(slow_summary)])
    api = await connect(models=ModelRegistry(models={"scripted": model}))
    session = await api.session_with("slow", model="scripted")
    await seed(api, session, user("one"), assistant("two"), user("three"))
    compaction = asyncio.create_task(compact(api, session, keep_newest_count=1))
    await writing.wait()

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await api.send(session, "four")
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.ABORTED and details.reason == "SESSION_BUSY"
    assert details.error_info.metadata["operation"] == "CompactSession"

    release.set()
    done = await compaction
    assert [i.text for i in await api.items(session)] == [PREFIX + "short", "three"]
    assert done.session.stats.run_count == 0


async def test_a_failed_summary_changes_nothing(connect: Connect) -> None:
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/responses")
    model = ScriptedModel([ModelStep.raise_error(openai.APIConnectionError(request=request))])
    api = await connect(models=ModelRegistry(models={"scripted": model}))
    session = await api.session_with("down", model="scripted")
    await seed(api, session, user("one"), assistant("two"), user("three"))
    before = await api.items(session)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await compact(api, session, keep_newest_count=1)

    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.UNAVAILABLE and details.reason == "MODEL_UNAVAILABLE"
    assert await api.items(session) == before
    stats = (await api.sessions.GetSession(ss.GetSessionRequest(name=session))).stats
    assert (stats.item_count, stats.total_tokens) == (3, 0)
