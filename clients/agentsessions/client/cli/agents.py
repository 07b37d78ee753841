"""`agentsessions agents create|list|get|update|delete`."""

from __future__ import annotations

import argparse
from typing import Any

from agentsessions.client.cli._app import Context, group
from agentsessions.client.cli._errors import EXIT_OK, UsageError
from agentsessions.client.cli._output import AGENT_COLUMNS, agent_fields
from agentsessions.client.names import as_agent_name
from agentsessions.v1 import agent_pb2

# Flag dest -> the Agent field it sets, which is also the update_mask path it adds.
_FIELDS = {
    "display_name": "display_name",
    "description": "description",
    "instructions": "instructions",
    "model": "model",
    "tools": "tools",
    "handoffs": "handoffs",
    "temperature": "model_settings.temperature",
    "top_p": "model_settings.top_p",
    "max_output_tokens": "model_settings.max_output_tokens",
    "max_history_items": "history_policy.max_items",
}


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = group(commands, "agents", "create, list, show, change and delete agents")

    create = sub.add_parser("create", parents=[common], help="create an agent")
    create.add_argument("--id", dest="agent_id", default="", help="agent id (default: a UUID)")
    _agent_flags(create, display_name_required=True)
    create.set_defaults(handler=create_agent)

    listing = sub.add_parser("list", parents=[common], help="list agents, oldest first")
    listing.add_argument("--limit", type=int, help="show at most this many")
    listing.set_defaults(handler=list_agents)

    get = sub.add_parser("get", parents=[common], help="show one agent")
    get.add_argument("agent", metavar="AGENT", help="agents/ID or ID")
    get.set_defaults(handler=get_agent)

    update = sub.add_parser("update", parents=[common], help="change the given fields of an agent")
    update.add_argument("agent", metavar="AGENT", help="agents/ID or ID")
    _agent_flags(update, display_name_required=False)
    update.add_argument("--etag", default="", help="fail if the agent changed since this etag")
    update.set_defaults(handler=update_agent)

    delete = sub.add_parser("delete", parents=[common], help="delete an agent")
    delete.add_argument("agent", metavar="AGENT", help="agents/ID or ID")
    delete.add_argument("--force", action="store_true", help="also delete its sessions")
    delete.add_argument("--etag", default="", help="fail if the agent changed since this etag")
    delete.set_defaults(handler=delete_agent)


def _agent_flags(parser: argparse.ArgumentParser, *, display_name_required: bool) -> None:
    parser.add_argument("--display-name", required=display_name_required, help="1-100 chars")
    parser.add_argument("--description", help="what the agent is good at")
    parser.add_argument("--instructions", help="the system prompt")
    parser.add_argument("--model", help="e.g. echo, gpt-4o, PROVIDER/MODEL (default: echo)")
    parser.add_argument(
        "--tool", dest="tools", action="append", metavar="NAME", help="a tool (repeatable)"
    )
    parser.add_argument(
        "--handoff", dest="handoffs", action="append", metavar="AGENT", help="repeatable"
    )
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--top-p", type=float)
    parser.add_argument("--max-output-tokens", type=int)
    parser.add_argument("--max-history-items", type=int, help="items the model sees; 0: all")


def _agent_from_flags(args: argparse.Namespace) -> tuple[agent_pb2.Agent, list[str]]:
    """The Agent the flags describe, and the paths of the fields they set."""
    agent = agent_pb2.Agent()
    paths: list[str] = []
    for dest, path in _FIELDS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if dest == "handoffs":
            value = [as_agent_name(v) for v in value]
        target: Any = agent
        *parents, leaf = path.split(".")
        for part in parents:
            target = getattr(target, part)
        if isinstance(value, list):
            getattr(target, leaf).extend(value)
        else:
            setattr(target, leaf, value)
        # The narrowest path (model_settings.temperature, not model_settings), so an
        # update leaves the message's other sub-fields as they are.
        paths.append(path)
    return agent, sorted(paths)


def create_agent(ctx: Context, args: argparse.Namespace) -> int:
    agent, _ = _agent_from_flags(args)
    created = ctx.client.create_agent(agent, agent_id=args.agent_id, **ctx.options("CreateAgent"))
    ctx.out.resource(created, agent_fields(created))
    return EXIT_OK


def list_agents(ctx: Context, args: argparse.Namespace) -> int:
    ctx.out.table(
        ctx.client.list_agents(**ctx.options("ListAgents")).collect(args.limit), AGENT_COLUMNS
    )
    return EXIT_OK


def get_agent(ctx: Context, args: argparse.Namespace) -> int:
    agent = ctx.client.get_agent(as_agent_name(args.agent), **ctx.options("GetAgent"))
    ctx.out.resource(agent, agent_fields(agent))
    return EXIT_OK


def update_agent(ctx: Context, args: argparse.Namespace) -> int:
    agent, paths = _agent_from_flags(args)
    if not paths:
        raise UsageError("nothing to update: give at least one field flag, e.g. --display-name")
    agent.name, agent.etag = as_agent_name(args.agent), args.etag
    updated = ctx.client.update_agent(agent, update_mask=paths, **ctx.options("UpdateAgent"))
    ctx.out.resource(updated, agent_fields(updated))
    return EXIT_OK


def delete_agent(ctx: Context, args: argparse.Namespace) -> int:
    name = as_agent_name(args.agent)
    ctx.client.delete_agent(name, force=args.force, etag=args.etag, **ctx.options("DeleteAgent"))
    ctx.out.done(f"deleted {name}", {"deleted": name})
    return EXIT_OK
