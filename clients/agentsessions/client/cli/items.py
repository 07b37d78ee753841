"""`agentsessions items list|pop|clear`: a session's stored history."""

from __future__ import annotations

import argparse
from typing import Any

from agentsessions.client.cli._app import Context, group
from agentsessions.client.cli._errors import EXIT_OK
from agentsessions.client.cli._output import ITEM_COLUMNS, to_dict
from agentsessions.client.cli.sessions import SESSION_HELP
from agentsessions.client.names import as_session_name


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = group(commands, "items", "read and edit a session's history")

    listing = sub.add_parser("list", parents=[common], help="list items in chronological order")
    listing.add_argument("session", metavar="SESSION", help=SESSION_HELP)
    listing.add_argument("--after", type=int, default=0, metavar="SEQ", help="only later items")
    listing.add_argument("--newest", type=int, default=0, metavar="N", help="only the newest N")
    listing.add_argument("--limit", type=int, help="show at most this many")
    listing.set_defaults(handler=list_items)

    pop = sub.add_parser("pop", parents=[common], help="remove and show the newest item")
    pop.add_argument("session", metavar="SESSION", help=SESSION_HELP)
    pop.set_defaults(handler=pop_item)

    clear = sub.add_parser("clear", parents=[common], help="remove every item")
    clear.add_argument("session", metavar="SESSION", help=SESSION_HELP)
    clear.set_defaults(handler=clear_items)


def list_items(ctx: Context, args: argparse.Namespace) -> int:
    pager = ctx.client.list_items(
        as_session_name(args.session),
        after_sequence=args.after,
        newest_count=args.newest,
        **ctx.options("ListItems"),
    )
    ctx.out.table(pager.collect(args.limit), ITEM_COLUMNS)
    return EXIT_OK


def pop_item(ctx: Context, args: argparse.Namespace) -> int:
    item = ctx.client.pop_item(as_session_name(args.session), **ctx.options("PopItem"))
    if item is None:
        ctx.out.done("the session has no items", {"item": None})
    elif ctx.out.json:
        ctx.out.done("", {"item": to_dict(item)})
    else:
        ctx.out.write(f"removed item {item.sequence} ({item.type}): {item.item_json}")
    return EXIT_OK


def clear_items(ctx: Context, args: argparse.Namespace) -> int:
    count = ctx.client.clear_session(as_session_name(args.session), **ctx.options("ClearSession"))
    ctx.out.done(f"removed {count} items", {"deleted_item_count": count})
    return EXIT_OK
