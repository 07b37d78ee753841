"""Runs with the SDK's ScriptedModel: events, stored history, run records and session stats."""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx2
import openai
import pytest
from agents import Usage
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agentsessions.server.domain.models import RunState, SessionStats
from agentsessions.server.domain.models import Usage as RunUsage
from agentsessions.server.runtime import (
    AgentRunner,
    Code,
    MessageCompletedEvent,
    ModelRegistry,
    RunCompletedEvent,
    RunEvent,
    RunFailedEvent,
    RunStartedEvent,
    TextDeltaEvent,
    ToolCalledEvent,
    ToolOutputEvent,
    text_input,
)
from agentsessions.server.runtime.events import AgentUpdatedEvent
from agentsessions.server.store import SQLiteStore
from runtime.runtime_support import events_of, kinds, make_agent, make_runner, make_session, stored

USAGE = Usage(requests=1, input_tokens=11, output_tokens=4, total_tokens=15)


def runner_with(store: SQLiteStore, **models: ScriptedModel) -> AgentRunner:
    return make_runner(store, ModelRegistry(models=dict(models)))


def assert_sequences(events: Sequence[RunEvent]) -> None:
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))


async def test_plain_reply(store: SQLiteStore) -> None:
    key = await make_session(store, instructions="Be brief.")
    model = ScriptedModel([ModelStep(output=[assistant_message("Hello there")], usage=USAGE)])
    events = await events_of(runner_with(store, scripted=model), key, text_input("Hi!"))

    assert kinds(events) == [
        "RunStarted",
        "AgentUpdated",
        "TextDelta",
        "MessageCompleted",
        "RunCompleted",
    ]
    assert_sequences(events)
    started, updated, delta, message, completed = events
    assert isinstance(started, RunStartedEvent) and started.agent_id == "helper"
    assert [(i.sequence, i.role, i.text) for i in started.input_items] == [(1, "user", "Hi!")]
    assert isinstance(updated, AgentUpdatedEvent) and (
        updated.from_agent_id,
        updated.to_agent_id,
    ) == ("", "helper")
    assert isinstance(delta, TextDeltaEvent) and delta.delta == "Hello there"
    assert isinstance(message, MessageCompletedEvent)
    assert (message.item.sequence, message.item.role, message.item.text) == (
        2,
        "assistant",
        "Hello there",
    )
    assert isinstance(completed, RunCompletedEvent)
    assert completed.final_output == "Hello there"
    assert completed.usage == RunUsage(1, 11, 4, 15)
    assert completed.stats == SessionStats(
        item_count=2,
        message_count=2,
        input_tokens=11,
        output_tokens=4,
        total_tokens=15,
        run_count=1,
    )
    assert completed.run.state == RunState.COMPLETED and completed.run.end_time_us

    history = await stored(store, key)
    assert [(i.sequence, i.role, i.text, i.run_id) for i in history] == [
        (1, "user", "Hi!", started.run_id),
        (2, "assistant", "Hello there", started.run_id),
    ]
    recorded = await store.get_run(key, started.run_id)
    assert recorded is not None and recorded.state == RunState.COMPLETED
    assert recorded.usage == RunUsage(1, 11, 4, 15) and recorded.last_agent_id == "helper"
    assert model.first_call is not None
    assert model.first_call.system_instructions == "Be brief."
    assert model.first_call.input == [{"role": "user", "content": "Hi!"}]


async def test_reply_after_a_tool_call(store: SQLiteStore) -> None:
    key = await make_session(store, tools=("calculate",))
    model = ScriptedModel(
        [
            [function_call("calculate", {"expression": "6 * 7"}, call_id="c1")],
            [assistant_message("It is 42.")],
        ]
    )
    events = await events_of(runner_with(store, scripted=model), key, text_input("6 times 7?"))

    assert kinds(events) == [
        "RunStarted",
        "AgentUpdated",
        "ToolCalled",
        "ToolOutput",
        "TextDelta",
        "MessageCompleted",
        "RunCompleted",
    ]
    assert_sequences(events)
    called, output, completed = events[2], events[3], events[-1]
    assert isinstance(called, ToolCalledEvent) and isinstance(output, ToolOutputEvent)
    assert (called.call_id, called.tool_name) == ("c1", "calculate")
    assert json.loads(called.arguments_json) == {"expression": "6 * 7"}
    assert (called.item.sequence, called.item.type) == (2, "function_call")
    assert (output.call_id, output.output) == ("c1", "42")
    assert (output.item.sequence, output.item.type) == (3, "function_call_output")
    assert isinstance(completed, RunCompletedEvent) and completed.final_output == "It is 42."
    assert completed.stats.item_count == 4
    assert completed.stats.message_count == 2
    assert completed.stats.function_call_count == 1
    assert completed.usage.requests == 2

    assert [i.type for i in await stored(store, key)] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    second_input = model.calls[1].input
    assert second_input[-1] == {"call_id": "c1", "output": "42", "type": "function_call_output"}


