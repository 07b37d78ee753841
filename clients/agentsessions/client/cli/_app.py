"""The command line's parser, shared options and the one place failures become exit codes."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from agentsessions.client._channel import ADDRESS_ENV, DEFAULT_ADDRESS, TOKEN_ENV, tls_credentials
from agentsessions.client._defaults import DEFAULT, METHOD_DEFAULTS, Retry, TimeoutArg
from agentsessions.client.cli._errors import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    UsageError,
    describe,
    exit_code,
    report,
)
from agentsessions.client.cli._output import Output
from agentsessions.client.client import Client
from agentsessions.client.exceptions import AgentSessionsError

Handler = Callable[["Context", argparse.Namespace], int]

# A command line gives up on an unreachable server after a few quick retries
# instead of the library's longer default.
CLI_RETRY = Retry(initial=0.2, maximum=1.0, max_attempts=4)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit with EXIT_USAGE."""

    def error(self, message: str) -> NoReturn:
        report(f"{message} (see '{self.prog} --help')")
        raise SystemExit(EXIT_USAGE)


class Context:
    """What a command needs: its output, and a client made on first use."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Output(json=getattr(args, "json", False))
        self.address: str = getattr(args, "address", None) or os.environ.get(ADDRESS_ENV) or ""
        self.address = self.address or DEFAULT_ADDRESS
        timeout: float | None = getattr(args, "timeout", None)
        self.timeout: TimeoutArg = DEFAULT if timeout is None else timeout
        self._client: Client | None = None

    def options(self, rpc: str) -> dict[str, Any]:
        """The deadline and retry of one call: quick retries, only where the client retries."""
        retry = CLI_RETRY if METHOD_DEFAULTS[rpc].retry is not None else None
        return {"timeout": self.timeout, "retry": retry}

    @property
    def client(self) -> Client:
        if self._client is None:
            ca_file = getattr(self.args, "ca_file", None)
            tls = getattr(self.args, "tls", False) or ca_file is not None
            self._client = Client(
                self.address,
                token=getattr(self.args, "token", None),
                credentials=tls_credentials(ca_file) if tls else None,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def common_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name; unset ones stay unset."""
    parent = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = parent.add_argument_group("connection and output")
    group.add_argument(
        "--address", help=f"server host:port (${ADDRESS_ENV}; default {DEFAULT_ADDRESS})"
    )
    group.add_argument("--token", help=f"bearer token sent with every call (${TOKEN_ENV})")
    group.add_argument("--tls", action="store_true", help="connect with TLS (system roots)")
    group.add_argument("--ca-file", help="PEM file of root certificates for TLS (implies --tls)")
    group.add_argument("--timeout", type=float, help="seconds each call may take")
    group.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parent


def build_parser() -> Parser:
    from agentsessions.client.cli import agents, chat, items, runs, sessions

    common = common_options()
    parser = Parser(
        prog="agentsessions",
        description="Manage agents and sessions of an agentsessions server, and chat with them.",
        epilog="'agentsessions serve' runs the server (see 'agentsessions serve --help').\n\n"
        + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in (agents, sessions, items, runs, chat):
        module.register(commands, common)
    return parser


def group(commands: Any, name: str, help_text: str) -> Any:
    """A command with subcommands of its own (`agents create`, …); returns their registry."""
    parser = commands.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=lambda ctx, args: _missing_subcommand(parser))
    return parser.add_subparsers(title="commands", metavar="COMMAND")


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Runs one command and returns its exit code; errors are one line on stderr."""
    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as stop:  # --help, or a usage error already reported
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    context = Context(args)
    try:
        return handler(context, args)
    except AgentSessionsError as error:
        report(describe(error, context.address))
        return exit_code(error)
    except UsageError as error:
        report(str(error))
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader (e.g. `head`) stopped reading: not a failure of this command.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:  # files named on the command line
        report(f"{error.strerror or error}: {error.filename}" if error.filename else str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug here must still not print a traceback at the user
        report(f"unexpected {type(error).__name__}: {error}")
        return EXIT_REFUSED
    finally:
        context.close()
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()


__all__ = ["EXIT_OK", "Context", "Parser", "build_parser", "group", "main"]
