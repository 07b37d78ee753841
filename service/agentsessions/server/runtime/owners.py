"""Who executes a run: an id for this server process, and whether another process is gone.

An owner id is `host/pid/start`, where `start` is the process's start time as the kernel
counts it, so a pid reused by a later process is another owner. A process can tell that an
owner on its own host has died (no such process now) without waiting for its leases to
expire; an owner on another host is judged by lease expiry alone.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _host() -> str:
    return socket.gethostname().replace("/", "_")


def this_owner() -> str:
    """This process's owner id."""
    pid = os.getpid()
    return f"{_host()}/{pid}/{_start_ticks(pid) or '0'}"


def is_gone(owner: str) -> bool:
    """True only when `owner` ran on this host and that process no longer exists."""
    host, _, rest = owner.partition("/")
    pid_text, _, start = rest.partition("/")
    if host != _host() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return owner != this_owner()
    ticks = _start_ticks(pid)
    if ticks is None:
        if Path("/proc/self/stat").exists():
            return True  # /proc works here, and has no such process
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return ticks != start
