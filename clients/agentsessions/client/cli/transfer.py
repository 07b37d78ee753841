"""`sessions export` and `sessions import`: a session and its items as JSON Lines."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

from agentsessions.client.cli._app import Context
from agentsessions.client.cli._errors import EXIT_OK, UsageError
from agentsessions.client.cli._output import session_fields, to_dict
from agentsessions.client.names import as_agent_name, as_session_name, parse_session_path
from agentsessions.v1 import session_pb2
from google.protobuf import json_format

# The export format: a first line `{"session": {...}}`, then one `{"item": {...}}`
# line per item in history order, each with the item's exact `item_json`.
_BATCH = 1000  # the most items one AddItems call takes
# What an import keeps of the exported session; the rest is the server's to set.
_COPIED_FIELDS = ("display_name", "state", "labels", "expire_time")


def register(sub: Any, common: argparse.ArgumentParser, session_help: str) -> None:
    export = sub.add_parser(
        "export", parents=[common], help="write a session and its items as JSON Lines"
    )
    export.add_argument("session", metavar="SESSION", help=session_help)
    export.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    export.set_defaults(handler=export_session)

    imported = sub.add_parser(
        "import", parents=[common], help="create a session from an export, with the same items"
    )
    imported.add_argument("file", metavar="FILE", help="an export; - reads stdin")
    imported.add_argument("--agent", help="the new session's agent (default: the exported one)")
    imported.add_argument("--id", dest="session_id", default="", help="id (default: a UUID)")
    imported.add_argument("--display-name", help="default: the exported display name")
    imported.set_defaults(handler=import_session)


@contextlib.contextmanager
def _opened(path: str | None, mode: str) -> Iterator[IO[str]]:
    if path is None or path == "-":
        yield sys.stdout if "w" in mode else sys.stdin
        return
    with open(path, mode, encoding="utf-8") as handle:
        yield handle


def export_session(ctx: Context, args: argparse.Namespace) -> int:
    name = as_session_name(args.session)
    session = ctx.client.get_session(name, **ctx.options("GetSession"))
    count = 0
    with _opened(args.output, "w") as out:
        out.write(json.dumps({"session": to_dict(session)}, ensure_ascii=False) + "\n")
        for item in ctx.client.list_items(name, page_size=_BATCH, **ctx.options("ListItems")):
            out.write(json.dumps({"item": to_dict(item)}, ensure_ascii=False) + "\n")
            count += 1
    if args.output is not None and args.output != "-":
        text = f"exported {name} with {count} items to {args.output}"
        ctx.out.done(text, {"exported": name, "items": count, "file": args.output})
    return EXIT_OK


def read_export(lines: IO[str]) -> tuple[dict[str, Any], list[str]]:
    """The exported session's fields and its items' JSON, checked line by line."""
    session: dict[str, Any] | None = None
    items: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(f"line {number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise UsageError(f"line {number}: expected an object")
        if session is None:
            if not isinstance(record.get("session"), dict):
                raise UsageError(f'line {number}: the first line must be {{"session": …}}')
            session = record["session"]
        elif isinstance(record.get("item"), dict) and isinstance(
            record["item"].get("item_json"), str
        ):
            items.append(record["item"]["item_json"])
        else:
            raise UsageError(f'line {number}: expected {{"item": {{"item_json": …}}}}')
    if session is None:
        raise UsageError("the export is empty")
    return session, items


def import_session(ctx: Context, args: argparse.Namespace) -> int:
    with _opened(args.file, "r") as source:
        exported, items = read_export(source)
    agent = args.agent
    if agent is None:
        try:
            agent = parse_session_path(str(exported.get("name", "")))[0]
        except ValueError:
            raise UsageError("the export names no agent: give --agent") from None
    fields = {key: exported[key] for key in _COPIED_FIELDS if key in exported}
    session = json_format.ParseDict(fields, session_pb2.Session())
    if args.display_name is not None:
        session.display_name = args.display_name
    created = ctx.client.create_session(
        as_agent_name(agent), session, session_id=args.session_id, **ctx.options("CreateSession")
    )
    try:
        for start in range(0, len(items), _BATCH):
            ctx.client.add_items(
                created.name, items[start : start + _BATCH], **ctx.options("AddItems")
            )
    except BaseException:
        # All or nothing: a half-imported session is removed again.
        with contextlib.suppress(Exception):
            ctx.client.delete_session(created.name, **ctx.options("DeleteSession"))
        raise
    imported = ctx.client.get_session(created.name, **ctx.options("GetSession"))
    ctx.out.resource(imported, session_fields(imported))
    return EXIT_OK
