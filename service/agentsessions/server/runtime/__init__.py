"""The agent runtime behind SendMessage: models, tools, the store as SDK session, and runs."""

from .echo import EchoModel
from .errors import Code, run_error_of
from .events import (
    TERMINAL_EVENTS,
    AgentUpdatedEvent,
    MessageCompletedEvent,
    RunCancelledEvent,
    RunCompletedEvent,
    RunEvent,
    RunFailedEvent,
    RunStartedEvent,
    TextDeltaEvent,
    ToolCalledEvent,
    ToolOutputEvent,
)
from .inputs import DEFAULT_MAX_TURNS, RunInput, items_input, max_turns_of, run_input, text_input
from .models import Endpoint, ModelRegistry
from .requests import RunHandle, SendOptions
from .run_log import Encoder, RunSignals, follow
from .runner import AgentRunner
from .store_session import StoreSession
from .tools import ENTRY_POINT_GROUP, ToolRegistry

__all__ = [
    "DEFAULT_MAX_TURNS",
    "ENTRY_POINT_GROUP",
    "TERMINAL_EVENTS",
    "AgentRunner",
    "AgentUpdatedEvent",
    "Code",
    "EchoModel",
    "Encoder",
    "Endpoint",
    "MessageCompletedEvent",
    "ModelRegistry",
    "RunCancelledEvent",
    "RunCompletedEvent",
    "RunEvent",
    "RunFailedEvent",
    "RunHandle",
    "RunInput",
    "RunSignals",
    "RunStartedEvent",
    "SendOptions",
    "StoreSession",
    "TextDeltaEvent",
    "ToolCalledEvent",
    "ToolOutputEvent",
    "ToolRegistry",
    "follow",
    "items_input",
    "max_turns_of",
    "run_error_of",
    "run_input",
    "text_input",
]
