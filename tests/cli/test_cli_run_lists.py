"""`agentsessions runs list`: by session, by agent, every session, and --waiting."""

from __future__ import annotations

import functools
from typing import Any

from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agentsessions.client import AsyncClient
from agentsessions.server.runtime import ModelRegistry
from cli_run import Cli, run_cli
from e2e.test_approvals import Bank


async def two_banks(server_factory: Any) -> Cli:
    """Agents banker and teller, whose transfers wait for approval, with a session each
    (banker/b, teller/t); and session d of agents/default (the echo model)."""
    pay = ModelStep(output=[function_call("transfer", '{"amount": 5}', call_id="call-1")])
    model = ScriptedModel([pay, pay, ModelStep(output=[assistant_message("Moved it.")])])
    bank = Bank()
    server = await server_factory(
        models=ModelRegistry(models={"scripted": model}), tools=bank.tools
    )
    address = f"127.0.0.1:{server.port}"
    async with AsyncClient(address) as client:
        for agent_id, session_id in (("banker", "b"), ("teller", "t")):
            await client.create_agent(
                {"display_name": agent_id, "model": "scripted", "tools": ["transfer"]},
                agent_id=agent_id,
            )
            await client.create_session(
                f"agents/{agent_id}", {"display_name": session_id}, session_id=session_id
            )
        await client.create_session("agents/default", {"display_name": "d"}, session_id="d")
    return functools.partial(run_cli, address)


def rows(listed: Any) -> list[tuple[str, str]]:
    """(name, state) of each run a `runs list` table shows."""
    assert listed.code == 0, listed.stderr
    return [(line.split()[0], line.split()[1]) for line in listed.stdout.splitlines()[1:]]


async def test_runs_list_waiting_finds_them_across_agents(server_factory: Any) -> None:
    cli = await two_banks(server_factory)
    assert (await cli("chat", "d", "-m", "hello")).code == 0
    for session in ("banker/b", "teller/t"):
        stopped = await cli("chat", session, "-m", "Pay 5")
        assert "APPROVAL_REQUIRED" in stopped.stderr

    everything = rows(await cli("runs", "list"))
    assert [state for _, state in everything] == [
        "REQUIRES_APPROVAL",
        "REQUIRES_APPROVAL",
        "COMPLETED",
    ]
    waiting = rows(await cli("runs", "list", "--waiting"))
    assert waiting == everything[:2]
    assert waiting[0][0].startswith("agents/teller/sessions/t/runs/")
    assert waiting[1][0].startswith("agents/banker/sessions/b/runs/")
    assert rows(await cli("runs", "list", "banker/-", "--waiting")) == waiting[1:]
    assert rows(
        await cli("runs", "list", "agents/-/sessions/-", "--filter", "state = COMPLETED")
    ) == [everything[2]]
    assert rows(await cli("runs", "list", "banker/b")) == waiting[1:]

    approved = await cli("runs", "approve", waiting[0][0])
    assert approved.code == 0, approved.stderr
    assert rows(await cli("runs", "list", "--waiting")) == waiting[1:]


async def test_runs_list_refuses_a_bad_filter(cli: Cli) -> None:
    bad = await cli("runs", "list", "--filter", "state = WAITING")
    assert bad.code != 0 and "INVALID_FILTER" in bad.stderr and "Traceback" not in bad.stderr
    both = await cli("runs", "list", "--waiting", "--filter", "state = FAILED")
    assert both.code == 2 and "--waiting" in both.stderr
    ambiguous = await cli("runs", "list", "agents/-/sessions/s")
    assert ambiguous.code != 0 and "INVALID_NAME" in ambiguous.stderr
