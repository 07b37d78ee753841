"""Client loads over gRPC; each runs in its own process so the server's CPU is measured alone.

Every function here is a process entry point: it takes plain arguments, runs its own event
loop and returns a `Load`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import grpc
from agentsessions.v1 import (
    events_pb2,
    session_pb2,
    session_service_pb2,
    session_service_pb2_grpc,
)
from google.protobuf.message import Message

from .measure import Load

_OPTIONS = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]


async def _drive(
    concurrency: int, seconds: float, call: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Runs `call(worker)` in `concurrency` loops until `seconds` pass; returns time, latencies."""
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(index: int) -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            await call(index)
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return time.perf_counter() - start, latencies


def _channels(address: str, count: int) -> list[grpc.aio.Channel]:
    """`count` channels; several get a subchannel pool each, so each is its own connection.

    Separate connections are what spreads calls over the processes of `serve --workers`.
    """
    options = _OPTIONS if count == 1 else [*_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
    return [grpc.aio.insecure_channel(address, options=options) for _ in range(count)]


def get_session(
    address: str, names: Sequence[str], concurrency: int, seconds: float, channels: int = 1
) -> Load:
    """GetSession in `concurrency` loops, worker i asking for names[i % len(names)].

    Worker i calls on channel i % `channels`.
    """

    async def run() -> Load:
        opened = _channels(address, channels)
        try:
            stubs = [session_service_pb2_grpc.SessionServiceStub(c) for c in opened]
            requests = [session_service_pb2.GetSessionRequest(name=n) for n in names]

            async def call(worker: int) -> None:
                await stubs[worker % len(stubs)].GetSession(requests[worker % len(requests)])

            for index in range(channels):
                await call(index)  # connect before the clock starts
            elapsed, latencies = await _drive(concurrency, seconds, call)
            return Load(len(latencies), elapsed, latencies)
        finally:
            for channel in opened:
                await channel.close()

    return asyncio.run(run())


def add_items(
    address: str, parents: Sequence[str], item_json: str, seconds: float, channels: int = 1
) -> Load:
    """One caller per session, each adding one item per AddItems call.

    Caller i calls on channel i % `channels`.
    """

    async def run() -> Load:
        acknowledged: list[tuple[str, int]] = []
        opened = _channels(address, channels)
        try:
            stubs = [session_service_pb2_grpc.SessionServiceStub(c) for c in opened]
            item = session_pb2.Item(item_json=item_json)
            make = session_service_pb2.AddItemsRequest
            requests = [make(parent=p, items=[item]) for p in parents]

            async def call(worker: int) -> None:
                response = await stubs[worker % len(stubs)].AddItems(requests[worker])
                acknowledged.append((parents[worker], response.items[0].sequence))

            for stub in stubs:  # connect before the clock starts
                await stub.GetSession(session_service_pb2.GetSessionRequest(name=parents[0]))
            elapsed, latencies = await _drive(len(parents), seconds, call)
            return Load(len(latencies), elapsed, latencies, acknowledged=acknowledged)
        finally:
            for channel in opened:
                await channel.close()

    return asyncio.run(run())


async def send_one(
    stub: session_service_pb2_grpc.SessionServiceAsyncStub, session: str, text: str, deadline: float
) -> tuple[float, bool]:
    """One SendMessage; returns the time to the first text delta and whether it completed."""
    began = time.perf_counter()
    first = 0.0
    completed = False
    request = events_pb2.SendMessageRequest(session=session, text=text)
    call = stub.SendMessage(request, timeout=deadline)
    async for event in call:
        kind = event.WhichOneof("event")
        if kind == "text_delta" and not first:
            first = time.perf_counter() - began
        elif kind == "run_completed":
            completed = True
    return first, completed


def send_message(
    address: str, sessions: Sequence[Sequence[str]], text: str, seconds: float, turns: int
) -> Load:
    """One caller per list of sessions, sending messages one after another, `turns` per session.

    Moving on to a new session every few turns keeps the histories, which every turn reads,
    as short as a conversation's rather than growing for the whole measurement.
    """

    async def run() -> Load:
        first_delta: list[float] = []
        errors = 0
        sent = [0] * len(sessions)
        async with grpc.aio.insecure_channel(address, options=_OPTIONS) as channel:
            stub = session_service_pb2_grpc.SessionServiceStub(channel)

            async def call(worker: int) -> None:
                nonlocal errors
                mine = sessions[worker]
                session = mine[sent[worker] // turns % len(mine)]
                sent[worker] += 1
                first, completed = await send_one(stub, session, text, 60.0)
                first_delta.append(first)
                errors += not completed

            await channel.channel_ready()
            elapsed, latencies = await _drive(len(sessions), seconds, call)
            return Load(len(latencies), elapsed, latencies, first_delta=first_delta, errors=errors)

    return asyncio.run(run())


def read_calls(
    address: str, method: str, requests: Sequence[Message], concurrency: int, seconds: float
) -> Load:
    """Calls SessionService.`method` with `requests` in turn, in `concurrency` loops."""

    async def run() -> Load:
        async with grpc.aio.insecure_channel(address, options=_OPTIONS) as channel:
            stub = session_service_pb2_grpc.SessionServiceStub(channel)
            rpc = getattr(stub, method)
            turn = iter(range(10**12))

            async def call(worker: int) -> None:
                await rpc(requests[next(turn) % len(requests)])

            await call(0)
            elapsed, latencies = await _drive(concurrency, seconds, call)
            return Load(len(latencies), elapsed, latencies)

    return asyncio.run(run())


def many_streams(address: str, sessions: Sequence[str], text: str, channels: int) -> Load:
    """One SendMessage on every session at once; counts streams that did not complete."""

    async def run() -> Load:
        # A local subchannel pool each, so the channels are separate connections.
        options = [*_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
        opened = [grpc.aio.insecure_channel(address, options=options) for _ in range(channels)]
        stubs = [session_service_pb2_grpc.SessionServiceStub(c) for c in opened]
        latencies: list[float] = []
        first_delta: list[float] = []
        errors = 0

        async def one(index: int) -> None:
            nonlocal errors
            began = time.perf_counter()
            try:
                first, completed = await send_one(
                    stubs[index % channels], sessions[index], text, 300.0
                )
            except grpc.aio.AioRpcError:
                errors += 1
                return
            errors += not completed
            latencies.append(time.perf_counter() - began)
            first_delta.append(first)

        try:
            for channel in opened:
                await channel.channel_ready()
            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(len(sessions))))
            elapsed = time.perf_counter() - start
        finally:
            for channel in opened:
                await channel.close()
        return Load(len(latencies), elapsed, latencies, first_delta=first_delta, errors=errors)

    return asyncio.run(run())
