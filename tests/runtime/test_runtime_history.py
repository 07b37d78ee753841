"""The history policy: the newest N items, widened so that a tool output keeps its call."""

from __future__ import annotations

from agents.testing import ScriptedModel, assistant_message
from agentsessions.server.runtime import ModelRegistry, text_input
from agentsessions.server.runtime.history import history_window
from agentsessions.server.store import SQLiteStore
from runtime.runtime_support import (
    add_history,
    call_item,
    events_of,
    make_runner,
    make_session,
    output_item,
    user,
)


def assistant(text: str) -> dict[str, object]:
    return {"role": "assistant", "content": text}


async def test_window_is_the_newest_items_when_nothing_is_split(store: SQLiteStore) -> None:
    key = await make_session(store)
    await add_history(store, key, [user("1"), assistant("a"), user("2"), assistant("b")])
    assert await history_window(store, key, 2) == 2
    assert await history_window(store, key, 4) is None  # everything fits
    assert await history_window(store, key, 0) is None  # 0: no limit


async def test_window_widens_back_to_the_call(store: SQLiteStore) -> None:
    key = await make_session(store)
    await add_history(
        store,
        key,
        [user("1"), assistant("a"), user("2"), call_item("c1"), output_item("c1"), assistant("b")],
    )
    # The newest 2 are [output c1, b]: widened to include call c1.
    assert await history_window(store, key, 2) == 3


async def test_window_widens_past_parallel_calls(store: SQLiteStore) -> None:
    key = await make_session(store)
    filler = [user(str(n)) for n in range(40)]
    turn = [call_item("c1"), call_item("c2"), call_item("c3")]
    turn += [output_item("c1"), output_item("c2"), output_item("c3"), assistant("done")]
    await add_history(store, key, filler + turn)
    # [c3 output, done] needs c3; then c1 and c2 outputs come in and need their calls too.
    assert await history_window(store, key, 2) == 7
    assert await history_window(store, key, 30) == 30


async def test_window_stops_where_a_call_was_never_stored(store: SQLiteStore) -> None:
    key = await make_session(store)
    await add_history(store, key, [user(str(n)) for n in range(3)] + [output_item("lost")])
    assert await history_window(store, key, 1) == 1


async def test_the_model_sees_the_widened_window(store: SQLiteStore) -> None:
    key = await make_session(store, history_max_items=2)
    history = [
        user("old"),
        assistant("a"),
        user("2"),
        call_item("c1"),
        output_item("c1"),
        assistant("b"),
    ]
    await add_history(store, key, history)
    model = ScriptedModel([[assistant_message("new")]])
    runner = make_runner(store, ModelRegistry(models={"scripted": model}))
    await events_of(runner, key, text_input("next"))

    assert model.first_call is not None
    assert model.first_call.input == [*history[3:], user("next")]
