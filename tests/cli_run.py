"""Running the real `agentsessions` command in a subprocess, as the CLI tests do."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

# The installed console script; it runs `serve` itself and hands every other
# command to the client's command line.
ENTRY_POINT = Path(sys.executable).with_name("agentsessions")
CLIENT_MODULE = [sys.executable, "-m", "agentsessions.client.cli"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


Cli = Callable[..., Awaitable[Result]]


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSESSIONS_")}
    return {**env, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **extra}


async def run_cli(
    address: str, *args: str, stdin: str | None = None, entry_point: bool = False, **env: str
) -> Result:
    """Runs one command to its end and returns its exit code and output."""
    command = [str(ENTRY_POINT)] if entry_point else CLIENT_MODULE
    process = await asyncio.create_subprocess_exec(
        *command,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(**{"AGENTSESSIONS_ADDRESS": address, **env}),
    )
    out, err = await asyncio.wait_for(
        process.communicate(stdin.encode() if stdin is not None else None), 120
    )
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())
