"""The GetSession baseline: a bare grpc.aio server that answers with one Session from memory.

No interceptors, no store, no conversion: what the service's GetSession is measured against.
Run as `python -m benchmarks.bare_server SESSION_FILE`; it prints its port like the service.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc
from agentsessions.v1 import session_pb2, session_service_pb2, session_service_pb2_grpc


class BareSessions(session_service_pb2_grpc.SessionServiceServicer):
    def __init__(self, session: session_pb2.Session) -> None:
        self._session = session

    async def GetSession(
        self,
        request: session_service_pb2.GetSessionRequest,
        context: grpc.aio.ServicerContext[
            session_service_pb2.GetSessionRequest, session_pb2.Session
        ],
    ) -> session_pb2.Session:
        return self._session


async def serve(session: session_pb2.Session) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    session_service_pb2_grpc.add_SessionServiceServicer_to_server(
        BareSessions(session),  # type: ignore[abstract]  # only GetSession is measured
        server,
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"bare server listening on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


def main() -> None:
    session = session_pb2.Session.FromString(Path(sys.argv[1]).read_bytes())
    asyncio.run(serve(session))


if __name__ == "__main__":
    main()
