"""The `agentsessions` command: `serve` runs the server; every other command is the client's CLI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from . import config as config_module
from . import workers
from .logs import configure_logging

log = logging.getLogger("agentsessions.server")


async def serve(config: config_module.Config, supervisor: int | None = None) -> None:
    """Serves in this process; `supervisor` is the pid of the `--workers` process it works for."""
    # Imported here: the server pulls in the Agents SDK, which client commands need not wait for.
    from .app import AgentSessionsServer

    server = AgentSessionsServer(config, reuse_port=supervisor is not None)
    await server.start()
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
    try:
        config = config_module.load(args)
        if not 1 <= config.workers <= workers.MAX_WORKERS:
            raise ValueError(f"workers must be 1 to {workers.MAX_WORKERS}, not {config.workers}")
    except (OSError, ValueError) as exc:
        print(f"agentsessions serve: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    if config.workers > 1:
        return workers.supervise(config, argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, args.supervisor))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve_main(argv[1:])
    from agentsessions.client import cli as client_cli

    result: int = client_cli.main(argv)
    return result


if __name__ == "__main__":
    sys.exit(main())
