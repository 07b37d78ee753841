"""Server processes to measure (the service, the bare gRPC baseline) and their CPU and memory."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

LISTENING = re.compile(r"listening on (\S+):(\d+)")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: [0] is the state, [1] the ppid."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


class Process:
    """A server started with `command`; it prints `... listening on HOST:PORT` once it serves."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.command = command
        self.env = {**os.environ, "AGENTSESSIONS_LOG_LEVEL": "WARNING", **(env or {})}
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Process:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = LISTENING.search(line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"{self.command[:4]} did not start: {line!r}")
        self.port = int(match[2])
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_bytes(self) -> int:
        """Resident memory now."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match is not None
        return int(match[1]) * 1024

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far by the process and its children (the
        workers of `serve --workers`), those still running and those that have exited."""
        fields = _stat(self.pid)
        # utime, stime, then cutime, cstime: the children this process has waited for.
        ticks = sum(int(v) for v in fields[11:15])
        return ticks / _CLOCK_TICKS + sum(self.children_cpu_seconds().values())

    def children_cpu_seconds(self) -> dict[int, float]:
        """User plus system CPU time of each running child, by pid."""
        used: dict[int, float] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = _stat(int(stat.parent.name))
            except OSError:
                continue  # exited while we looked
            if int(fields[1]) == self.pid:
                used[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        return used

    def kill(self) -> None:
        """SIGKILL: nothing runs on the way out, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill()


def service(db: Path, *args: str, config: Path | None = None) -> Process:
    """`agentsessions serve` on a free port with its database in `db`."""
    command = [sys.executable, "-m", "agentsessions.server.cli", "serve", "--port", "0"]
    command += ["--db", str(db), *args]
    if config is not None:
        command += ["--config", str(config)]
    return Process(command)


def bare_server(message_file: Path) -> Process:
    """The baseline: a bare grpc.aio server answering GetSession with a message from memory."""
    return Process([sys.executable, "-m", "benchmarks.bare_server", str(message_file)])


def slow_service(db: Path, word_delay: float) -> Process:
    """The service whose echo model waits `word_delay` seconds before each word."""
    return Process([sys.executable, "-m", "benchmarks.slow_server", str(db), str(word_delay)])
