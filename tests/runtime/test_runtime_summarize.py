"""The summary's input: the transcript the model reads, its limits, and which items it covers."""

from __future__ import annotations

import json

import pytest
from agents.testing import ScriptedModel, assistant_message
from agentsessions.server.domain.errors import Internal
from agentsessions.server.domain.models import ItemRecord
from agentsessions.server.runtime import compaction, summarize
from agentsessions.server.runtime.models import ModelRegistry
from agentsessions.server.store import SQLiteStore
from runtime.runtime_support import (
    add_history,
    call_item,
    make_runner,
    make_session,
    output_item,
    user,
)


def record(item: dict, sequence: int = 1) -> ItemRecord:
    kind = item.get("type", "message")
    role = item.get("role", "") if kind == "message" else ""
    text = item.get("content", "") if kind == "message" else ""
    return ItemRecord(sequence, json.dumps(item), kind, role, text, "", 0)


def test_each_kind_of_item_has_its_line() -> None:
    items = [
        user("What is 2+2?"),
        call_item("c1", "calculate", '{"expression": "2+2"}'),
        output_item("c1", "4"),
        {"type": "reasoning", "id": "r1", "summary": []},
        {"type": "web_search_call", "id": "w1", "status": "completed"},
        {"type": "item_reference", "id": "m1"},
        {"role": "assistant", "content": "It is\n4."},
    ]
    assert summarize.transcript([record(i) for i in items]).splitlines() == [
        "user: What is 2+2?",
        'tool call: calculate({"expression": "2+2"})',
        "tool output: 4",
        'tool call: {"type": "web_search_call", "id": "w1", "status": "completed"}',
        'item_reference: {"type": "item_reference", "id": "m1"}',
        "assistant: It is 4.",
    ]


def test_long_entries_are_cut_and_the_oldest_dropped_first(monkeypatch: pytest.MonkeyPatch) -> None:
    long_output = record(output_item("c1", "x" * 10_000))
    (line,) = summarize.transcript([long_output]).splitlines()
    assert len(line) == len("tool output: ") + summarize.LINE_MAX

    monkeypatch.setattr(summarize, "TRANSCRIPT_MAX", 40)
    items = [record(user(f"message {n}")) for n in range(1, 7)]
    assert summarize.transcript(items, omitted=10).splitlines() == [
        "user: message 1",
        "[14 earlier entries are not shown]",
        "user: message 6",
    ]


async def test_an_empty_summary_is_an_error() -> None:
    model = ScriptedModel([[assistant_message("  ")]])
    with pytest.raises(Internal) as caught:
        await summarize.summarize(model, [record(user("hi"))])
    assert caught.value.reason == "EMPTY_SUMMARY"


async def test_the_model_reads_the_first_item_and_the_newest_replaced_ones(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compaction, "SUMMARIZED_ITEMS_MAX", 4)
    key = await make_session(store)
    await add_history(store, key, [user(f"m{n}") for n in range(1, 11)])
    model = ScriptedModel([[assistant_message("summary")]])

    runner = make_runner(store, ModelRegistry(models={"scripted": model}))
    done = await runner.compact(key, keep_newest_count=2, summary_text="")

    assert done.removed_item_count == 8
    assert model.first_call is not None
    assert model.first_call.input == [
        user("user: m1\n[4 earlier entries are not shown]\nuser: m6\nuser: m7\nuser: m8")
    ]
    assert [i.text for i in await store.list_items(key)][1:] == ["m9", "m10"]
    assert await store.list_leases(limit=10) == []  # the compaction let go of the session
