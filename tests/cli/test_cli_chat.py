"""The interactive chat, driven through a pseudo-terminal as a person would use it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from agents.testing import ScriptedModel, assistant_message, function_call
from agentsessions.client import AsyncClient
from agentsessions.server.runtime import ModelRegistry
from cli_run import CLIENT_MODULE, cli_env
from terminal import Terminal


def calculator_model() -> ScriptedModel:
    """Each run: call the `calculate` tool, then answer with its result."""
    return ScriptedModel(
        [
            [function_call("calculate", {"expression": "6*7"}, call_id="call-1")],
            [assistant_message("6 times 7 is 42")],
        ]
    )


@pytest.fixture
async def client(server_factory) -> AsyncIterator[AsyncClient]:
    models = ModelRegistry(models={"scripted": calculator_model}, echo_word_delay=0.2)
    server = await server_factory(models=models)
    async with AsyncClient(f"127.0.0.1:{server.port}") as connected:
        yield connected


def chat_terminal(client: AsyncClient, *args: str) -> Terminal:
    env = cli_env(AGENTSESSIONS_ADDRESS=client.address)
    return Terminal([*CLIENT_MODULE, "chat", *args], env)


async def test_chat_streams_replies_shows_tools_and_keeps_the_session(
    client: AsyncClient,
) -> None:
    await client.create_agent(
        {"display_name": "Calculator", "model": "scripted", "tools": ["calculate"]},
        agent_id="calc",
    )
    session = await client.create_session("agents/calc", {"display_name": "maths"})

    def use_chat() -> tuple[list[str], int]:
        terminal = chat_terminal(client, session.name)
        try:
            terminal.expect("you> ")
            terminal.type("what is 6*7?\r")
            shown = [
                terminal.expect('⚙ calculate({"expression":"6*7"})'),
                terminal.expect("⚙ → 42"),
                terminal.expect("6 times 7 is 42"),
            ]
            terminal.expect("you> ")
            terminal.type("/session\r")
            terminal.expect(session.name)
            terminal.expect("you> ")
            terminal.type("\x04")  # Ctrl-D leaves
            return shown, terminal.wait()
        finally:
            terminal.close()

    shown, code = await asyncio.to_thread(use_chat)
    assert code == 0
    assert "what is 6*7?" in shown[0]
    items = [i async for i in await client.list_items(session.name)]
    assert [(i.type, i.role) for i in items] == [
        ("message", "user"),
        ("function_call", ""),
        ("function_call_output", ""),
        ("message", "assistant"),
    ]
    assert items[0].text == "what is 6*7?" and items[-1].text == "6 times 7 is 42"


async def test_ctrl_c_stops_a_reply_and_the_chat_goes_on(client: AsyncClient) -> None:
    words = " ".join(f"w{n}" for n in range(40))

    def use_chat() -> tuple[str, int]:
        terminal = chat_terminal(client)  # no SESSION: a new one of agents/default
        try:
            name = terminal.expect("Chatting in").strip()
            terminal.expect("you> ")
            terminal.type(words + "\r")
            terminal.expect("w0 w1 ")  # the reply is streaming, word by word
            terminal.type("\x03")
            terminal.expect("[stopped]")
            terminal.expect("you> ")
            terminal.type("still here\r")
            terminal.expect("still here")  # what the terminal echoes as typed
            terminal.expect("still here")  # the reply
            terminal.expect("you> ")
            terminal.type("/exit\r")
            return name, terminal.wait()
        finally:
            terminal.close()

    name, code = await asyncio.to_thread(use_chat)
    assert code == 0
    session = name.removeprefix("session: ").split()[0]
    texts = [i.text async for i in await client.list_items(session)]
    assert texts[0] == words and texts[-2:] == ["still here", "still here"]
    assert words not in texts[1:], "the stopped reply was not completed"
