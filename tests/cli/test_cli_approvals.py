"""`agentsessions runs approve`, and chat when a run stops for a tool call that needs approval."""

from __future__ import annotations

import functools
from typing import Any

from agentsessions.client import AsyncClient
from cli_run import Cli, run_cli
from e2e.test_approvals import Bank, script, start


async def banker_cli(server_factory: Any, bank: Bank, *replies: str) -> Cli:
    """The command line on a server whose agent `banker` (session `b`) asks for a transfer."""
    address = await start(server_factory, bank, script(*replies))
    async with AsyncClient(address) as client:
        await client.create_session("agents/banker", {"display_name": "b"}, session_id="b")
    return functools.partial(run_cli, address)


async def test_chat_stops_for_approval_then_runs_approve_and_follow(server_factory: Any) -> None:
    bank = Bank()
    cli = await banker_cli(server_factory, bank, "Moved it.")
    sent = await cli("chat", "banker/b", "-m", "Pay 5")
    assert sent.code != 0
    assert "transfer" in sent.stderr and "needs approval" in sent.stderr
    assert "APPROVAL_REQUIRED" in sent.stderr and "Traceback" not in sent.stderr
    listed = await cli("runs", "list", "banker/b")
    run = listed.stdout.splitlines()[1].split()[0]
    assert "REQUIRES_APPROVAL" in listed.stdout
    shown = await cli("runs", "get", run)
    assert 'transfer({"amount": 5}) waiting' in shown.stdout

    approved = await cli("runs", "approve", run)
    assert approved.code == 0, approved.stderr
    assert "APPROVE" in approved.stdout
    followed = await cli("runs", "follow", run)
    assert followed.code == 0, followed.stderr
    assert followed.stdout.endswith("Moved it.\n")
    assert bank.transfers == [5]

    again = await cli("runs", "approve", run, "call-1", "--reject", "--message", "no")
    assert again.code != 0 and "ALREADY_DECIDED" in again.stderr
    nothing = await cli("runs", "approve", run)
    assert nothing.code == 2 and "no call waiting" in nothing.stderr


async def test_the_interactive_chat_asks_before_the_tool_runs(server_factory: Any) -> None:
    bank = Bank()
    cli = await banker_cli(server_factory, bank, "Moved it.", "Kept it.")
    talked = await cli("chat", "banker/b", stdin="Pay 5\ny\n")
    assert talked.code == 0, talked.stderr
    assert "approve transfer? [y/N]" in talked.stdout + talked.stderr
    assert "Moved it." in talked.stdout
    assert bank.transfers == [5]


async def test_chat_interrupt_ends_the_waiting_run_and_answers(server_factory: Any) -> None:
    bank = Bank()
    cli = await banker_cli(server_factory, bank, "Hello.")
    waiting = await cli("chat", "banker/b", "-m", "Pay 5")
    assert "APPROVAL_REQUIRED" in waiting.stderr
    busy = await cli("chat", "banker/b", "-m", "Hi")
    assert busy.code != 0 and "SESSION_BUSY" in busy.stderr
    answered = await cli("chat", "banker/b", "-m", "Hi", "--interrupt")
    assert answered.code == 0, answered.stderr
    assert answered.stdout == "Hello.\n"
    listed = await cli("runs", "list", "banker/b")
    states = [line.split()[1] for line in listed.stdout.splitlines()[1:]]
    assert states == ["COMPLETED", "CANCELLED"]
    assert bank.transfers == []
