"""The README's client, remote-session and cli sections: every example runs as written."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

import pytest
from cli_run import CLIENT_MODULE, ENTRY_POINT, cli_env
from readme_examples import blocks


async def run(command: list[str], address: str, cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(AGENTSESSIONS_ADDRESS=address),
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("section", "index", "expected"),
    [
        ("client", 0, ["Hello there", "Once more", "4 assistant Once more", "AGENT_NOT_FOUND"]),
        ("client", 1, ["Hi from sync", "1 sessions on this page"]),
        ("remote-session", 0, ["Hi! How can I help?", "agents/default/sessions/"]),
    ],
)
async def test_python_examples_run(
    section: str, index: int, expected: list[str], address: str, tmp_path: Path
) -> None:
    assert len(blocks(section, "python")) > index
    code = blocks(section, "python")[index]
    status, out, err = await run([sys.executable, "-c", code], address, tmp_path)
    assert status == 0, err
    for text in expected:
        assert text in out


async def test_cli_example_runs_line_by_line(address: str, tmp_path: Path) -> None:
    (example,) = blocks("cli", "sh")
    lines = [line for line in example.splitlines() if line.strip()]
    assert len(lines) >= 8
    for number, line in enumerate(lines):
        program, *args = shlex.split(line)
        assert program == "agentsessions"
        # The installed command hands these to the client's command line; running that
        # directly after the first line saves the server's start-up imports each time.
        command = [str(ENTRY_POINT)] if number == 0 else CLIENT_MODULE
        status, _, err = await run([*command, *args], address, tmp_path)
        assert status == 0, f"{line}: {err}"
    assert (tmp_path / "trip.jsonl").read_text().count('"item"') == 2
