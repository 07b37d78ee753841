"""A pseudo-terminal driver: run a command as if a person typed into it, and read its screen."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Sequence

# Makes the pty the child's controlling terminal, so Ctrl-C typed into it sends SIGINT.
_TAKE_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


class Terminal:
    """`Terminal(command, env)`; `expect(text)` waits for output, `type(text)` sends keys."""

    def __init__(self, command: Sequence[str], env: dict[str, str]) -> None:
        self._master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _TAKE_TERMINAL, *command],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "dumb"},
            start_new_session=True,
        )
        os.close(slave)
        self.screen = ""  # everything printed so far
        self._seen = 0  # how much of it expect() has consumed

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self._master, 4096)
        except OSError:  # the child closed the terminal
            return False
        self.screen += chunk.decode(errors="replace")
        return bool(chunk)

    def expect(self, text: str, timeout: float = 30.0) -> str:
        """Waits until `text` is printed after the last match; returns the output up to it."""
        deadline = time.monotonic() + timeout
        while (found := self.screen.find(text, self._seen)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (not self._read(remaining) and self.process.poll() is not None):
                raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen}")
        before = self.screen[self._seen : found]
        self._seen = found + len(text)
        return before

    def type(self, keys: str) -> None:
        os.write(self._master, keys.encode())

    def wait(self, timeout: float = 30.0) -> int:
        """Reads until the command exits and returns its exit code."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        return self.process.wait(timeout=1)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self._master)
