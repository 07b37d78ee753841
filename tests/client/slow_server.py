"""A server process whose echo model pauses between words, for tests that kill it mid-run.

`python tests/client/slow_server.py --word-delay S [serve flags]` serves like `agentsessions
serve` (flags, then AGENTSESSIONS_* variables) and prints the same `listening` line.
`SlowServer(db, word_delay=…, port=…)` runs it from a test: `kill()` is a crash, and a new
one on the same port and database finds the runs the killed one left.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

LISTENING = "agentsessions listening on "


class SlowServer:
    """`with SlowServer(db, word_delay=0.2) as server:` starts it on a free port; `kill()`."""

    def __init__(self, db: Path, *, word_delay: float, port: int = 0, **env: str) -> None:
        self.db, self.word_delay, self.requested_port, self.env = db, word_delay, port, env
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> SlowServer:
        command = [sys.executable, __file__, "--word-delay", str(self.word_delay)]
        command += ["--port", str(self.requested_port), "--db", str(self.db)]
        env = {**os.environ, "AGENTSESSIONS_LOG_LEVEL": "WARNING", **self.env}
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if LISTENING not in line:
            self.process.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def close(self) -> None:
        """Kills the process if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def __enter__(self) -> SlowServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


async def _serve(argv: list[str]) -> None:
    from agentsessions.server import config as config_module
    from agentsessions.server.app import AgentSessionsServer
    from agentsessions.server.logs import configure_logging
    from agentsessions.server.runtime import ModelRegistry

    parser = argparse.ArgumentParser()
    config_module.add_arguments(parser)
    parser.add_argument("--word-delay", type=float, default=0.2)
    args = parser.parse_args(argv)
    word_delay = args.word_delay
    del args.word_delay
    config = config_module.load(args)
    configure_logging(config.log_level)
    models = ModelRegistry.from_providers({}, echo_word_delay=word_delay)
    server = AgentSessionsServer(config, models=models)
    await server.start()
    print(f"{LISTENING}{config.host}:{server.port}", flush=True)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    try:
        await stopping.wait()
    finally:
        await server.stop(1.0)


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1:]))
