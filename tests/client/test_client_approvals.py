"""The Python client and tool approval: final_text stops with ApprovalRequired, resolve_approvals
decides, and the same stream carries the rest of the run."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agentsessions.client import ApprovalRequired, AsyncClient, Client, FailedPrecondition
from agentsessions.v1 import session_pb2
from e2e.test_approvals import Bank, script, start

Approval = session_pb2.ToolApproval
T = 30


async def banker(server_factory: Any, bank: Bank, *replies: str) -> str:
    """A server whose agent `banker` asks for a transfer, then answers `replies`."""
    return await start(server_factory, bank, script(*replies))


async def test_final_text_stops_for_approval_and_the_stream_goes_on_after_it(
    server_factory: Any,
) -> None:
    bank = Bank()
    async with AsyncClient(await banker(server_factory, bank, "Moved it.")) as client:
        session = (await client.create_session("agents/banker", {"display_name": "b"})).name
        stream = client.send_message(session, text="Pay 5", timeout=T)
        with pytest.raises(ApprovalRequired) as waiting:
            await stream.final_text()
        assert waiting.value.reason == "APPROVAL_REQUIRED"
        assert [c.call_id for c in waiting.value.calls] == ["call-1"]
        run = waiting.value.run
        assert run.startswith(session + "/runs/")
        assert bank.transfers == []

        decided = await client.resolve_approvals(run, approve=["call-1"], timeout=T)
        assert [a.decision for a in decided.approvals] == [Approval.APPROVE]
        assert await stream.final_text() == "Moved it."
        assert bank.transfers == [5]
        with pytest.raises(FailedPrecondition) as again:
            await client.resolve_approvals(run, reject={"call-1": "no"}, timeout=T)
        assert again.value.reason == "ALREADY_DECIDED"


async def test_the_blocking_client_rejects_with_a_message(server_factory: Any) -> None:
    bank = Bank()
    address = await banker(server_factory, bank, "Fine, I won't.")

    def converse() -> tuple[str, str]:
        with Client(address) as client:
            session = client.create_session("agents/banker", {"display_name": "b"}).name
            stream = client.send_message(session, text="Pay 5", timeout=T)
            try:
                stream.final_text()
            except ApprovalRequired as waiting:
                client.resolve_approvals(waiting.run, reject={"call-1": "Not today."}, timeout=T)
            reply = stream.final_text()
            items = list(client.list_items(session))
            return reply, json.loads(items[2].item_json)["output"]

    reply, output = await asyncio.to_thread(converse)
    assert reply == "Fine, I won't."
    assert output == "Not today."
    assert bank.transfers == []
