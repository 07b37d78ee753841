"""`serve --workers N`: a supervisor process and N server processes sharing one port.

The supervisor does not serve. It reserves the port (a socket bound with SO_REUSEPORT but not
listening, so the port stays ours and `--port 0` has a number to hand out), starts N copies of
`agentsessions serve` that bind it with SO_REUSEPORT too, prints the one
`agentsessions listening on HOST:PORT` line once every worker listens, restarts a worker that
dies, and on SIGTERM or SIGINT passes SIGTERM on and waits for every worker's own graceful stop.

The kernel spreads connections, not calls, over the workers: a client with one channel talks
to one worker. The workers share the SQLite file; its locks order their writes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from .config import Config

log = logging.getLogger("agentsessions.server")

MAX_WORKERS = 64
# The hidden `serve` flag that makes a process a worker: it binds with SO_REUSEPORT and stops
# when the supervisor, whose pid the flag carries, is gone.
WORKER_FLAG = "--worker-of"
LISTENING = re.compile(rb"agentsessions listening on \S+:(\d+)")
START_TIMEOUT = 60.0  # seconds a worker gets to print its listening line
RESTART_DELAY = 0.5  # seconds between a worker's death and its replacement
# More deaths than this within CRASH_WINDOW seconds and the supervisor gives up (exit 1).
MAX_CRASHES = 5
CRASH_WINDOW = 10.0
STOP_MARGIN = 5.0  # seconds past the grace period before a stopping worker is killed
PARENT_POLL = 1.0  # seconds between a worker's checks that its supervisor still runs


class WorkerFailed(Exception):
    """A worker exited, or said nothing, before it listened."""


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to host:port with SO_REUSEPORT and not listening: the port is ours.

    The workers bind the same port with SO_REUSEPORT; the kernel hands connections only to
    listening sockets, so this one never takes any. Fails as a single server's bind would
    when the port is held by a process that did not set SO_REUSEPORT.
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    family, kind, proto, _, address = socket.getaddrinfo(
        bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def worker_argv(argv: list[str], port: int) -> list[str]:
    """The command of a worker: the supervisor's own flags, then the ones a worker differs in.

    argparse keeps the last value of a repeated flag, so these win over the supervisor's.
    """
    flags = ["--workers", "1", "--port", str(port), WORKER_FLAG, str(os.getpid())]
    return [sys.executable, "-m", "agentsessions.server.cli", "serve", *argv, *flags]


class Worker:
    """One slot: its process now, and the task that drains that process's stdout."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.drain: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None


