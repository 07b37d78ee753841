"""Runs `agentsessions serve` as a separate process, for tests that kill it or measure it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

LISTENING = re.compile(r"agentsessions listening on (\S+):(\d+)")


class ServerProcess:
    """`with ServerProcess(db) as server:` starts the server on a free port and stops it."""

    def __init__(
        self, db: Path, *args: str, port: int = 0, env: Mapping[str, str] | None = None
    ) -> None:
        self.db = db
        self.args = args
        self.requested_port = port
        self.env = dict(env or {})  # AGENTSESSIONS_* settings for this server
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> ServerProcess:
        command = [sys.executable, "-m", "agentsessions.server.cli", "serve"]
        command += ["--port", str(self.requested_port), "--db", str(self.db), *self.args]
        env = {**os.environ, "AGENTSESSIONS_LOG_LEVEL": "WARNING", **self.env}
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the server prints this once it serves
        match = LISTENING.search(line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(match[2])
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def children(self) -> list[int]:
        """The pids of the processes this one started (the workers of `--workers N`)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # The command name, in parentheses, may hold spaces: split after it.
                state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
            except OSError:
                continue  # exited while we looked
            if int(ppid) == self.pid and state != "Z":
                found.append(int(stat.parent.name))
        return sorted(found)

    def rss_bytes(self) -> int:
        """Resident memory now, from /proc."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        kb = int(re.search(r"VmRSS:\s+(\d+) kB", status)[1])  # type: ignore[index]
        return kb * 1024

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            workers = self.children()  # a killed supervisor leaves its workers running
            self.process.kill()
            self.process.wait()
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
