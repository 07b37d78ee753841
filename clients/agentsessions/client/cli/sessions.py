"""`agentsessions sessions create|list|get|update|delete|compact` (export, import: transfer.py)."""

from __future__ import annotations

import argparse
from typing import Any

from agentsessions.client.cli import transfer
from agentsessions.client.cli._app import Context, group
from agentsessions.client.cli._errors import EXIT_OK, UsageError
from agentsessions.client.cli._output import SESSION_COLUMNS, session_fields
from agentsessions.client.names import (
    ALL_AGENTS,
    agent_path,
    as_agent_name,
    as_session_name,
    parse_session_path,
)
from agentsessions.v1 import session_pb2

SESSION_HELP = "agents/A/sessions/S, A/S, or S (a session of agents/default)"
STATES = ["ACTIVE", "PAUSED", "COMPLETED"]


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = group(
        commands, "sessions", "create, list, show, change, delete, compact, export, import sessions"
    )

    create = sub.add_parser("create", parents=[common], help="create a session")
    create.add_argument("agent", metavar="AGENT", nargs="?", default="default", help="agent")
    create.add_argument("--id", dest="session_id", default="", help="session id (default: UUID)")
    create.add_argument("--display-name", default="New session", help="1-100 characters")
    create.add_argument("--label", dest="labels", action="append", metavar="KEY=VALUE")
    create.set_defaults(handler=create_session)

    listing = sub.add_parser("list", parents=[common], help="list sessions, newest activity first")
    listing.add_argument("agent", metavar="AGENT", nargs="?", default="-", help="default: all")
    listing.add_argument("--filter", default="", help='e.g. state = ACTIVE AND labels.team = "a"')
    listing.add_argument("--order-by", default="", help="e.g. create_time desc")
    listing.add_argument("--limit", type=int, help="show at most this many")
    listing.set_defaults(handler=list_sessions)

    get = sub.add_parser("get", parents=[common], help="show one session with its stats")
    get.add_argument("session", metavar="SESSION", help=SESSION_HELP)
    get.set_defaults(handler=get_session)

    update = sub.add_parser("update", parents=[common], help="change the given fields")
    update.add_argument("session", metavar="SESSION", help=SESSION_HELP)
    update.add_argument("--display-name", help="1-100 characters")
    update.add_argument("--state", choices=STATES, type=str.upper)
    update.add_argument(
        "--label", dest="labels", action="append", metavar="KEY=VALUE", help="replaces all labels"
    )
    update.add_argument("--clear-labels", action="store_true", help="remove every label")
    update.add_argument("--etag", default="", help="fail if the session changed since this etag")
    update.set_defaults(handler=update_session)

    delete = sub.add_parser(
        "delete",
        parents=[common],
        help="delete sessions with their items; several at once: all or none",
    )
    delete.add_argument("sessions", metavar="SESSION", nargs="+", help=SESSION_HELP)
    delete.add_argument(
        "--etag", default="", help="fail if the session changed since this etag (one session)"
    )
    delete.set_defaults(handler=delete_sessions)

    compact = sub.add_parser("compact", parents=[common], help="replace older history by a summary")
    compact.add_argument("session", metavar="SESSION", help=SESSION_HELP)
    compact.add_argument(
        "--keep", type=int, metavar="N", help="newest items kept as they are (default 20)"
    )
    compact.add_argument(
        "--summary", default="", metavar="TEXT", help="the summary (default: the agent's model)"
    )
    compact.add_argument("--wait", action="store_true", help="wait for a run on the session")
    compact.set_defaults(handler=compact_session)

    transfer.register(sub, common, SESSION_HELP)


def parse_labels(pairs: list[str] | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"a label is KEY=VALUE, got {pair!r}")
        labels[key] = value
    return labels


def create_session(ctx: Context, args: argparse.Namespace) -> int:
    session = session_pb2.Session(display_name=args.display_name, labels=parse_labels(args.labels))
    created = ctx.client.create_session(
        as_agent_name(args.agent),
        session,
        session_id=args.session_id,
        **ctx.options("CreateSession"),
    )
    ctx.out.resource(created, session_fields(created))
    return EXIT_OK


def list_sessions(ctx: Context, args: argparse.Namespace) -> int:
    parent = ALL_AGENTS if args.agent == "-" else as_agent_name(args.agent)
    pager = ctx.client.list_sessions(
        parent, filter=args.filter, order_by=args.order_by, **ctx.options("ListSessions")
    )
    ctx.out.table(pager.collect(args.limit), SESSION_COLUMNS)
    return EXIT_OK


def get_session(ctx: Context, args: argparse.Namespace) -> int:
    session = ctx.client.get_session(as_session_name(args.session), **ctx.options("GetSession"))
    ctx.out.resource(session, session_fields(session))
    return EXIT_OK


def update_session(ctx: Context, args: argparse.Namespace) -> int:
    session = session_pb2.Session(name=as_session_name(args.session), etag=args.etag)
    paths = []
    if args.display_name is not None:
        session.display_name = args.display_name
        paths.append("display_name")
    if args.state is not None:
        session.state = session_pb2.Session.State.Value(args.state)
        paths.append("state")
    if args.labels is not None or args.clear_labels:
        session.labels.update(parse_labels(args.labels))
        paths.append("labels")
    if not paths:
        raise UsageError("nothing to update: give --display-name, --state or --label")
    updated = ctx.client.update_session(session, update_mask=paths, **ctx.options("UpdateSession"))
    ctx.out.resource(updated, session_fields(updated))
    return EXIT_OK


def delete_sessions(ctx: Context, args: argparse.Namespace) -> int:
    names = list(dict.fromkeys(as_session_name(s) for s in args.sessions))
    if len(names) == 1:
        ctx.client.delete_session(names[0], etag=args.etag, **ctx.options("DeleteSession"))
        ctx.out.done(f"deleted {names[0]}", {"deleted": names[0]})
        return EXIT_OK
    if args.etag:
        raise UsageError("--etag works with one session only")
    try:
        agents = {parse_session_path(name)[0] for name in names}
    except ValueError as error:
        raise UsageError(str(error)) from None
    # The names' own agent when they share one, so the server checks they are its sessions.
    parent = agent_path(agents.pop()) if len(agents) == 1 else ALL_AGENTS
    ctx.client.batch_delete_sessions(names, parent=parent, **ctx.options("BatchDeleteSessions"))
    ctx.out.done("\n".join(f"deleted {name}" for name in names), {"deleted": names})
    return EXIT_OK


def compact_session(ctx: Context, args: argparse.Namespace) -> int:
    name = as_session_name(args.session)
    done = ctx.client.compact_session(
        name,
        keep_newest_count=args.keep,
        summary_text=args.summary,
        wait_if_busy=args.wait,
        **ctx.options("CompactSession"),
    )
    remaining = done.session.stats.item_count
    text = (
        f"compacted {name}: replaced {done.removed_item_count} items by a summary, "
        f"{remaining} items now"
        if done.removed_item_count
        else f"nothing to compact in {name} ({remaining} items)"
    )
    data = {
        "session": name,
        "removed_item_count": done.removed_item_count,
        "item_count": remaining,
        "summary": done.summary_item.text if done.HasField("summary_item") else None,
    }
    ctx.out.done(text, data)
    return EXIT_OK
