"""The contract through server reflection alone, as grpcurl or evans see it.

Nothing here reads protos/ or imports agentsessions.v1: every descriptor comes
from the reflection service and lives in a fresh DescriptorPool.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

SERVICES = {
    "agentsessions.v1.AgentService",
    "agentsessions.v1.SessionService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
}


class Reflection:
    """One reflection stream: a request in, its response out."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo()

    async def ask(self, **request: Any) -> reflection_pb2.ServerReflectionResponse:
        await self._call.write(reflection_pb2.ServerReflectionRequest(**request))
        response = await self._call.read()
        assert isinstance(response, reflection_pb2.ServerReflectionResponse)
        assert not response.HasField("error_response"), response.error_response
        return response

    async def close(self) -> None:
        await self._call.done_writing()

    async def files(self, **request: Any) -> list[descriptor_pb2.FileDescriptorProto]:
        response = await self.ask(**request)
        return [
            descriptor_pb2.FileDescriptorProto.FromString(raw)
            for raw in response.file_descriptor_response.file_descriptor_proto
        ]


@pytest.fixture
async def reflection(channel: grpc.aio.Channel) -> AsyncIterator[Reflection]:
    stream = Reflection(channel)
    yield stream
    await stream.close()


async def pool_for_symbol(reflection: Reflection, symbol: str) -> descriptor_pool.DescriptorPool:
    """Fetches the file defining `symbol` and, by name, every file it imports."""
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    pending: list[descriptor_pb2.FileDescriptorProto] = await reflection.files(
        file_containing_symbol=symbol
    )
    while pending:
        for file in pending:
            files.setdefault(file.name, file)
        missing = {dep for f in files.values() for dep in f.dependency} - files.keys()
        pending = []
        for name in sorted(missing):
            pending += await reflection.files(file_by_filename=name)
    pool = descriptor_pool.DescriptorPool()
    for file in dependency_order(files):
        pool.Add(file)
    return pool


def serialize(message: Message) -> bytes:
    return message.SerializeToString()


def dependency_order(
    files: dict[str, descriptor_pb2.FileDescriptorProto],
) -> Iterable[descriptor_pb2.FileDescriptorProto]:
    done: set[str] = set()

    def visit(name: str) -> Iterable[descriptor_pb2.FileDescriptorProto]:
        if name in done:
            return
        done.add(name)
        for dep in files[name].dependency:
            yield from visit(dep)
        yield files[name]

    for name in sorted(files):
        yield from visit(name)


async def test_list_services(reflection: Reflection) -> None:
    response = await reflection.ask(list_services="")
    names = {s.name for s in response.list_services_response.service}
    assert names >= SERVICES


async def test_send_message_descriptor_comes_from_reflection_alone(
    reflection: Reflection,
) -> None:
    pool = await pool_for_symbol(reflection, "agentsessions.v1.SessionService")

    service = pool.FindServiceByName("agentsessions.v1.SessionService")
    method = service.methods_by_name["SendMessage"]
    assert method.input_type.full_name == "agentsessions.v1.SendMessageRequest"
    assert method.output_type.full_name == "agentsessions.v1.SendMessageResponse"
    assert method.server_streaming and not method.client_streaming
    event = method.output_type.oneofs_by_name["event"]
    assert {f.name for f in event.fields} >= {"run_started", "run_completed", "run_failed"}
    failed = method.output_type.fields_by_name["run_failed"].message_type
    assert failed is not None
    error = failed.fields_by_name["error"].message_type
    assert error is not None and error.full_name == "google.rpc.Status"
    assert {m.name for m in service.methods} >= {"CreateSession", "ListItems", "PopItem"}


async def test_a_call_built_from_reflected_descriptors_works(
    reflection: Reflection, channel: grpc.aio.Channel
) -> None:
    pool = await pool_for_symbol(reflection, "agentsessions.v1.AgentService")
    method = pool.FindServiceByName("agentsessions.v1.AgentService").methods_by_name["CreateAgent"]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    agent_id = f"reflected-{uuid.uuid4().hex[:8]}"
    request = request_class(agent={"display_name": "From reflection"}, agent_id=agent_id)

    create: grpc.aio.UnaryUnaryMultiCallable[Message, Message] = channel.unary_unary(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=serialize,
        response_deserializer=response_class.FromString,
    )
    agent = await create(request, timeout=10)

    # Not the generated module's class: its descriptor lives in the reflected pool.
    assert agent.DESCRIPTOR.file.pool is pool
    fields = json_format.MessageToDict(agent, preserving_proto_field_name=True)
    assert fields["name"] == f"agents/{agent_id}"
    assert fields["display_name"] == "From reflection"
    assert "create_time" in fields
