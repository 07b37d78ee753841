"""The `echo` model: offline and deterministic; it repeats the last user message word by word.

The reply is exactly the text of the newest user message (or `(nothing to echo)` when there is
none). Usage counts words as tokens: the instructions and every input message are the input,
the reply is the output. It never calls tools, so the service works with no key and no network.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

from agents import Model, ModelResponse, ModelSettings, ModelTracing, Tool, Usage
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

NOTHING_TO_ECHO = "(nothing to echo)"
_PIECES = re.compile(r"\s*\S+\s*|\s+")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def last_user_text(input: str | list[TResponseInputItem]) -> str:
    if isinstance(input, str):
        return input
    for item in reversed(input):
        if isinstance(item, dict) and item.get("role") == "user":
            return _text_of(item.get("content"))
    return ""


def _word_count(text: str) -> int:
    return len(text.split())


def _input_words(system_instructions: str | None, input: str | list[TResponseInputItem]) -> int:
    words = _word_count(system_instructions or "")
    if isinstance(input, str):
        return words + _word_count(input)
    for item in input:
        if isinstance(item, dict):
            words += _word_count(_text_of(item.get("content")))
    return words


class EchoModel(Model):
    """Replies with the newest user message; `word_delay` seconds between streamed words."""

    def __init__(self, *, word_delay: float = 0.0) -> None:
        self._word_delay = word_delay

    def _reply(
        self, system_instructions: str | None, input: str | list[TResponseInputItem]
    ) -> tuple[ResponseOutputMessage, ResponseUsage]:
        text = last_user_text(input) or NOTHING_TO_ECHO
        message = ResponseOutputMessage(
            id=f"msg_echo_{uuid.uuid4().hex[:24]}",
            type="message",
            role="assistant",
            status="completed",
            content=[
                ResponseOutputText(type="output_text", text=text, annotations=[], logprobs=[])
            ],
        )
        input_tokens = _input_words(system_instructions, input)
        output_tokens = _word_count(text)
        usage = ResponseUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        )
        return message, usage

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        message, usage = self._reply(system_instructions, input)
        return ModelResponse(
            output=[message],
            usage=Usage(
                requests=1,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                total_tokens=usage.total_tokens,
            ),
            response_id=None,
        )

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        message, usage = self._reply(system_instructions, input)
        part = message.content[0]
        assert isinstance(part, ResponseOutputText)
        response = Response(
            id=f"resp_echo_{uuid.uuid4().hex[:24]}",
            created_at=0,
            model="echo",
            object="response",
            output=[],
            tool_choice="none",
            tools=[],
            top_p=None,
            parallel_tool_calls=False,
            status="in_progress",
        )
        sequence = iter(range(1_000_000))
        yield ResponseCreatedEvent(
            type="response.created", response=response, sequence_number=next(sequence)
        )
        yield ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=message.model_copy(update={"content": [], "status": "in_progress"}),
            output_index=0,
            sequence_number=next(sequence),
        )
        yield ResponseContentPartAddedEvent(
            type="response.content_part.added",
            part=part.model_copy(update={"text": ""}),
            content_index=0,
            sequence_number=next(sequence),
            item_id=message.id,
            output_index=0,
        )
        # finditer, not findall: a long reply is not held twice, once as a list of words.
        for match in _PIECES.finditer(part.text):
            # A real pause point per word, so a cancelled run stops between words.
            await asyncio.sleep(self._word_delay)
            yield ResponseTextDeltaEvent(
                type="response.output_text.delta",
                delta=match.group(),
                content_index=0,
                logprobs=[],
                sequence_number=next(sequence),
                item_id=message.id,
                output_index=0,
            )
        yield ResponseTextDoneEvent(
            type="response.output_text.done",
            text=part.text,
            content_index=0,
            logprobs=[],
            sequence_number=next(sequence),
            item_id=message.id,
            output_index=0,
        )
        yield ResponseContentPartDoneEvent(
            type="response.content_part.done",
            part=part,
            content_index=0,
            sequence_number=next(sequence),
            item_id=message.id,
            output_index=0,
        )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            item=message,
            output_index=0,
            sequence_number=next(sequence),
        )
        yield ResponseCompletedEvent(
            type="response.completed",
            response=response.model_copy(
                update={"output": [message], "status": "completed", "usage": usage}
            ),
            sequence_number=next(sequence),
        )
