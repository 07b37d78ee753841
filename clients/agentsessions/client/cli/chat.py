"""`agentsessions chat`: talk to a session's agent in the terminal, or send one message."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any, TextIO

from agentsessions.client._stream import Event, MessageStream
from agentsessions.client.cli._app import Context
from agentsessions.client.cli._errors import EXIT_OK, UsageError, describe, report
from agentsessions.client.cli._output import one_line, to_dict
from agentsessions.client.cli.sessions import SESSION_HELP
from agentsessions.client.exceptions import AgentSessionsError
from agentsessions.client.names import as_agent_name, as_session_name

HELP = """Talk to the session's agent: the reply streams as it arrives, tool calls show
as they happen, and every turn is kept in the session.

Without SESSION a new session of --agent is created and its name printed.
With -m, sends one message, prints the reply and exits (for scripts).
In the interactive chat: /session shows the session, /exit or Ctrl-D leaves,
Ctrl-C stops a reply."""


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    chat = commands.add_parser(
        "chat",
        parents=[common],
        help="chat with an agent in a session",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chat.add_argument("session", metavar="SESSION", nargs="?", help=SESSION_HELP)
    chat.add_argument("-m", "--message", help="send this one message and exit; - reads stdin")
    chat.add_argument("--agent", default="default", help="agent of a new session (default)")
    busy = chat.add_mutually_exclusive_group()
    busy.add_argument(
        "--wait", action="store_true", help="with -m: wait while another run is going on"
    )
    busy.add_argument(
        "--enqueue",
        action="store_true",
        help="wait in the session's queue behind the runs going on and queued, then run",
    )
    busy.add_argument(
        "--interrupt",
        action="store_true",
        help="cancel the run going on in the session (or waiting for approval) and answer "
        "this message instead",
    )
    chat.add_argument("--max-turns", type=int, default=0, help="model turns per message")
    chat.add_argument(
        "--continue-on-disconnect",
        action="store_true",
        help="let the run go on if this command ends first (killed, connection lost, Ctrl-C "
        "with -m); its name is printed: follow it with 'agentsessions runs follow RUN'",
    )
    chat.set_defaults(handler=run_chat)


class Renderer:
    """Prints a run's events: text to `out` as it streams, tool calls and notes to `notes`."""

    def __init__(self, out: TextIO, notes: TextIO) -> None:
        self.out, self.notes = out, notes
        self.dim = notes.isatty() and not os.environ.get("NO_COLOR")
        self.at_line_start = True
        self.streamed = False

    def _text(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        if text:
            self.at_line_start = text.endswith("\n")
            self.streamed = True

    def end_line(self) -> None:
        if not self.at_line_start:
            self._text("\n")

    def note(self, text: str) -> None:
        self.end_line()
        line = f"  {text}"
        self.notes.write(f"\x1b[2m{line}\x1b[0m\n" if self.dim else line + "\n")
        self.notes.flush()

    def event(self, event: Event) -> None:
        kind = event.WhichOneof("event")
        if kind == "text_delta":
            self._text(event.text_delta.delta)
        elif kind == "message_completed":
            if not self.streamed:  # a model that does not stream still shows its reply
                self._text(event.message_completed.item.text)
            self.end_line()
            self.streamed = False
        elif kind == "tool_called":
            call = event.tool_called
            self.note(f"⚙ {call.tool_name}({one_line(call.arguments_json, 200)})")
        elif kind == "tool_output":
            self.note(f"⚙ → {one_line(event.tool_output.output, 200)}")
        elif kind == "agent_updated" and event.agent_updated.from_agent:
            self.note(f"↪ {event.agent_updated.to_agent} takes over")
        elif kind == "approval_required":
            wait = event.approval_required
            self.note(f"⏸ {wait.tool_name}({one_line(wait.arguments_json, 200)}) needs approval")
        elif kind == "run_cancelled":
            self.note(f"[cancelled: {event.run_cancelled.reason}]")
        elif kind in ("run_completed", "run_failed"):
            self.end_line()


def _session(ctx: Context, args: argparse.Namespace) -> str:
    if args.session is not None:
        # Fails early, with NOT_FOUND, before anything is typed.
        return ctx.client.get_session(
            as_session_name(args.session), **ctx.options("GetSession")
        ).name
    label = datetime.now().strftime("%Y-%m-%d %H:%M")
    created = ctx.client.create_session(
        as_agent_name(args.agent), {"display_name": f"Chat {label}"}, **ctx.options("CreateSession")
    )
    print(f"session: {created.name}", file=sys.stderr, flush=True)
    return created.name


def _send(
    ctx: Context, args: argparse.Namespace, session: str, text: str, *, wait: bool
) -> MessageStream:
    return ctx.client.send_message(
        session,
        text=text,
        wait_if_busy=wait,
        max_turns=args.max_turns,
        on_disconnect="continue" if args.continue_on_disconnect else None,
        busy_policy="interrupt" if args.interrupt else "enqueue" if args.enqueue else None,
        timeout=ctx.timeout,
    )


def _announce(args: argparse.Namespace, event: Event) -> None:
    """Names a run that outlives this command, so it can be followed again."""
    if args.continue_on_disconnect and event.WhichOneof("event") == "run_started":
        print(f"run: {event.run_started.run}", file=sys.stderr, flush=True)


def one_shot(ctx: Context, args: argparse.Namespace, session: str, text: str) -> int:
    with _send(ctx, args, session, text, wait=args.wait) as stream:
        renderer = Renderer(sys.stdout, sys.stderr)
        for event in stream:
            _announce(args, event)
            if ctx.out.json:
                ctx.out.write(json.dumps(to_dict(event), ensure_ascii=False))
            else:
                renderer.event(event)
            if stream.waiting_calls:
                break  # decided later: `agentsessions runs approve RUN`
        stream.final_text()  # raises for a failed, cancelled or waiting run
    return EXIT_OK


def _ask(ctx: Context, run: str, call: Any) -> None:
    """Asks the person at the prompt to decide a call that waits for approval."""
    try:
        answer = input(f"  approve {call.tool_name}? [y/N] ").strip().lower()
    except EOFError:
        answer = ""
    if answer in ("y", "yes"):
        ctx.client.resolve_approvals(run, approve=[call.call_id], **ctx.options("ResolveApprovals"))
    else:
        reason = "The user declined the call."
        rejections = {call.call_id: reason}
        ctx.client.resolve_approvals(run, reject=rejections, **ctx.options("ResolveApprovals"))


def _turn(ctx: Context, args: argparse.Namespace, session: str, text: str) -> None:
    renderer = Renderer(sys.stdout, sys.stderr)
    # A person at the prompt would rather wait for a run still ending (one just
    # stopped with Ctrl-C, or another client's) than be told to try again.
    with _send(ctx, args, session, text, wait=True) as stream:
        try:
            for event in stream:
                _announce(args, event)
                renderer.event(event)
                if event.WhichOneof("event") == "approval_required":
                    _ask(ctx, stream.run, event.approval_required)
            stream.final_text()
        except KeyboardInterrupt:
            stream.cancel()
            if args.continue_on_disconnect and stream.run:
                _stop(ctx, stream.run)
            renderer.note("[stopped]")
        except AgentSessionsError as error:
            # One failed turn does not end the chat.
            renderer.end_line()
            report(describe(error, ctx.address))


def _stop(ctx: Context, run: str) -> None:
    """Cancels a run that would outlive its call: Ctrl-C at the prompt still stops a reply."""
    try:
        ctx.client.cancel_run(run, **ctx.options("CancelRun"))
    except AgentSessionsError as error:
        report(describe(error, ctx.address))


def interactive(ctx: Context, args: argparse.Namespace, session: str) -> int:
    tty = sys.stdin.isatty()
    if tty:
        import readline  # noqa: F401  (line editing and history for input())
    print(f"Chatting in {session}. /exit or Ctrl-D leaves.", file=sys.stderr, flush=True)
    while True:
        try:
            line = input("you> " if tty else "")
        except EOFError:
            if tty:
                print()
            return EXIT_OK
        except KeyboardInterrupt:
            print()
            continue
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return EXIT_OK
        if text == "/session":
            print(session, flush=True)
            continue
        if text == "/help":
            print(HELP, flush=True)
            continue
        _turn(ctx, args, session, line)


def run_chat(ctx: Context, args: argparse.Namespace) -> int:
    text: str | None = args.message
    if text == "-":
        text = sys.stdin.read()
    if text is not None and not text.strip():
        raise UsageError("the message is empty")
    session = _session(ctx, args)
    if text is not None:
        return one_shot(ctx, args, session, text)
    if ctx.out.json:
        raise UsageError("--json needs -m: the interactive chat prints text")
    return interactive(ctx, args, session)
