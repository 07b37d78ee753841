"""The `agentsessions` command: `serve` runs the server; every other command is the client's CLI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import sys
from pathlib import Path

from . import config as config_module
from . import workers
from .logs import configure_logging

log = logging.getLogger("agentsessions.server")


class StartupFailed(Exception):
    """The server could not start; the message is one line naming the file or setting."""


def database_problem(path: str, exc: BaseException) -> str:
    """One line on why the SQLite file at `path` cannot be served, from what failed."""
    where = Path(path)
    directory = where.parent
    cause = str(exc).replace("\n", " ")
    if not directory.is_dir():
        missing = "is not a directory" if directory.exists() else "does not exist"
        return f"database {path}: the directory {directory} {missing}"
    if where.is_dir():
        return f"database {path}: is a directory, not a file"
    if "newer than this service" in cause:
        return f"database {path}: {cause}; serve it with a newer agentsessions"
    if "not a database" in cause or "malformed" in cause:
        return f"database {path}: not a SQLite database, or a damaged one ({cause})"
    file_writable = not where.exists() or os.access(where, os.W_OK)
    directory_writable = os.access(directory, os.W_OK)
    if "readonly" in cause or not (file_writable and directory_writable):
        if not file_writable:
            need = "write access to the file"
        elif not directory_writable:
            need = f"write access to {directory} for the -wal and -shm files beside it"
        else:
            need = "write access to it and to its -wal and -shm files"
        return f"database {path}: read-only ({cause}); the server needs {need}"
    return f"database {path}: cannot open it ({cause})"


def _startup_errors() -> tuple[type[BaseException], ...]:
    from .store.sqlite_schema import SchemaTooNew

    return (sqlite3.Error, SchemaTooNew)


def refuse_read_only(path: str) -> None:
    """SQLite opens a file it cannot write read-only and may read it without an error
    until the server's first write: a file without write access is refused at once."""
    if Path(path).is_file() and not os.access(path, os.W_OK):
        error = sqlite3.OperationalError("attempt to write a readonly database")
        raise StartupFailed(database_problem(path, error))


async def check_database(config: config_module.Config) -> None:
    """Opens and closes the database once, before the server (and the Agents SDK) is
    imported: a bad file is reported at once, and by `--workers N` itself rather than
    through each worker that fails to start."""
    from .store.sqlite import SQLiteStore

    store = SQLiteStore(config.db, readers=1, cache_kib=config.sqlite_cache_kib)
    try:
        await store.open()
    except _startup_errors() as exc:
        raise StartupFailed(database_problem(config.db, exc)) from exc
    await store.close()


async def serve(config: config_module.Config, supervisor: int | None = None) -> None:
    """Serves in this process; `supervisor` is the pid of the `--workers` process it works for."""
    # Imported here: the server pulls in the Agents SDK, which client commands need not wait for.
    from .app import AgentSessionsServer

    server = AgentSessionsServer(config, reuse_port=supervisor is not None)
    try:
        await server.start()
    except _startup_errors() as exc:
        # The store is opened first: these come from the database file.
        raise StartupFailed(database_problem(config.db, exc)) from exc
    # Scripts and tests that pass --port 0 read the bound address from this line.
    print(f"agentsessions listening on {config.host}:{server.port}", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    following = None
    if supervisor is not None:
        following = asyncio.create_task(workers.follow_supervisor(supervisor, stopping.set))
    try:
        await stopping.wait()
        log.info("stopping", extra={"grace_seconds": config.grace_seconds})
    finally:
        if following is not None:
            following.cancel()
        await server.stop()
    log.info("stopped")


def serve_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="agentsessions serve", description="Run the server.")
    config_module.add_arguments(parser)
    # Internal: `--workers N` starts its N processes with this flag and its own pid.
    parser.add_argument(workers.WORKER_FLAG, type=int, dest="supervisor", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Configuration and start-up errors are one line on stderr and exit code 2.
    try:
        config = config_module.load(args)
        if not 1 <= config.workers <= workers.MAX_WORKERS:
            raise ValueError(f"workers must be 1 to {workers.MAX_WORKERS}, not {config.workers}")
    except (OSError, ValueError) as exc:
        return _refuse(exc)
    configure_logging(config.log_level)
    try:
        refuse_read_only(config.db)
        asyncio.run(check_database(config))
        if config.workers > 1:
            return workers.supervise(config, argv)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config, args.supervisor))
    except StartupFailed as exc:
        return _refuse(exc)
    return 0


def _refuse(exc: BaseException) -> int:
    message = " ".join(str(exc).split("\n"))
    print(f"agentsessions serve: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve_main(argv[1:])
    from agentsessions.client import cli as client_cli

    result: int = client_cli.main(argv)
    return result


if __name__ == "__main__":
    sys.exit(main())
