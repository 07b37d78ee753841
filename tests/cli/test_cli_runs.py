"""`agentsessions runs list|get|cancel|follow` and `chat --continue-on-disconnect`."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator

import pytest
from agentsessions.client import AsyncClient
from agentsessions.server.runtime import ModelRegistry
from agentsessions.v1 import session_pb2
from cli_run import CLIENT_MODULE, Cli, cli_env, run_cli

Run = session_pb2.Run

WORDS = " ".join(f"w{n}" for n in range(1, 11))


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.startswith("agentsessions:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


async def finished_run(cli: Cli, session: str, text: str) -> str:
    """Sends `text` with `chat -m` and returns the name of the run it made."""
    sent = await cli("chat", session, "-m", text, "--continue-on-disconnect")
    assert sent.code == 0, sent.stderr
    (line,) = [line for line in sent.stderr.splitlines() if line.startswith("run: ")]
    return line.removeprefix("run: ")


async def test_list_get_follow_and_cancel_a_finished_run(cli: Cli) -> None:
    created = await cli("sessions", "create", "--id", "runs", "--display-name", "Runs")
    assert created.code == 0, created.stderr
    run = await finished_run(cli, "runs", "hello run world")
    assert run.startswith("agents/default/sessions/runs/runs/")

    listed = await cli("runs", "list", "runs")
    assert listed.code == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "STATE", "STARTED", "ENDED", "EVENTS", "TOKENS"]
    assert row.split()[:2] == [run, "COMPLETED"]
    as_json = json.loads((await cli("runs", "list", "default/runs", "--json")).stdout)
    assert [r["name"] for r in as_json] == [run]

    run_id = run.rsplit("/", 1)[1]
    for spelled in (run, f"default/runs/{run_id}", f"runs/{run_id}"):
        got = await cli("runs", "get", spelled)
        assert got.code == 0, got.stderr
        assert ["name", run] in [line.split() for line in got.stdout.splitlines()]
        assert "COMPLETED" in got.stdout
    shown = json.loads((await cli("runs", "get", run, "--json")).stdout)
    assert shown["state"] == "COMPLETED"
    last = int(shown["last_event_sequence"])

    followed = await cli("runs", "follow", run)
    assert (followed.code, followed.stdout) == (0, "hello run world\n"), followed.stderr
    assert "[completed]" in followed.stderr
    # Only the events after a position; as JSON lines with --json.
    events = await cli("runs", "follow", run, "--after", "2", "--json")
    assert events.code == 0, events.stderr
    sequences = [int(json.loads(line)["sequence"]) for line in events.stdout.splitlines()]
    assert sequences == list(range(3, last + 1))
    assert "run_completed" in events.stdout.splitlines()[-1]

    cancelled = await cli("runs", "cancel", run, "--after-turn")
    assert cancelled.code == 0, cancelled.stderr
    assert "COMPLETED" in cancelled.stdout  # it had ended: shown unchanged


async def test_errors_have_the_usual_exit_codes(cli: Cli) -> None:
    missing = await cli("runs", "get", "default/nope/r1")
    assert missing.code == 3
    assert "NOT_FOUND" in error_line(missing.stderr)
    followed = await cli("runs", "follow", "agents/default/sessions/nope/runs/r1")
    assert followed.code == 3
    bad = await cli("runs", "follow", "not-a-run")
    assert bad.code == 2
    assert "not a run" in error_line(bad.stderr)
    negative = await cli("runs", "follow", "s/r", "--after", "-1")
    assert negative.code == 2
    no_session = await cli("runs", "list", "nope")
    assert no_session.code == 3


@pytest.fixture
async def slow(server_factory) -> AsyncIterator[tuple[AsyncClient, Cli]]:
    """A client and the command line on a server whose echo model waits 0.2 s per word."""
    server = await server_factory(models=ModelRegistry(echo_word_delay=0.2))
    address = f"127.0.0.1:{server.port}"
    async with AsyncClient(address) as client:
        yield client, functools.partial(run_cli, address)


async def test_cancel_a_running_run_then_follow_it(slow: tuple[AsyncClient, Cli]) -> None:
    client, cli = slow
    session = (await client.create_session("agents/default", {"display_name": "c"})).name
    stream = client.send_message(session, text=WORDS, on_disconnect="continue")
    first = await anext(aiter(stream))
    assert first.HasField("run_started")

    cancelled = await cli("runs", "cancel", stream.run)
    assert cancelled.code == 0, cancelled.stderr
    assert "CANCELLED" in cancelled.stdout and "IMMEDIATE" in cancelled.stdout

    followed = await cli("runs", "follow", stream.run)
    assert followed.code == 1
    assert "[cancelled:" in followed.stderr
    assert "CANCELLED" in error_line(followed.stderr)


async def test_a_run_outlives_a_chat_that_was_killed(slow: tuple[AsyncClient, Cli]) -> None:
    client, cli = slow
    session = (await client.create_session("agents/default", {"display_name": "k"})).name
    process = await asyncio.create_subprocess_exec(
        *CLIENT_MODULE, "chat", session, "-m", WORDS, "--continue-on-disconnect",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=cli_env(AGENTSESSIONS_ADDRESS=client.address),
    )  # fmt: skip
    assert process.stderr is not None
    line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
    assert line.startswith("run: "), line
    run = line.strip().removeprefix("run: ")
    process.kill()
    await process.wait()

    followed = await cli("runs", "follow", run)
    assert (followed.code, followed.stdout) == (0, WORDS + "\n"), followed.stderr
    assert "COMPLETED" in (await cli("runs", "get", run)).stdout


async def test_chat_enqueue_answers_after_the_run_going_on(slow: tuple[AsyncClient, Cli]) -> None:
    client, cli = slow
    session = (await client.create_session("agents/default", {"display_name": "q"})).name
    stream = client.send_message(session, text=WORDS, on_disconnect="continue")
    await anext(aiter(stream))
    busy = await cli("chat", session, "-m", "hi")
    assert busy.code != 0 and "SESSION_BUSY" in busy.stderr
    queued = await cli("chat", session, "-m", "after you", "--enqueue")
    assert (queued.code, queued.stdout) == (0, "after you\n"), queued.stderr
    runs = [r async for r in await client.list_runs(session)]
    assert [r.state for r in runs] == [Run.COMPLETED, Run.COMPLETED]
    first = await client.get_run(stream.run)
    assert (first.end_time.seconds, first.end_time.nanos) <= (
        runs[0].start_time.seconds,
        runs[0].start_time.nanos,
    )
