"""The command line against a real server: the commands a user runs, their output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from cli_run import Cli, run_cli


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("agentsessions: error: ")
    assert "Traceback" not in stderr
    return lines[0]


async def test_agent_session_chat_list_export_import(cli: Cli, tmp_path: Path) -> None:
    created = await cli(
        "agents", "create", "--id", "helper", "--display-name", "Helper",
        "--instructions", "Be brief.", "--json", entry_point=True,
    )  # fmt: skip
    assert created.code == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "agents/helper"

    session = await cli("sessions", "create", "helper", "--id", "trip", "--display-name", "Trip",
                        "--label", "team=a")  # fmt: skip
    assert session.code == 0, session.stderr
    assert "agents/helper/sessions/trip" in session.stdout and "team=a" in session.stdout

    chat = await cli("chat", "helper/trip", "-m", "héllo from a script 👋")
    assert (chat.code, chat.stdout) == (0, "héllo from a script 👋\n"), chat.stderr

    listed = await cli("sessions", "list", "agents/helper")
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "DISPLAY", "NAME", "STATE", "ITEMS", "LAST", "ACTIVITY"]
    assert row.split()[:4] == ["agents/helper/sessions/trip", "Trip", "ACTIVE", "2"]
    items = await cli("items", "list", "helper/trip", "--json")
    assert [i["role"] for i in json.loads(items.stdout)] == ["user", "assistant"]

    export_file = tmp_path / "trip.jsonl"
    exported = await cli("sessions", "export", "helper/trip", "-o", str(export_file))
    assert exported.code == 0, exported.stderr
    lines = [json.loads(line) for line in export_file.read_text().splitlines()]
    assert list(lines[0]) == ["session"] and [list(r) for r in lines[1:]] == [["item"]] * 2

    imported = await cli("sessions", "import", str(export_file), "--id", "copy", "--json")
    assert imported.code == 0, imported.stderr
    copy = json.loads(imported.stdout)
    assert (copy["name"], copy["display_name"]) == ("agents/helper/sessions/copy", "Trip")
    assert copy["labels"] == {"team": "a"}
    original = json.loads((await cli("items", "list", "helper/trip", "--json")).stdout)
    copied = json.loads((await cli("items", "list", "helper/copy", "--json")).stdout)
    assert [i["item_json"] for i in copied] == [i["item_json"] for i in original]
    assert [i["sequence"] for i in copied] == ["1", "2"]

    # The export can also stream through a pipe.
    piped = await cli("sessions", "export", "helper/trip")
    again = await cli("sessions", "import", "-", "--display-name", "Piped", stdin=piped.stdout)
    assert again.code == 0 and "Piped" in again.stdout


async def test_update_pop_clear_and_delete(cli: Cli) -> None:
    assert (await cli("sessions", "create", "--id", "s1")).code == 0
    updated = await cli("sessions", "update", "s1", "--state", "paused", "--json")
    assert json.loads(updated.stdout)["state"] == "PAUSED"
    renamed = await cli("agents", "update", "default", "--display-name", "Renamed", "--json")
    assert json.loads(renamed.stdout)["display_name"] == "Renamed"
    assert (await cli("chat", "s1", "-m", "hi")).code == 0
    popped = await cli("items", "pop", "s1", "--json")
    assert json.loads(popped.stdout)["item"]["role"] == "assistant"
    cleared = await cli("items", "clear", "s1", "--json")
    assert json.loads(cleared.stdout) == {"deleted_item_count": 1}
    deleted = await cli("sessions", "delete", "s1")
    assert (deleted.code, deleted.stdout) == (0, "deleted agents/default/sessions/s1\n")
    gone = await cli("sessions", "get", "s1")
    assert gone.code == 3
    one_line_error(gone.stderr)


async def test_errors_are_one_line_with_distinct_exit_codes(cli: Cli) -> None:
    invalid = await cli("agents", "create", "--display-name", "x", "--id", "Bad_Id")
    assert invalid.code == 2
    assert "agent_id" in one_line_error(invalid.stderr)

    usage = await cli("sessions", "get")
    assert usage.code == 2
    assert "SESSION" in one_line_error(usage.stderr)

    missing = await cli("agents", "get", "nobody")
    assert missing.code == 3
    assert "AGENT_NOT_FOUND" in one_line_error(missing.stderr)

    refused = await cli("agents", "create", "--display-name", "x", "--id", "default")
    assert refused.code == 1
    assert "ALREADY_EXISTS" in one_line_error(refused.stderr)

    unreachable = await cli("agents", "list", "--address", "127.0.0.1:1")
    assert unreachable.code == 5
    assert "cannot reach the server at 127.0.0.1:1" in one_line_error(unreachable.stderr)

    bad_file = await cli("sessions", "import", "-", stdin='{"session": {}}\nnot json\n')
    assert bad_file.code == 2
    assert "line 2: not JSON" in one_line_error(bad_file.stderr)


async def test_one_shot_json_streams_events(cli: Cli) -> None:
    result = await cli("chat", "-m", "three small words", "--json")
    assert result.code == 0, result.stderr
    assert result.stderr.startswith("session: agents/default/sessions/")
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [next(k for k in event if k not in ("sequence", "event_time")) for event in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_completed"
    assert [e["text_delta"]["delta"] for e in events if "text_delta" in e] == [
        "three ", "small ", "words",
    ]  # fmt: skip
    assert events[-1]["run_completed"]["final_output"] == "three small words"


async def test_address_and_token_from_flags_or_environment(
    cli: Cli, address: str, guarded_address: str
) -> None:
    by_flag = await run_cli("127.0.0.1:1", "agents", "get", "default", "--address", address)
    assert by_flag.code == 0, by_flag.stderr

    anonymous = await run_cli(guarded_address, "agents", "get", "a")
    assert anonymous.code == 4
    assert "UNAUTHENTICATED" in one_line_error(anonymous.stderr)
    reader = await run_cli(guarded_address, "agents", "get", "a", "--token", "reader")
    assert reader.code == 4
    assert "PERMISSION_DENIED" in one_line_error(reader.stderr)
    good = await run_cli(guarded_address, "agents", "get", "a", AGENTSESSIONS_TOKEN="good")
    assert good.code == 0, good.stderr
    assert "Guarded" in good.stdout
