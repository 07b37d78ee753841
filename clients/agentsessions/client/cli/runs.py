"""`agentsessions runs list|get|cancel|follow|approve`: runs, which outlive their call; listed
by session, by agent or all together, and those waiting for approval."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from agentsessions.client.cli._app import Context, group
from agentsessions.client.cli._errors import EXIT_OK, UsageError
from agentsessions.client.cli._output import Column, one_line, to_dict, when
from agentsessions.client.cli.chat import Renderer
from agentsessions.client.cli.sessions import SESSION_HELP
from agentsessions.client.names import (
    ALL_SESSIONS,
    WAITING_FOR_APPROVAL,
    as_run_name,
    as_session_name,
)
from agentsessions.v1 import session_pb2

RUN_HELP = "agents/A/sessions/S/runs/R, A/S/R, or S/R (a run of agents/default)"

FOLLOW_HELP = """Print a run's events as chat does: the reply's text as it streams, tool
calls on their own lines, then how the run ended. A run that has ended is replayed
from its stored events; one still going is followed until it ends, and a dropped
connection or a server restart is resumed after the last event shown.

Ctrl-C stops following; the run goes on. Exits as `chat -m` does: 0 when the run
completed, the exit code of its error when it failed, 1 when it was cancelled."""


def state_name(run: session_pb2.Run) -> str:
    return str(session_pb2.Run.State.Name(run.state))


def tokens(run: session_pb2.Run) -> str:
    usage = run.usage
    return f"{usage.total_tokens} ({usage.input_tokens} in, {usage.output_tokens} out)"


RUN_COLUMNS: list[Column] = [
    ("NAME", lambda r: r.name),
    ("STATE", state_name),
    ("STARTED", lambda r: when(r.start_time)),
    ("ENDED", lambda r: when(r.end_time)),
    ("EVENTS", lambda r: str(r.last_event_sequence)),
    ("TOKENS", lambda r: str(r.usage.total_tokens)),
]


def run_fields(run: session_pb2.Run) -> list[tuple[str, str]]:
    error = f"{run.error.code}: {one_line(run.error.message, 200)}" if run.error.code else "-"
    cancel = "-"
    if run.cancel_mode:
        cancel = str(session_pb2.Run.CancelMode.Name(run.cancel_mode))
    on_disconnect = "-"
    if run.on_disconnect:
        on_disconnect = str(session_pb2.Run.DisconnectPolicy.Name(run.on_disconnect))
    return [
        ("name", run.name),
        ("state", state_name(run)),
        ("last_agent", run.last_agent or "-"),
        ("start_time", when(run.start_time)),
        ("end_time", when(run.end_time)),
        ("tokens", tokens(run)),
        ("model_requests", str(run.usage.requests)),
        ("error", error),
        ("request_id", run.request_id or "-"),
        ("on_disconnect", on_disconnect),
        ("cancel_mode", cancel),
        ("cancel_reason", run.cancel_reason or "-"),
        ("last_event_sequence", str(run.last_event_sequence)),
        ("events_expire_time", when(run.events_expire_time)),
        *[(f"approval {a.call_id}", _approval(a)) for a in run.approvals],
        ("approval_expire_time", when(run.approval_expire_time)),
    ]


def _approval(approval: session_pb2.ToolApproval) -> str:
    decision = "waiting"
    if approval.decision:
        decision = str(session_pb2.ToolApproval.Decision.Name(approval.decision))
        decision += f" {when(approval.decide_time)} by {approval.decided_by or '?'}"
    call = f"{approval.tool_name}({one_line(approval.arguments_json, 120)})"
    message = f": {one_line(approval.message, 120)}" if approval.message else ""
    return f"{call} {decision}{message}"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = group(commands, "runs", "list, show, cancel, follow and approve runs")

    listing = sub.add_parser(
        "list",
        parents=[common],
        help="list runs, newest first: a session's, an agent's or every session's",
        description="List runs newest first: those of SESSION, of every session of agent A "
        f"(A/-), or of every session ({ALL_SESSIONS}, the default). --waiting lists the runs "
        "that wait for a decision on a tool call, to decide with 'agentsessions runs approve "
        "RUN'.",
    )
    listing.add_argument(
        "session",
        metavar="SESSION",
        nargs="?",
        default=ALL_SESSIONS,
        help=f"{SESSION_HELP}; A/- for every session of agent A; default: every session "
        f"({ALL_SESSIONS})",
    )
    listing.add_argument("--filter", default="", help="e.g. state = FAILED")
    listing.add_argument(
        "--waiting",
        action="store_true",
        help="only the runs waiting for approval (--filter 'state = REQUIRES_APPROVAL')",
    )
    listing.add_argument("--limit", type=int, help="show at most this many")
    listing.set_defaults(handler=list_runs)

    get = sub.add_parser("get", parents=[common], help="show one run")
    get.add_argument("run", metavar="RUN", help=RUN_HELP)
    get.set_defaults(handler=get_run)

    cancel = sub.add_parser(
        "cancel",
        parents=[common],
        help="cancel a run and show it once it has ended",
        description="Cancel a run and show it once it has ended; if --timeout comes first, "
        "it is shown still RUNNING, the cancellation standing. A run that has already ended "
        "is shown unchanged.",
    )
    cancel.add_argument("run", metavar="RUN", help=RUN_HELP)
    cancel.add_argument(
        "--after-turn",
        action="store_true",
        help="let the current model turn and its tool calls finish and be stored first",
    )
    cancel.set_defaults(handler=cancel_run)

    approve = sub.add_parser(
        "approve",
        parents=[common],
        help="approve (or --reject) tool calls a run waits on",
        description="Decide tool calls of a run in REQUIRES_APPROVAL: the given CALL_IDs, or "
        "every call that waits when none is given. Once no call waits, the run goes on; "
        "'agentsessions runs follow RUN' shows the rest.",
    )
    approve.add_argument("run", metavar="RUN", help=RUN_HELP)
    approve.add_argument("calls", metavar="CALL_ID", nargs="*", help="calls to decide")
    approve.add_argument(
        "--reject", action="store_true", help="reject instead: the tool does not run"
    )
    approve.add_argument("--message", default="", help="with --reject: what the model is told")
    approve.set_defaults(handler=approve_run)

    follow = sub.add_parser(
        "follow",
        parents=[common],
        help="print a run's events as they come, then how it ended",
        description=FOLLOW_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    follow.add_argument("run", metavar="RUN", help=RUN_HELP)
    follow.add_argument(
        "--after",
        type=int,
        default=0,
        metavar="N",
        help="only the events after sequence N (default: from the first)",
    )
    follow.set_defaults(handler=follow_run)


def _run_name(value: str) -> str:
    try:
        return as_run_name(value)
    except ValueError as error:
        raise UsageError(str(error)) from None


def list_runs(ctx: Context, args: argparse.Namespace) -> int:
    if args.waiting and args.filter:
        raise UsageError("--waiting is a filter of its own: give --waiting or --filter")
    pager = ctx.client.list_runs(
        as_session_name(args.session),
        filter=WAITING_FOR_APPROVAL if args.waiting else args.filter,
        **ctx.options("ListRuns"),
    )
    ctx.out.table(pager.collect(args.limit), RUN_COLUMNS)
    return EXIT_OK


def get_run(ctx: Context, args: argparse.Namespace) -> int:
    run = ctx.client.get_run(_run_name(args.run), **ctx.options("GetRun"))
    ctx.out.resource(run, run_fields(run))
    return EXIT_OK


def cancel_run(ctx: Context, args: argparse.Namespace) -> int:
    mode = "after_turn" if args.after_turn else "immediate"
    run = ctx.client.cancel_run(_run_name(args.run), mode=mode, **ctx.options("CancelRun"))
    ctx.out.resource(run, run_fields(run))
    return EXIT_OK


def approve_run(ctx: Context, args: argparse.Namespace) -> int:
    if args.message and not args.reject:
        raise UsageError("--message goes with --reject")
    name = _run_name(args.run)
    calls = list(args.calls)
    if not calls:
        run = ctx.client.get_run(name, **ctx.options("GetRun"))
        calls = [a.call_id for a in run.approvals if not a.decision]
        if not calls:
            raise UsageError(f"{name} has no call waiting for approval ({state_name(run)})")
    if args.reject:
        decided = ctx.client.resolve_approvals(
            name, reject=dict.fromkeys(calls, args.message), **ctx.options("ResolveApprovals")
        )
    else:
        decided = ctx.client.resolve_approvals(
            name, approve=calls, **ctx.options("ResolveApprovals")
        )
    ctx.out.resource(decided, run_fields(decided))
    return EXIT_OK


def follow_run(ctx: Context, args: argparse.Namespace) -> int:
    if args.after < 0:
        raise UsageError("--after is a sequence number, 0 or more")
    stream = ctx.client.stream_run_events(
        _run_name(args.run), after_sequence=args.after, timeout=ctx.timeout
    )
    with stream:
        renderer = Renderer(sys.stdout, sys.stderr)
        for event in stream:
            if ctx.out.json:
                ctx.out.write(json.dumps(to_dict(event), ensure_ascii=False))
            else:
                renderer.event(event)
        stream.final_text()  # raises for a failed or cancelled run
        if not ctx.out.json:
            renderer.note("[completed]")
    return EXIT_OK
