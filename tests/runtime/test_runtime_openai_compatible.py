"""An OpenAI-compatible endpoint end to end: a local chat-completions server with SSE streaming."""

from __future__ import annotations

import json
import socket

from agentsessions.server.domain.models import RunState
from agentsessions.server.runtime import (
    Code,
    Endpoint,
    ModelRegistry,
    RunCompletedEvent,
    RunFailedEvent,
    TextDeltaEvent,
    ToolOutputEvent,
    text_input,
)
from agentsessions.server.store import SQLiteStore
from fakes.chat_completions import FakeChatCompletions, Reply, ToolCall
from runtime.runtime_support import events_of, kinds, make_runner, make_session, stored


def registry(base_url: str, **endpoint: str) -> ModelRegistry:
    return ModelRegistry(
        endpoints={"local": Endpoint(base_url, max_retries=0, timeout=10, **endpoint)},
        environ={"LOCAL_KEY": "key-123"},
    )


async def test_streams_a_reply_after_a_tool_call(store: SQLiteStore) -> None:
    key = await make_session(
        store, model="local/tiny-llama", tools=("calculate",), instructions="Use tools."
    )
    replies = [
        Reply(tool_calls=[ToolCall("calculate", {"expression": "6*7"}, "call_9")]),
        Reply("The answer is 42."),
    ]
    async with FakeChatCompletions(replies) as fake:
        runner = make_runner(store, registry(fake.base_url, api_key_env="LOCAL_KEY"))
        events = await events_of(runner, key, text_input("What is 6*7?"))
        await runner.models.aclose()

    assert kinds(events) == [
        "RunStarted",
        "AgentUpdated",
        "ToolCalled",
        "ToolOutput",
        "TextDelta",
        "TextDelta",
        "TextDelta",
        "TextDelta",
        "MessageCompleted",
        "RunCompleted",
    ]
    assert "".join(e.delta for e in events if isinstance(e, TextDeltaEvent)) == "The answer is 42."
    output = events[3]
    assert isinstance(output, ToolOutputEvent) and (output.call_id, output.output) == (
        "call_9",
        "42",
    )
    completed = events[-1]
    assert isinstance(completed, RunCompletedEvent)
    assert completed.final_output == "The answer is 42."
    assert completed.usage.requests == 2
    assert completed.usage.input_tokens == 14 and completed.usage.output_tokens == 1 + 4

    first, second = fake.requests
    assert first.headers["authorization"] == "Bearer key-123"
    assert first.body["model"] == "tiny-llama" and first.body["stream"] is True
    assert first.body["messages"][0] == {"role": "system", "content": "Use tools."}
    assert first.body["messages"][-1] == {"role": "user", "content": "What is 6*7?"}
    assert [t["function"]["name"] for t in first.body["tools"]] == ["calculate"]
    assert second.body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_9",
        "content": "42",
    }
    history = await stored(store, key)
    assert [i.type for i in history] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert json.loads(history[1].item_json)["arguments"] == '{"expression": "6*7"}'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_unreachable_endpoint_fails_unavailable(store: SQLiteStore) -> None:
    key = await make_session(store, model="local/tiny-llama")
    runner = make_runner(store, registry(f"http://127.0.0.1:{free_port()}/v1"))
    events = await events_of(runner, key, text_input("Hello?"))
    await runner.models.aclose()

    failed = events[-1]
    assert isinstance(failed, RunFailedEvent)
    assert (failed.error.code, failed.error.reason) == (Code.UNAVAILABLE, "MODEL_UNAVAILABLE")
    assert failed.run.state == RunState.FAILED
    assert [i.text for i in await stored(store, key)] == ["Hello?"]


async def test_rejected_credentials_fail_unauthenticated(store: SQLiteStore) -> None:
    key = await make_session(store, model="local/tiny-llama")
    async with FakeChatCompletions([Reply(status=401, error="bad key key-123")]) as fake:
        runner = make_runner(store, registry(fake.base_url))
        events = await events_of(runner, key, text_input("Hi"))
        await runner.models.aclose()

    failed = events[-1]
    assert isinstance(failed, RunFailedEvent)
    assert (failed.error.code, failed.error.reason) == (
        Code.UNAUTHENTICATED,
        "MODEL_UNAUTHENTICATED",
    )
    assert "key-123" not in failed.error.message
