"""`sessions compact` and `sessions delete` with several sessions, against a real server."""

from __future__ import annotations

import json

from agentsessions.client import AsyncClient
from cli_run import Cli

PREFIX = "Summary of the earlier conversation:\n\n"


async def seeded(address: str, session_id: str, count: int, agent: str = "default") -> str:
    async with AsyncClient(address) as client:
        if agent != "default":
            await client.create_agent({"display_name": agent}, agent_id=agent)
        session = await client.create_session(
            f"agents/{agent}", {"display_name": "cli"}, session_id=session_id
        )
        items = [{"role": "user", "content": f"m{n}"} for n in range(1, count + 1)]
        if items:
            await client.add_items(session.name, items)
        return session.name


async def item_texts(address: str, name: str) -> list[str]:
    async with AsyncClient(address) as client:
        return [item.text async for item in await client.list_items(name)]


def last_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentsessions: error: "), stderr
    return lines[0]


async def test_compact_with_a_summary_and_keep(cli: Cli, address: str) -> None:
    name = await seeded(address, "long", 8)

    done = await cli("sessions", "compact", "long", "--keep", "3", "--summary", "Five of them.")

    assert done.code == 0, done.stderr
    assert done.stdout == f"compacted {name}: replaced 5 items by a summary, 4 items now\n"
    assert await item_texts(address, name) == [PREFIX + "Five of them.", "m6", "m7", "m8"]
    nothing = await cli("sessions", "compact", "default/long", "--json")
    assert json.loads(nothing.stdout) == {
        "session": name,
        "removed_item_count": 0,
        "item_count": 4,
        "summary": None,
    }


async def test_compact_with_the_agents_model(cli: Cli, address: str) -> None:
    await seeded(address, "echoed", 3)
    done = await cli("sessions", "compact", "echoed", "--keep", "1", "--json")
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout)["summary"] == PREFIX + "user: m1\nuser: m2"


async def test_compact_errors_exit_with_their_codes(cli: Cli, address: str) -> None:
    await seeded(address, "short", 2)
    invalid = await cli("sessions", "compact", "short", "--keep", "-1")
    assert invalid.code == 2
    assert "keep_newest_count" in last_error_line(invalid.stderr)
    missing = await cli("sessions", "compact", "nope", "--summary", "x")
    assert missing.code == 3
    assert "SESSION_NOT_FOUND" in last_error_line(missing.stderr)


async def test_delete_several_sessions_at_once(cli: Cli, address: str) -> None:
    one = await seeded(address, "one", 1)
    two = await seeded(address, "two", 0)
    other = await seeded(address, "three", 0, agent="other")

    deleted = await cli("sessions", "delete", "one", "default/two", "other/three")

    assert deleted.code == 0, deleted.stderr
    assert deleted.stdout.splitlines() == [f"deleted {one}", f"deleted {two}", f"deleted {other}"]
    for session in ("one", "two", "other/three"):
        assert (await cli("sessions", "get", session)).code == 3


async def test_delete_several_is_all_or_nothing(cli: Cli, address: str) -> None:
    one = await seeded(address, "one", 1)
    two = await seeded(address, "two", 1)

    missing = await cli("sessions", "delete", "one", "gone", "two", "--json")
    assert missing.code == 3
    assert "agents/default/sessions/gone" in last_error_line(missing.stderr)
    assert await item_texts(address, one) == ["m1"] and await item_texts(address, two) == ["m1"]

    with_etag = await cli("sessions", "delete", "one", "two", "--etag", "abc")
    assert with_etag.code == 2
    assert "--etag works with one session only" in last_error_line(with_etag.stderr)

    deleted = await cli("sessions", "delete", "one", "two", "--json")
    assert json.loads(deleted.stdout) == {"deleted": [one, two]}
