"""The `agentsessions` command line (every command except `serve`)."""

from agentsessions.client.cli._app import build_parser, main

__all__ = ["build_parser", "main"]
