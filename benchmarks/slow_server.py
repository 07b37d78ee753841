"""The service with an echo model that pauses between words, for the many-streams scenario.

`python -m benchmarks.slow_server DB WORD_DELAY` runs the same `AgentSessionsServer` as
`agentsessions serve`, with the model registry's echo pause set; it prints its port likewise.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from agentsessions.server.app import AgentSessionsServer
from agentsessions.server.config import Config
from agentsessions.server.logs import configure_logging
from agentsessions.server.runtime import ModelRegistry


async def serve(db: str, word_delay: float) -> None:
    config = Config(port=0, db=db, log_level="WARNING")
    configure_logging(config.log_level)
    models = ModelRegistry.from_providers({}, echo_word_delay=word_delay)
    server = AgentSessionsServer(config, models=models)
    await server.start()
    print(f"agentsessions listening on {config.host}:{server.port}", flush=True)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    try:
        await stopping.wait()
    finally:
        await server.stop(1.0)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], float(sys.argv[2])))
