"""Printing resources: readable tables and key/value blocks, or JSON with --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from agentsessions.v1 import agent_pb2, session_pb2
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message

Column = tuple[str, Callable[[Any], str]]


def to_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data with the proto field names (as in the .proto files)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def when(stamp: timestamp_pb2.Timestamp) -> str:
    """A timestamp as local `YYYY-MM-DD HH:MM:SS`, or `-` when unset."""
    if not stamp.seconds and not stamp.nanos:
        return "-"
    return stamp.ToDatetime().astimezone().strftime("%Y-%m-%d %H:%M:%S")


def one_line(text: str, width: int = 60) -> str:
    """Text on a single line, cut to `width` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def state_name(session: session_pb2.Session) -> str:
    return str(session_pb2.Session.State.Name(session.state))


def item_summary(item: session_pb2.Item) -> str:
    """What an item says, in one line: a message's text, a call, or a call's output."""
    if item.text:
        return one_line(item.text)
    try:
        data = json.loads(item.item_json)
    except ValueError:
        return one_line(item.item_json)
    if item.type == "function_call":
        return one_line(f"{data.get('name', '?')}({data.get('arguments', '')})")
    if item.type == "function_call_output":
        output = data.get("output", "")
        return one_line(f"→ {output if isinstance(output, str) else json.dumps(output)}")
    return one_line(item.item_json)


AGENT_COLUMNS: list[Column] = [
    ("NAME", lambda a: a.name),
    ("DISPLAY NAME", lambda a: one_line(a.display_name, 30)),
    ("MODEL", lambda a: a.model or "-"),
    ("TOOLS", lambda a: ",".join(a.tools) or "-"),
    ("UPDATED", lambda a: when(a.update_time)),
]
SESSION_COLUMNS: list[Column] = [
    ("NAME", lambda s: s.name),
    ("DISPLAY NAME", lambda s: one_line(s.display_name, 30)),
    ("STATE", state_name),
    ("ITEMS", lambda s: str(s.stats.item_count)),
    ("LAST ACTIVITY", lambda s: when(s.last_activity_time)),
]
ITEM_COLUMNS: list[Column] = [
    ("SEQ", lambda i: str(i.sequence)),
    ("TYPE", lambda i: i.type),
    ("ROLE", lambda i: i.role or "-"),
    ("CONTENT", item_summary),
]


def agent_fields(agent: agent_pb2.Agent) -> list[tuple[str, str]]:
    settings = agent.model_settings
    return [
        ("name", agent.name),
        ("display_name", agent.display_name),
        ("description", agent.description or "-"),
        ("model", agent.model or "-"),
        ("instructions", one_line(agent.instructions, 200) or "-"),
        ("tools", ", ".join(agent.tools) or "-"),
        ("handoffs", ", ".join(agent.handoffs) or "-"),
        ("temperature", str(settings.temperature) if settings.HasField("temperature") else "-"),
        ("top_p", str(settings.top_p) if settings.HasField("top_p") else "-"),
        (
            "max_output_tokens",
            str(settings.max_output_tokens) if settings.HasField("max_output_tokens") else "-",
        ),
        ("history_max_items", str(agent.history_policy.max_items or "all")),
        ("create_time", when(agent.create_time)),
        ("update_time", when(agent.update_time)),
        ("etag", agent.etag),
    ]


def session_fields(session: session_pb2.Session) -> list[tuple[str, str]]:
    stats = session.stats
    labels = ", ".join(f"{k}={v}" for k, v in sorted(session.labels.items()))
    return [
        ("name", session.name),
        ("display_name", session.display_name),
        ("state", state_name(session)),
        ("labels", labels or "-"),
        ("items", str(stats.item_count)),
        ("messages", str(stats.message_count)),
        ("function_calls", str(stats.function_call_count)),
        ("runs", str(stats.run_count)),
        ("tokens", f"{stats.total_tokens} ({stats.input_tokens} in, {stats.output_tokens} out)"),
        ("create_time", when(session.create_time)),
        ("update_time", when(session.update_time)),
        ("last_activity_time", when(session.last_activity_time)),
        ("expire_time", when(session.expire_time)),
        ("etag", session.etag),
    ]


@dataclass
class Output:
    """Where and how a command prints its result."""

    json: bool = False
    stream: TextIO = sys.stdout

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def resource(self, message: Message, fields: Sequence[tuple[str, str]]) -> None:
        """One resource: its JSON, or `key: value` lines."""
        if self.json:
            self.write(json.dumps(to_dict(message), ensure_ascii=False, indent=2))
            return
        width = max(len(key) for key, _ in fields)
        for key, value in fields:
            self.write(f"{key:<{width}}  {value}")

    def table(self, rows: Iterable[Message], columns: Sequence[Column]) -> None:
        """Many resources: a JSON array, or an aligned table (`(none)` when empty)."""
        if self.json:
            data = [to_dict(row) for row in rows]
            self.write(json.dumps(data, ensure_ascii=False, indent=2))
            return
        cells = [[render(row) for _, render in columns] for row in rows]
        if not cells:
            self.write("(none)")
            return
        headers = [title for title, _ in columns]
        widths = [max(len(r[i]) for r in [headers, *cells]) for i in range(len(headers))]
        for line in [headers, *cells]:
            self.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())

    def done(self, text: str, data: dict[str, Any]) -> None:
        """A short confirmation: `text`, or `data` as JSON."""
        self.write(json.dumps(data, ensure_ascii=False) if self.json else text)