class Supervisor:
    def __init__(self, config: Config, argv: list[str]) -> None:
        self.config = config
        self.argv = argv
        self.port = 0
        self.workers = [Worker(i) for i in range(config.workers)]
        # Set by SIGTERM or SIGINT, or when workers keep dying (then `failed` is True too).
        self.finish = asyncio.Event()
        self.failed = False
        self._crashes: collections.deque[float] = collections.deque()

    async def run(self) -> int:
        """Serves until SIGTERM or SIGINT (returns 0) or until workers keep dying (returns 1)."""
        try:
            reservation = reserve_port(self.config.host, self.config.port)
        except OSError as exc:
            address = f"{self.config.host}:{self.config.port}"
            print(f"agentsessions serve: cannot listen on {address}: {exc}", file=sys.stderr)
            return 1
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.finish.set)
        keepers: list[asyncio.Task[None]] = []
        with reservation:
            self.port = reservation.getsockname()[1]
            try:
                if await self._start_all():
                    print(f"agentsessions listening on {self.config.host}:{self.port}", flush=True)
                    keepers = [asyncio.create_task(self._keep(w)) for w in self.workers]
                    await self.finish.wait()
            finally:
                for task in keepers:
                    task.cancel()
                await asyncio.gather(*keepers, return_exceptions=True)
                await self._stop_all()
        if self.failed:
            return 1
        log.info("stopped")
        return 0

    async def _start_all(self) -> bool:
        """Starts every worker at once; False when one fails or a stop comes first."""
        tasks = [asyncio.create_task(self._start(w)) for w in self.workers]
        started: asyncio.Future[Any] = asyncio.gather(*tasks)
        finish: asyncio.Future[Any] = asyncio.ensure_future(self.finish.wait())
        try:
            await asyncio.wait([started, finish], return_when=asyncio.FIRST_COMPLETED)
            if self.finish.is_set():
                return False
            started.result()
            return True
        except WorkerFailed as exc:
            print(f"agentsessions serve: {exc}", file=sys.stderr)
            self.failed = True
            return False
        finally:
            for task in (*tasks, finish):
                task.cancel()
            await asyncio.gather(*tasks, started, finish, return_exceptions=True)

    async def _start(self, worker: Worker) -> None:
        """Starts the worker's process and waits for its listening line."""
        process = await asyncio.create_subprocess_exec(
            *worker_argv(self.argv, self.port), stdout=asyncio.subprocess.PIPE
        )
        worker.process = process
        assert process.stdout is not None
        try:
            listening = await asyncio.wait_for(_listening_line(process.stdout), START_TIMEOUT)
        except TimeoutError:
            process.kill()
            message = f"worker {worker.index} did not listen in {START_TIMEOUT:g} s"
            raise WorkerFailed(message) from None
        if not listening:
            code = await process.wait()
            raise WorkerFailed(f"worker {worker.index} exited with {code} before it listened")
        worker.drain = asyncio.create_task(_drain(process.stdout))
        log.info(
            "worker listening",
            extra={"worker": worker.index, "pid": process.pid, "port": self.port},
        )

    async def _keep(self, worker: Worker) -> None:
        """Replaces the worker whenever its process exits, until too many die too fast."""
        while True:
            assert worker.process is not None
            code = await worker.process.wait()
            if self.finish.is_set():
                return
            log.warning(
                "worker exited; restarting it",
                extra={"worker": worker.index, "pid": worker.process.pid, "returncode": code},
            )
            if self._too_many_crashes():
                log.error(
                    "workers keep exiting; stopping",
                    extra={"crashes": MAX_CRASHES, "within_seconds": CRASH_WINDOW},
                )
                self.failed = True
                self.finish.set()
                return
            await asyncio.sleep(RESTART_DELAY)
            try:
                await self._start(worker)
            except WorkerFailed as exc:
                log.warning(str(exc), extra={"worker": worker.index})

    def _too_many_crashes(self) -> bool:
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and self._crashes[0] < now - CRASH_WINDOW:
            self._crashes.popleft()
        return len(self._crashes) >= MAX_CRASHES

    async def _stop_all(self) -> None:
        """SIGTERM to every worker, then waits for their graceful stops; kills stragglers."""
        running = [w.process for w in self.workers if w.alive and w.process is not None]
        log.info("stopping workers", extra={"workers": len(running)})
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        waiting = asyncio.gather(*(p.wait() for p in running))
        try:
            await asyncio.wait_for(waiting, self.config.grace_seconds + STOP_MARGIN)
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    log.warning("worker did not stop; killing it", extra={"pid": process.pid})
                    process.kill()
                    await process.wait()
        drains = [w.drain for w in self.workers if w.drain is not None]
        await asyncio.gather(*drains, return_exceptions=True)


async def _listening_line(stream: asyncio.StreamReader) -> bool:
    """Reads until the listening line (True) or the end of the stream (False)."""
    while line := await stream.readline():
        if LISTENING.search(line):
            return True
    return False


async def _drain(stream: asyncio.StreamReader) -> None:
    """Reads what a worker writes to stdout after its listening line, so it never blocks."""
    while await stream.read(65536):
        pass


def supervise(config: Config, argv: list[str]) -> int:
    """Runs the supervisor of `config.workers` workers; `argv` are the `serve` flags given."""
    return asyncio.run(Supervisor(config, argv).run())


async def follow_supervisor(pid: int, stop: Callable[[], None]) -> None:
    """In a worker: calls `stop` once the supervisor `pid` is gone (say, SIGKILLed)."""
    while True:
        await asyncio.sleep(PARENT_POLL)
        if os.getppid() != pid:
            break
    log.warning("the supervisor is gone; stopping", extra={"supervisor_pid": pid})
    stop()