async def test_handoff_to_another_stored_agent(store: SQLiteStore) -> None:
    await make_agent(store, "french", model="scripted-french", description="speaks French")
    key = await make_session(store, "triage", model="scripted-triage", handoffs=("french",))
    triage = ScriptedModel([[function_call("transfer_to_french", {}, call_id="h1")]])
    french = ScriptedModel([[assistant_message("Bonjour !")]])
    runner = make_runner(
        store, ModelRegistry(models={"scripted-triage": triage, "scripted-french": french})
    )
    events = await events_of(runner, key, text_input("Salut"))

    assert kinds(events) == [
        "RunStarted",
        "AgentUpdated",
        "ToolCalled",
        "ToolOutput",
        "AgentUpdated",
        "TextDelta",
        "MessageCompleted",
        "RunCompleted",
    ]
    handoff_call, second_agent, delta, message, completed = (
        events[2],
        events[4],
        events[5],
        events[6],
        events[7],
    )
    assert (
        isinstance(handoff_call, ToolCalledEvent) and handoff_call.tool_name == "transfer_to_french"
    )
    assert isinstance(second_agent, AgentUpdatedEvent)
    assert (second_agent.from_agent_id, second_agent.to_agent_id) == ("triage", "french")
    assert isinstance(delta, TextDeltaEvent) and delta.agent_id == "french"
    assert isinstance(message, MessageCompletedEvent) and message.agent_id == "french"
    assert isinstance(completed, RunCompletedEvent) and completed.run.last_agent_id == "french"
    assert triage.first_call is not None
    assert [h.tool_name for h in triage.first_call.handoffs] == ["transfer_to_french"]
    assert triage.first_call.handoffs[0].tool_description.endswith("speaks French")
    assert french.first_call is not None and french.first_call.input[0] == {
        "role": "user",
        "content": "Salut",
    }
    recorded = await store.get_run(key, completed.run.run_id)
    assert recorded is not None and recorded.last_agent_id == "french"


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (
            openai.APIConnectionError(request=httpx2.Request("POST", "http://model")),
            Code.UNAVAILABLE,
            "MODEL_UNAVAILABLE",
        ),
        (
            openai.APITimeoutError(request=httpx2.Request("POST", "http://model")),
            Code.DEADLINE_EXCEEDED,
            "MODEL_TIMEOUT",
        ),
        (RuntimeError("boom with secret sk-123"), Code.INTERNAL, "MODEL_ERROR"),
    ],
)
async def test_model_error_fails_the_run(
    store: SQLiteStore, error: Exception, code: Code, reason: str
) -> None:
    key = await make_session(store)
    model = ScriptedModel([error])
    events = await events_of(runner_with(store, scripted=model), key, text_input("Hi"))

    assert kinds(events) == ["RunStarted", "AgentUpdated", "RunFailed"]
    failed = events[-1]
    assert isinstance(failed, RunFailedEvent)
    assert (failed.error.code, failed.error.reason) == (code, reason)
    assert "sk-123" not in failed.error.message
    assert failed.run.state == RunState.FAILED and failed.run.error == failed.error
    assert failed.stats == SessionStats(item_count=1, message_count=1, run_count=1)
    assert [i.text for i in await stored(store, key)] == ["Hi"]
    recorded = await store.get_run(key, failed.run.run_id)
    assert recorded is not None and recorded.state == RunState.FAILED
    assert recorded.error is not None and recorded.error.reason == reason


async def test_max_turns_exceeded(store: SQLiteStore) -> None:
    key = await make_session(store, tools=("calculate",))
    model = ScriptedModel(
        [[function_call("calculate", {"expression": "1+1"}, call_id=f"c{n}")] for n in range(2)]
    )
    runner = runner_with(store, scripted=model)
    events = await events_of(runner, key, text_input("loop"), max_turns=2)

    failed = events[-1]
    assert isinstance(failed, RunFailedEvent)
    assert (failed.error.code, failed.error.reason) == (
        Code.RESOURCE_EXHAUSTED,
        "MAX_TURNS_EXCEEDED",
    )
    # Both whole tool turns stay stored; nothing else.
    assert [i.type for i in await stored(store, key)] == [
        "message",
        "function_call",
        "function_call_output",
        "function_call",
        "function_call_output",
    ]


async def test_echo_model_streams_word_by_word(store: SQLiteStore) -> None:
    key = await make_session(store, model="echo")
    events = await events_of(make_runner(store), key, text_input("one two  three"))

    deltas = [e.delta for e in events if isinstance(e, TextDeltaEvent)]
    assert deltas == ["one ", "two  ", "three"]
    completed = events[-1]
    assert isinstance(completed, RunCompletedEvent)
    assert completed.final_output == "one two  three"
    assert completed.usage == RunUsage(requests=1, input_tokens=3, output_tokens=3, total_tokens=6)


async def test_history_carries_over_between_runs(store: SQLiteStore) -> None:
    key = await make_session(store)
    model = ScriptedModel([[assistant_message("first")], [assistant_message("second")]])
    runner = runner_with(store, scripted=model)
    await events_of(runner, key, text_input("one"))
    events = await events_of(runner, key, text_input("two"))

    completed = events[-1]
    assert isinstance(completed, RunCompletedEvent)
    assert completed.stats.run_count == 2 and completed.stats.item_count == 4
    assert [
        m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]
        for m in model.calls[1].input
    ] == [
        "one",
        "first",
        "two",
    ]
