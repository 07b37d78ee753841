"""The server's tool registry: built-in tools plus operators' tools from Python entry points.

Agents name tools; callers never send code. Operators add a tool by publishing an entry point
in the group `agentsessions.tools` whose object is an Agents SDK `FunctionTool` or a plain
function (wrapped with `function_tool`); the entry point's name is the tool's name:

    [project.entry-points."agentsessions.tools"]
    weather = "mycompany.tools:weather"
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from importlib.metadata import EntryPoint, entry_points
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents import FunctionTool, Tool, function_tool

from ..domain.errors import FieldViolation, InvalidArgument
from .arithmetic import CalculationError, evaluate, format_number

log = logging.getLogger("agentsessions.runtime")

ENTRY_POINT_GROUP = "agentsessions.tools"
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@function_tool(name_override="current_time")
def current_time(timezone: str) -> str:
    """The current date and time in a time zone, ISO 8601 with the weekday.

    Args:
        timezone: An IANA time zone name such as UTC, Europe/Paris or America/New_York.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {timezone!r}; use an IANA name such as Europe/Paris"
    now = datetime.now(zone)
    return f"{now.isoformat(timespec='seconds')} ({now:%A}, {timezone})"


@function_tool(name_override="calculate")
def calculate(expression: str) -> str:
    """Evaluates arithmetic exactly: + - * / // % **, parentheses, pi, e, and sqrt, log, exp,
    sin, cos, tan, abs, round, min, max, floor, ceil.

    Args:
        expression: The arithmetic expression, for example "(3 + 4) * 2 ** 10".
    """
    try:
        return format_number(evaluate(expression))
    except CalculationError as exc:
        return f"error: {exc}"


BUILTIN_TOOLS: tuple[FunctionTool, ...] = (current_time, calculate)


def tool_from_entry_point(entry_point: EntryPoint) -> FunctionTool:
    """Loads one entry point as a FunctionTool named after the entry point."""
    loaded = entry_point.load()
    if isinstance(loaded, FunctionTool):
        if loaded.name == entry_point.name:
            return loaded
        return dataclasses.replace(loaded, name=entry_point.name)
    if callable(loaded):
        return function_tool(loaded, name_override=entry_point.name)
    raise TypeError(f"{entry_point.value} is neither a FunctionTool nor a function")


class ToolRegistry:
    """Tools by name. `validate_tools` when an agent is saved, `get_tools` per run."""

    def __init__(self, tools: Iterable[FunctionTool] = BUILTIN_TOOLS) -> None:
        self._tools: dict[str, FunctionTool] = {}
        for tool in tools:
            self.add(tool)

    @classmethod
    def with_entry_points(cls, found: Iterable[EntryPoint] | None = None) -> ToolRegistry:
        """The built-ins plus every loadable entry point; a broken one is logged and skipped."""
        registry = cls()
        for entry_point in entry_points(group=ENTRY_POINT_GROUP) if found is None else found:
            try:
                registry.add(tool_from_entry_point(entry_point))
            except Exception:
                log.exception("skipping tool entry point %r", entry_point.name)
        return registry

    def add(self, tool: FunctionTool) -> None:
        if not TOOL_NAME.fullmatch(tool.name):
            raise ValueError(f"tool name {tool.name!r} must match {TOOL_NAME.pattern}")
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def validate_tools(self, names: Collection[str]) -> None:
        """Raises InvalidArgument (UNKNOWN_TOOL) naming every unknown tool."""
        unknown = [name for name in names if name not in self._tools]
        if unknown:
            listed = ", ".join(repr(name) for name in unknown)
            raise InvalidArgument(
                f"agent.tools: unknown tools {listed}; the server has: {', '.join(self.names)}",
                violations=[FieldViolation("agent.tools", f"unknown tool {n!r}") for n in unknown],
                reason="UNKNOWN_TOOL",
                metadata={"unknown_tools": listed},
            )

    def get_tools(self, names: Iterable[str]) -> list[Tool]:
        self.validate_tools(list(names))
        return [self._tools[name] for name in names]

    def as_mapping(self) -> Mapping[str, FunctionTool]:
        return dict(self._tools)
