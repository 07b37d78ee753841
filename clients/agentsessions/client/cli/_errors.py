"""Exit codes, and failures turned into one line on stderr."""

from __future__ import annotations

import sys

import grpc
from agentsessions.client.exceptions import AgentSessionsError

EXIT_OK = 0
EXIT_REFUSED = 1  # the service refused: exists already, conflict, precondition, limit, run failed
EXIT_USAGE = 2  # bad command line, bad input file, or a request the service calls invalid
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4  # missing, invalid or insufficient credentials
EXIT_SERVER = 5  # unreachable, timed out, or failed inside
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """exit codes:
  0  success
  1  refused by the service (already exists, conflict, precondition, limit, run failed)
  2  usage error or invalid input
  3  not found
  4  not authenticated or not allowed
  5  server unreachable, timed out, or failed"""

_BY_CODE: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: EXIT_USAGE,
    grpc.StatusCode.OUT_OF_RANGE: EXIT_USAGE,
    grpc.StatusCode.NOT_FOUND: EXIT_NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED: EXIT_AUTH,
    grpc.StatusCode.PERMISSION_DENIED: EXIT_AUTH,
    grpc.StatusCode.UNAVAILABLE: EXIT_SERVER,
    grpc.StatusCode.DEADLINE_EXCEEDED: EXIT_SERVER,
    grpc.StatusCode.INTERNAL: EXIT_SERVER,
    grpc.StatusCode.UNKNOWN: EXIT_SERVER,
    grpc.StatusCode.UNIMPLEMENTED: EXIT_SERVER,
    grpc.StatusCode.DATA_LOSS: EXIT_SERVER,
}


class UsageError(Exception):
    """Bad input the command itself detects, such as a malformed file; exits with 2."""


def exit_code(error: AgentSessionsError) -> int:
    return _BY_CODE.get(error.code, EXIT_REFUSED)


def report(text: str) -> None:
    """Prints one error line: newlines in a server message never split it."""
    print("agentsessions: error: " + " ".join(text.split()), file=sys.stderr, flush=True)


def describe(error: AgentSessionsError, address: str) -> str:
    if error.code == grpc.StatusCode.UNAVAILABLE and error.reason == "UNAVAILABLE":
        # No ErrorInfo: the service itself could not be reached.
        return f"cannot reach the server at {address}: {error.message}"
    return str(error)
