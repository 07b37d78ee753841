"""The model-written summary for CompactSession: one model turn, no tools, no session.

The items being replaced are rendered as a plain-text transcript in one user message, so
any model can read them: no provider has to accept tool calls without tools, or another
model's reasoning items. The offline `echo` model answers with the transcript itself,
which makes its summaries deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agents import Agent, Model, ModelSettings, RunConfig, Runner

from ..domain.compaction import SUMMARY_TEXT_MAX
from ..domain.errors import Internal
from ..domain.models import ItemRecord, Usage
from .errors import domain_error_of

INSTRUCTIONS = (
    "You summarise a conversation between a user and an AI assistant so that the assistant "
    "can carry on from the summary alone. The user's message is a transcript, one entry per "
    "line. Write a concise summary in the conversation's language: what the user wants, the "
    "facts, names, numbers and decisions so far, what tools returned that still matters, and "
    "what is still open. Write only the summary."
)
LINE_MAX = 4_000  # characters of one entry; a long tool output is cut
TRANSCRIPT_MAX = 200_000  # characters in all; the oldest entries after the first go first


def _clip(text: str, limit: int = LINE_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def transcript_line(record: ItemRecord) -> str | None:
    """One entry of the transcript; None for items that carry nothing to summarise."""
    try:
        data = json.loads(record.item_json)
    except ValueError:
        data = None
    item: dict[str, Any] = data if isinstance(data, dict) else {}
    if record.type == "message":
        return f"{record.role or 'message'}: {_clip(record.text)}"
    if record.type == "reasoning":
        return None  # the model's private working; its conclusions are in the messages
    if record.type.endswith("_call_output"):
        return f"tool output: {_clip(_as_text(item.get('output')))}"
    if record.type.endswith("_call"):
        if item.get("name"):  # a function: name and arguments say it all
            call = f"{item['name']}({_as_text(item.get('arguments'))})"
            return f"tool call: {_clip(call)}"
        return f"tool call: {_clip(record.item_json)}"  # a hosted tool: its whole item
    return f"{record.type}: {_clip(record.item_json)}"


def transcript(items: Sequence[ItemRecord], omitted: int = 0) -> str:
    """The items as text. Over TRANSCRIPT_MAX, entries after the first (often an earlier
    summary) are dropped oldest first, and a marker says how many are missing."""
    lines = [line for line in map(transcript_line, items) if line is not None]
    size = sum(len(line) + 1 for line in lines)
    first, rest = lines[:1], lines[1:]
    while rest and size > TRANSCRIPT_MAX:
        size -= len(rest.pop(0)) + 1
        omitted += 1
    marker = [f"[{omitted} earlier entries are not shown]"] if omitted else []
    return "\n".join(first + marker + rest)


async def summarize(
    model: Model, items: Sequence[ItemRecord], *, omitted: int = 0
) -> tuple[str, Usage]:
    """Has `model` summarise `items`; returns the summary and the model's usage.

    Raises the domain error of a failed model call (UNAVAILABLE for an unreachable
    endpoint, and so on), or Internal (EMPTY_SUMMARY) when the model wrote nothing.
    """
    agent: Agent[Any] = Agent(
        name="summarizer",
        instructions=INSTRUCTIONS,
        model=model,
        model_settings=ModelSettings(),
    )
    text = transcript(items, omitted)
    try:
        result = await Runner.run(
            agent,
            [{"role": "user", "content": text}],
            max_turns=1,
            run_config=RunConfig(tracing_disabled=True),
        )
    except Exception as exc:
        raise domain_error_of(exc) from exc
    summary = _as_text(result.final_output).strip()[:SUMMARY_TEXT_MAX]
    if not summary:
        raise Internal("the model wrote an empty summary", reason="EMPTY_SUMMARY")
    usage = result.context_wrapper.usage
    return summary, Usage(
        usage.requests, usage.input_tokens, usage.output_tokens, usage.total_tokens
    )
