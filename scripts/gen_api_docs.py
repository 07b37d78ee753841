"""Writes docs/api.md, the API reference, from the comments of protos/agentsessions/v1."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import google.api
import grpc_tools
from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUTPUT = ROOT / "docs" / "api.md"
PACKAGE = "agentsessions.v1"

# Field numbers of descriptor.proto, as used in SourceCodeInfo.Location.path.
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM, MESSAGE_ONEOF = 2, 3, 4, 8
ENUM_VALUE = 2
SERVICE_METHOD = 2

SCALARS = {
    descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: "double",
    descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT: "float",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT64: "uint64",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED64: "fixed64",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED32: "fixed32",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "string",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: "uint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED32: "sfixed32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED64: "sfixed64",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT32: "sint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT64: "sint64",
}


@dataclass
class Comments:
    """The comments of one proto file, by SourceCodeInfo path."""

    by_path: dict[tuple[int, ...], str]

    def get(self, *path: int) -> str:
        return self.by_path.get(path, "")


def load_files() -> list[descriptor_pb2.FileDescriptorProto]:
    """Compiles protos/ with source info and returns the contract's own files."""
    googleapis = Path(google.api.__path__[0]).parent.parent
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "contract.binpb"
        code = protoc.main(
            [
                "protoc",
                f"-I{PROTOS}",
                f"-I{googleapis}",
                f"-I{well_known}",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                *sources,
            ]
        )
        if code != 0:
            raise SystemExit(f"protoc failed with exit code {code}")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return [f for f in files if f.package == PACKAGE]


def comments_of(file: descriptor_pb2.FileDescriptorProto) -> Comments:
    by_path: dict[tuple[int, ...], str] = {}
    for location in file.source_code_info.location:
        text = location.leading_comments or location.trailing_comments
        if text:
            by_path[tuple(location.path)] = " ".join(text.split())
    return Comments(by_path)


def cell(text: str) -> str:
    """Makes text safe inside a Markdown table cell."""
    return text.replace("|", "\\|") or " "


def anchor(full_name: str) -> str:
    """The GitHub-style anchor of a heading that is exactly `full_name`."""
    return full_name.lower().replace(".", "")


def type_link(type_name: str) -> str:
    """Links a fully qualified type to its section, or names an external one."""
    name = type_name.lstrip(".")
    if name.startswith(PACKAGE + "."):
        short = name[len(PACKAGE) + 1 :]
        return f"[`{short}`](#{anchor(short)})"
    return f"`{name}`"


def field_type(
    field: descriptor_pb2.FieldDescriptorProto,
    maps: dict[str, descriptor_pb2.DescriptorProto],
) -> str:
    if field.type_name.lstrip(".") in maps:
        key, value = maps[field.type_name.lstrip(".")].field
        names = [f.type_name.lstrip(".") or SCALARS[f.type] for f in (key, value)]
        return f"`map<{names[0]}, {names[1]}>`"
    base = type_link(field.type_name) if field.type_name else f"`{SCALARS[field.type]}`"
    if field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
        return f"repeated {base}"
    return base


def behaviors(field: descriptor_pb2.FieldDescriptorProto) -> str:
    values = field.options.Extensions[field_behavior_pb2.field_behavior]
    names = [field_behavior_pb2.FieldBehavior.Name(v) for v in values]
    if field.proto3_optional:
        names.append("proto3 `optional`")
    return ", ".join(names)


def walk_messages(
    file: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto, tuple[int, ...]]]:
    """Yields (name within the package, message, source path), parents before nested ones."""
    stack: list[tuple[str, descriptor_pb2.DescriptorProto, tuple[int, ...]]] = [
        (m.name, m, (FILE_MESSAGE, i)) for i, m in reversed(list(enumerate(file.message_type)))
    ]
    while stack:
        name, message, path = stack.pop()
        yield name, message, path
        for i, nested in reversed(list(enumerate(message.nested_type))):
            stack.append((f"{name}.{nested.name}", nested, (*path, MESSAGE_NESTED, i)))


