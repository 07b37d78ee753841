"""A fake OpenAI chat-completions endpoint on 127.0.0.1: HTTP/1.1 with SSE streaming.

It answers `POST /v1/chat/completions` from a script of replies (text, tool calls, or an HTTP
error), streams text word by word as `chat.completion.chunk` events when the request asks for
`stream`, and records every request so that tests can assert what the model was sent. Built on
asyncio streams only: no network beyond the loopback, no extra packages.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    call_id: str = "call_1"


@dataclass
class Reply:
    """One scripted answer: text, tool calls, or an HTTP error status with a message."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    status: int = 200
    error: str = ""


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeChatCompletions:
    """`async with FakeChatCompletions([Reply("hi")]) as fake:` serves at `fake.base_url`."""

    def __init__(self, replies: list[Reply] | None = None) -> None:
        self.replies = list(replies or [])
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aenter__(self) -> FakeChatCompletions:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request := await self._read(reader):
                await self._answer(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> Request | None:
        line = await reader.readline()
        if not line:
            return None
        _method, path, _version = line.decode().split(" ", 2)
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, value = header.decode().split(":", 1)
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Request(path, headers, json.loads(body) if body else {})

    async def _answer(self, request: Request, writer: asyncio.StreamWriter) -> None:
        self.requests.append(request)
        if not request.path.endswith("/chat/completions") or not self.replies:
            return await self._send_json(writer, 404, {"error": {"message": "no scripted reply"}})
        reply = self.replies.pop(0)
        if reply.status != 200:
            error = {"error": {"message": reply.error, "type": "fake_error", "code": None}}
            return await self._send_json(writer, reply.status, error)
        model = request.body.get("model", "fake")
        if not request.body.get("stream"):
            return await self._send_json(writer, 200, self._completion(reply, model))
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        for chunk in self._chunks(reply, model):
            await self._send_chunk(writer, f"data: {json.dumps(chunk)}\n\n")
        await self._send_chunk(writer, "data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    @staticmethod
    async def _send_chunk(writer: asyncio.StreamWriter, data: str) -> None:
        raw = data.encode()
        writer.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        await writer.drain()

    @staticmethod
    async def _send_json(writer: asyncio.StreamWriter, status: int, payload: Any) -> None:
        raw = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(raw)}\r\n\r\n".encode()
            + raw
        )
        await writer.drain()

    @staticmethod
    def _usage(reply: Reply) -> dict[str, int]:
        completion = len(reply.text.split()) + len(reply.tool_calls)
        return {"prompt_tokens": 7, "completion_tokens": completion, "total_tokens": 7 + completion}

    def _completion(self, reply: Reply, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in reply.tool_calls
            ]
        finish = "tool_calls" if reply.tool_calls else "stop"
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": self._usage(reply),
        }

    def _chunks(self, reply: Reply, model: str) -> list[dict[str, Any]]:
        base = {"id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion.chunk"}
        base |= {"created": 0, "model": model}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk({"content": word}) for word in re.findall(r"\S+\s*", reply.text)]
        for index, call in enumerate(reply.tool_calls):
            head = {"index": index, "id": call.call_id, "type": "function"}
            head["function"] = {"name": call.name, "arguments": ""}
            chunks.append(chunk({"tool_calls": [head]}))
            arguments = json.dumps(call.arguments)
            for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
                chunks.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                )
        chunks.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
        chunks.append(base | {"choices": [], "usage": self._usage(reply)})
        return chunks
