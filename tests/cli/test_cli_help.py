"""Every command answers --help; output helpers render what a terminal shows."""

from __future__ import annotations

import argparse
import io
from contextlib import redirect_stderr, redirect_stdout

import pytest
from agentsessions.client.cli import build_parser, main
from agentsessions.client.cli._app import Context
from agentsessions.client.cli.chat import Renderer
from agentsessions.v1 import events_pb2


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from command_paths(sub, (*prefix, name))


COMMANDS = list(command_paths(build_parser()))


def test_the_expected_commands_exist() -> None:
    assert {" ".join(path) for path in COMMANDS} >= {
        "agents create", "agents list", "agents get", "agents update", "agents delete",
        "sessions create", "sessions list", "sessions get", "sessions update",
        "sessions delete", "sessions compact", "sessions export", "sessions import",
        "items list", "runs list", "runs get", "runs cancel", "runs follow", "chat",
    }  # fmt: skip


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "agentsessions")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main([*path, "--help"]) == 0
    usage = out.getvalue()
    assert usage.startswith(f"usage: {' '.join(('agentsessions', *path))}")
    if path and path[-1] not in ("agents", "sessions", "items", "runs"):
        assert "--address" in usage and "--json" in usage


def test_a_group_without_a_subcommand_shows_its_help() -> None:
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["sessions"]) == 2
    assert "export" in err.getvalue()


def event(**fields) -> events_pb2.SendMessageResponse:
    return events_pb2.SendMessageResponse(**fields)


def test_renderer_puts_tool_calls_on_their_own_lines() -> None:
    out = io.StringIO()
    renderer = Renderer(out, out)
    renderer.event(event(text_delta=events_pb2.TextDelta(delta="Let me ")))
    renderer.event(event(text_delta=events_pb2.TextDelta(delta="check.")))
    renderer.event(
        event(tool_called=events_pb2.ToolCalled(tool_name="clock", arguments_json='{"tz":"UTC"}'))
    )
    renderer.event(event(tool_output=events_pb2.ToolOutput(output="12:00\nnoon")))
    renderer.event(event(text_delta=events_pb2.TextDelta(delta="It is noon.")))
    renderer.event(event(run_completed=events_pb2.RunCompleted(final_output="It is noon.")))
    assert out.getvalue() == (
        'Let me check.\n  ⚙ clock({"tz":"UTC"})\n  ⚙ → 12:00 noon\nIt is noon.\n'
    )


def test_the_command_line_retries_only_calls_safe_to_repeat() -> None:
    context = Context(build_parser().parse_args(["agents", "list", "--timeout", "5"]))
    # A repeat of ClearSession after a lost reply would report 0 items removed.
    for rpc in ("PopItem", "DeleteSession", "DeleteAgent", "CompactSession", "ClearSession"):
        assert context.options(rpc) == {"timeout": 5.0, "retry": None}
    # AddItems carries a request_id the client fills in, so a retry stores nothing twice.
    for rpc in ("GetAgent", "ListItems", "CreateSession", "AddItems", "ResolveApprovals"):
        assert context.options(rpc)["retry"] is not None