def render_services(files: list[descriptor_pb2.FileDescriptorProto]) -> list[str]:
    lines = ["## Services", ""]
    for file in files:
        comments = comments_of(file)
        for s, service in enumerate(file.service):
            full = f"{PACKAGE}.{service.name}"
            lines += [f"### {full}", "", comments.get(FILE_SERVICE, s), ""]
            lines += [f"Defined in `{file.name}`.", ""]
            lines += ["| RPC | Request | Response | Description |", "| --- | --- | --- | --- |"]
            for m, method in enumerate(service.method):
                response = type_link(method.output_type)
                if method.server_streaming:
                    response = f"stream {response}"
                text = comments.get(FILE_SERVICE, s, SERVICE_METHOD, m)
                lines.append(
                    f"| `{method.name}` | {type_link(method.input_type)} | {response} "
                    f"| {cell(text)} |"
                )
            lines.append("")
    return lines


def render_message(
    name: str,
    message: descriptor_pb2.DescriptorProto,
    path: tuple[int, ...],
    comments: Comments,
    maps: dict[str, descriptor_pb2.DescriptorProto],
) -> list[str]:
    lines = [f"### {name}", "", comments.get(*path), ""]
    if message.options.HasExtension(resource_pb2.resource):
        resource = message.options.Extensions[resource_pb2.resource]
        patterns = ", ".join(f"`{p}`" for p in resource.pattern)
        lines += [f"Resource `{resource.type}`, named {patterns}.", ""]
    if not message.field:
        return [*lines, "No fields.", ""]
    lines += [
        "| Field | Number | Type | Behavior | Description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f, field in enumerate(message.field):
        text = comments.get(*path, MESSAGE_FIELD, f)
        if field.HasField("oneof_index") and not field.proto3_optional:
            text = f"One of `{message.oneof_decl[field.oneof_index].name}`. {text}"
        reference = field.options.Extensions[resource_pb2.resource_reference]
        if reference.type:
            text = f"{text} References `{reference.type}`."
        elif reference.child_type:
            text = f"{text} Parent of `{reference.child_type}`."
        lines.append(
            f"| `{field.name}` | {field.number} | {field_type(field, maps)} "
            f"| {behaviors(field)} | {cell(text)} |"
        )
    lines.append("")
    for o, oneof in enumerate(message.oneof_decl):
        if oneof.name.startswith("_"):
            continue  # The synthetic oneof of a proto3 `optional` field.
        lines += [f"Oneof `{oneof.name}`: {comments.get(*path, MESSAGE_ONEOF, o)}", ""]
    return lines


def render_enum(
    name: str, enum: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...], comments: Comments
) -> list[str]:
    lines = [f"### {name}", "", comments.get(*path), ""]
    lines += ["| Value | Number | Description |", "| --- | --- | --- |"]
    for v, value in enumerate(enum.value):
        text = comments.get(*path, ENUM_VALUE, v)
        lines.append(f"| `{value.name}` | {value.number} | {cell(text)} |")
    return [*lines, ""]


def render(files: list[descriptor_pb2.FileDescriptorProto]) -> str:
    lines = [
        "# agentsessions.v1 API reference",
        "",
        "<!-- Generated by scripts/gen_api_docs.py from protos/; do not edit: run `make docs`. -->",
        "",
        "Generated from the comments of `protos/agentsessions/v1/*.proto`. Field behavior",
        "comes from `google.api.field_behavior`: REQUIRED fields must be set, OUTPUT_ONLY",
        "fields are set by the server and ignored in requests, IDENTIFIER is the resource",
        "name. Errors carry `google.rpc.Status` details (see the README).",
        "",
        *render_services(files),
    ]
    messages: list[str] = ["## Messages", ""]
    enums: list[str] = ["## Enums", ""]
    for file in files:
        comments = comments_of(file)
        all_messages = list(walk_messages(file))
        maps = {
            f"{PACKAGE}.{name}": message
            for name, message, _ in all_messages
            if message.options.map_entry
        }
        for name, message, path in all_messages:
            if message.options.map_entry:
                continue
            messages += render_message(name, message, path, comments, maps)
            for e, enum in enumerate(message.enum_type):
                enums += render_enum(
                    f"{name}.{enum.name}", enum, (*path, MESSAGE_ENUM, e), comments
                )
        for e, enum in enumerate(file.enum_type):
            enums += render_enum(enum.name, enum, (FILE_ENUM, e), comments)
    text = "\n".join([*lines, *messages, *enums])
    return text.rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="fail if docs/api.md is not up to date"
    )
    args = parser.parse_args(argv)
    text = render(load_files())
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print("docs/api.md is out of date: run make docs and commit it", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
