"""Hypothesis strategies for fuzzing the service: any request message of the contract, built
from its descriptor, with values that hit the server's edges.

Strings are chosen by the field's name (names, ids, tokens, filters, masks, item JSON...)
from a mix of values the server issued (so calls reach past validation), mutations of
them, structured forgeries and random text; huge and deeply nested values come with a small
probability, so that a short run still covers them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor as pd
from google.protobuf import field_mask_pb2, message_factory, timestamp_pb2
from google.protobuf.message import Message
from hypothesis import strategies as st

Strategy = st.SearchStrategy[Any]
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# Repeated fields: usually a few values, sometimes past the service's limits (1000 items,
# 64 labels, 1000 names).
REPEATED_SIZES = (0, 1, 2, 3, 65, 1001)
# A huge string: past each limit of the service (ids 63, display names 100, quoting 64,
# filters 4,096, tokens 512, item JSON 1 MiB, messages 4 MiB).
HUGE_LENGTHS = (64, 65, 101, 513, 4097, 8193, 65, 101, 4097, 70_000, 2**20 + 1, 5 * 2**20)
# Where a list's parent is of another type than the listed resource: `agents/-` lists
# sessions across agents.
PARENTS = {"agentsessions/Session": "agentsessions/SessionParent"}
SMALL_ITEM = '{"role": "user", "content": "x"}'
TIMESTAMP_SECONDS = (-62135596801, -62135596800, 0, 253402300799, 253402300800, 2**62, -(2**62))


@dataclass
class Known:
    """What the server issued to this run: names (by resource type, e.g.
    `agentsessions/Session`), ids, etags and page tokens to reuse."""

    names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    etags: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    by_type: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, name: str) -> None:
        self.names.append(name)
        self.by_type.setdefault(kind, []).append(name)

    def pick(self, values: Sequence[str], fallback: str) -> Strategy:
        return st.sampled_from(list(values) or [fallback])

    def valid_name(self, f: pd.FieldDescriptor) -> Strategy:
        """A name of the resource type the field refers to (its resource_reference), or of
        the parent of its child_type, or of the resource the field names."""
        reference = f.GetOptions().Extensions[resource_pb2.resource_reference]
        kind = reference.type
        if not kind and reference.child_type:
            kind = PARENTS.get(reference.child_type, "")
        if not kind and f.name == "name":
            kind = f.containing_type.GetOptions().Extensions[resource_pb2.resource].type
        return self.pick(self.by_type.get(kind, self.names), "agents/default")


def _text(max_size: int = 40) -> Strategy:
    # Any code point, surrogates excluded: protobuf cannot serialize them in a string field.
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=max_size)


def _huge() -> Strategy:
    return st.builds(
        lambda piece, length: (piece * (length // len(piece) + 1))[:length],
        st.sampled_from(["x", " ", "é", "𝄞", "\u0000", "a/", "\\", '"', "AND "]),
        st.sampled_from(HUGE_LENGTHS),
    )


def _segment() -> Strategy:
    return st.one_of(
        st.from_regex(r"[a-z0-9][a-z0-9-]{0,61}[a-z0-9]", fullmatch=True),
        st.sampled_from(["-", "", ".", "..", "%2F", "default", "0", "-1", "9" * 30]),
        _text(20),
    )


def _mutated(values: Strategy) -> Strategy:
    """A known value changed a little: cut, extended, one character replaced, case flipped."""

    def mutate(value: str, position: int, extra: str, how: int) -> str:
        at = position % (len(value) + 1)
        return [
            value[:at],
            value + extra,
            extra + value,
            value[:at] + extra + value[at + 1 :],
            value.upper(),
            value + "/" + extra,
            value.replace("/", "//", 1),
        ][how]

    return st.builds(mutate, values, st.integers(0, 200), _text(8), st.integers(0, 6))


def names(known: Known) -> Strategy:
    structured = st.builds(
        lambda parts, kinds: "/".join(
            part for pair in zip(kinds, parts, strict=False) for part in pair
        ),
        st.lists(_segment(), min_size=1, max_size=4),
        st.lists(st.sampled_from(["agents", "sessions", "runs", "items", "x", ""]), max_size=4),
    )
    return st.one_of(
        known.pick(known.names, "agents/default"),
        _mutated(known.pick(known.names, "agents/default")),
        structured,
        _text(),
        _huge(),
    )


def ids(known: Known) -> Strategy:
    return st.one_of(
        st.just(""),
        known.pick(known.ids, "default"),
        _segment(),
        _mutated(known.pick(known.ids, "default")),
        _huge(),
    )


def _forged_token() -> Strategy:
    cursor_part = st.one_of(
        st.integers(-(2**70), 2**70),
        st.none(),
        st.booleans(),
        st.floats(),
        _text(12),
        st.lists(st.integers(), max_size=2),
    )
    body = st.fixed_dictionaries(
        {
            "k": st.one_of(st.from_regex(r"[0-9a-f]{8}", fullmatch=True), _text(9)),
            "p": st.one_of(st.from_regex(r"[0-9a-f]{16}", fullmatch=True), st.integers()),
            "c": st.one_of(st.lists(cursor_part, max_size=5), cursor_part),
        }
    )
    return st.builds(
        lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("="),
        st.one_of(body, st.lists(st.integers(), max_size=3), st.just(None)),
    )


def tokens(known: Known) -> Strategy:
    return st.one_of(
        st.just(""),
        known.pick(known.tokens, ""),
        _mutated(known.pick(known.tokens, "")),
        _forged_token(),
        _text(),
        _huge(),
    )


def filters() -> Strategy:
    value = st.one_of(
        st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True),
        st.builds(lambda text: json.dumps(text, ensure_ascii=False), _text(20)),
        _text(10),
    )
    condition = st.builds(
        lambda field_name, op, operand: f"{field_name} {op} {operand}",
        st.sampled_from(["state", "display_name", "labels.team", "labels.", "labels.A", "x"]),
        st.sampled_from(["=", ":", "!=", "==", "<", ""]),
        value,
    )
    joined = st.builds(
        lambda conditions, glue: glue.join(conditions),
        st.lists(condition, min_size=1, max_size=20),
        st.sampled_from([" AND ", " and ", " OR ", "AND", " AND  ", "\tAND\n"]),
    )
    many = st.builds(lambda count: " AND ".join(["state = ACTIVE"] * count), st.integers(0, 1100))
    return st.one_of(st.just(""), joined, many, _text(), _huge())


def order_bys() -> Strategy:
    field_name = st.sampled_from(
        ["last_activity_time", "create_time", "update_time", "display_name", "", "labels.x"]
    )
    direction = st.sampled_from(["", " asc", " desc", " DESC", " sideways", ",create_time"])
    return st.one_of(st.builds(lambda a, b: a + b, field_name, direction), _text(), _huge())


def _json_value(max_leaves: int = 12) -> Strategy:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        _text(30),
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text(10), inner, max_size=4),
        max_leaves=max_leaves,
    )


def _valid_sdk_item() -> Strategy:
    """Items as the Agents SDK stores them, which the service accepts as input."""
    text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
    call_id = st.from_regex(r"call_[a-z0-9]{1,8}", fullmatch=True)
    return st.one_of(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "system", "developer"]), "content": text}
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("function_call"),
                "call_id": call_id,
                "name": st.sampled_from(["calculate", "current_time"]),
                "arguments": st.sampled_from(["{}", '{"expression": "1+2"}']),
            }
        ),
        st.fixed_dictionaries(
            {"type": st.just("function_call_output"), "call_id": call_id, "output": text}
        ),
    )


def _sdk_item() -> Strategy:
    """Items shaped as the Agents SDK stores them, some of them wrongly, so the server reads
    roles, text and calls."""
    text = _text(60)
    return st.one_of(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "system", "developer", "x"])},
            optional={"content": st.one_of(text, _json_value(6)), "type": st.just("message")},
        ),
        st.fixed_dictionaries(
            {"type": st.just("function_call")},
            optional={
                "call_id": text,
                "name": st.sampled_from(["calculate", "current_time", "nope"]),
                "arguments": st.one_of(st.builds(json.dumps, _json_value(4)), text),
            },
        ),
        st.fixed_dictionaries(
            {"type": st.just("function_call_output")},
            optional={"call_id": text, "output": st.one_of(text, _json_value(4))},
        ),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["reasoning", "compaction", "image", "", "x"])},
            optional={"summary": _json_value(4), "id": text},
        ),
    )


def _deep_json() -> Strategy:
    return st.builds(
        lambda depth, opener, closer: opener * depth + "1" + closer * depth,
        st.sampled_from([63, 64, 65, 1000, 100_000]),
        st.sampled_from(['{"a":[', "["]),
        st.sampled_from(["]}", "]"]),
    )


def item_json() -> Strategy:
    raw_escapes = st.sampled_from(
        [r'{"role":"user","content":"\ud800"}', r'{"a":"\udfff\ud800"}', r'"\ud83d\ude00"']
    )
    return st.one_of(
        st.builds(lambda item: json.dumps(item, ensure_ascii=False), _sdk_item()),
        st.builds(json.dumps, _json_value()),
        _deep_json(),
        raw_escapes,
        st.builds(
            lambda item, pad: item[:-1] + ',"pad":"' + "x" * pad + '"}',
            st.just('{"role":"user"}'),
            st.sampled_from([0, 1024 * 1024 - 30, 2**20]),
        ),
        _text(),
        _huge(),
    )


def input_items_json() -> Strategy:
    items = st.lists(_sdk_item(), max_size=4)
    return st.one_of(
        st.builds(lambda values: json.dumps(values, ensure_ascii=False), items),
        item_json(),
    )


def etags(known: Known) -> Strategy:
    return st.one_of(
        st.just(""), known.pick(known.etags, ""), _mutated(known.pick(known.etags, "")), _text()
    )


def plain_text() -> Strategy:
    return st.one_of(_text(), _huge(), st.sampled_from(["echo", "calculate", "current_time"]))


def hostile_string(name: str, known: Known) -> Strategy:
    """Values for a string field, by what its name says it holds, meant to break it."""
    if name in ("name", "parent", "session", "names"):
        return names(known)
    if name == "handoffs":
        return st.one_of(names(known), ids(known))
    if name.endswith("_id") or name == "run":
        return ids(known)
    if name == "page_token":
        return tokens(known)
    if name == "filter":
        return filters()
    if name == "order_by":
        return order_bys()
    if name == "item_json":
        return item_json()
    if name == "input_items_json":
        return input_items_json()
    if name == "etag":
        return etags(known)
    return plain_text()


def valid_string(name: str, known: Known) -> Strategy:
    """Values for a string field that the service accepts, so that a call gets past its
    checks to the store and the runtime."""
    if name == "handoffs":
        return known.pick(known.by_type.get("agentsessions/Agent", []), "agents/default")
    if name == "request_id":
        return st.one_of(st.just(""), st.uuids().map(str))
    if name.endswith("_id"):
        return st.one_of(
            st.just(""), st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True)
        )
    if name == "page_token":
        return st.one_of(st.just(""), known.pick(known.tokens, ""))
    if name == "filter":
        return st.sampled_from(
            ["", "state = ACTIVE", 'labels.team = "fuzz"', 'display_name : "s"', "state = PAUSED"]
        )
    if name == "order_by":
        return st.sampled_from(["", "create_time", "update_time desc", "last_activity_time asc"])
    if name == "item_json":
        return st.builds(lambda item: json.dumps(item, ensure_ascii=False), _valid_sdk_item())
    if name == "input_items_json":
        items = st.lists(_valid_sdk_item(), min_size=1, max_size=3)
        return st.builds(lambda values: json.dumps(values, ensure_ascii=False), items)
    if name == "etag":
        return st.one_of(st.just(""), known.pick(known.etags, ""))
    if name == "model":
        return st.sampled_from(["", "echo"])
    if name == "tools":
        return st.sampled_from(["calculate", "current_time"])
    return st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30
    )


def _integers(kind: int, hostile: bool) -> Strategy:
    if not hostile:
        return st.integers(0, 30)
    wide = kind in (pd.FieldDescriptor.TYPE_INT64, pd.FieldDescriptor.TYPE_SINT64)
    low, high = INT64 if wide else INT32
    edges = [low, -1, 0, 1, 2, 20, 63, 64, 65, 1000, 1001, high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high), st.integers(-5, 200))


def _timestamp(hostile: bool) -> Strategy:
    if not hostile:  # within a few years of now
        return st.builds(
            lambda seconds: timestamp_pb2.Timestamp(seconds=seconds),
            st.integers(1_700_000_000, 1_900_000_000),
        )
    return st.builds(
        lambda seconds, nanos: timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos),
        st.one_of(st.sampled_from(TIMESTAMP_SECONDS), st.integers(*INT64)),
        st.one_of(st.just(0), st.integers(*INT32)),
    )


def _field_mask(target: pd.Descriptor | None, hostile: bool) -> Strategy:
    """Paths of the message the mask applies to, nested paths, and nonsense."""
    paths = ["display_name"]
    if target is not None:
        fixed = {field_behavior_pb2.OUTPUT_ONLY, field_behavior_pb2.IDENTIFIER}
        updatable = [
            f
            for f in target.fields
            if f.name != "etag"
            and not fixed & set(f.GetOptions().Extensions[field_behavior_pb2.field_behavior])
        ]
        paths = [f.name for f in updatable]
        for f in updatable:
            sub = f.message_type
            if (
                sub is not None
                and sub.file.package != "google.protobuf"
                and not (sub.GetOptions().map_entry)
            ):
                paths += [f"{f.name}.{each.name}" for each in sub.fields]
    if not hostile:
        path = st.sampled_from(paths)
    else:
        odd = ["*", "", "name", "etag", "labels.team", "model_settings.temperature", "a..b"]
        path = st.one_of(st.sampled_from(paths + odd), _text(20), _huge())
    return st.builds(
        lambda chosen: field_mask_pb2.FieldMask(paths=chosen),
        st.lists(path, min_size=int(not hostile), max_size=6),
    )


def _enum(enum: pd.EnumDescriptor, hostile: bool) -> Strategy:
    valid = st.sampled_from([v.number for v in enum.values])
    return st.one_of(valid, st.integers(*INT32)) if hostile else valid


@dataclass
class RequestStrategies:
    """`message(descriptor)`: a strategy of that message's instances.

    Each message has up to two hostile fields, drawn from the hostile strategies; its other
    fields are unset or valid, so most requests are wrong in one place only and the rest of
    the call runs.
    """

    known: Known
    max_depth: int = 3
    _cache: dict[tuple[str, int, bool], Strategy] = field(default_factory=dict)

    def message(self, descriptor: pd.Descriptor, depth: int = 0, hostile: bool = True) -> Strategy:
        key = (descriptor.full_name, depth, hostile)
        if key not in self._cache:
            self._cache[key] = self._build(descriptor, depth, hostile)
        return self._cache[key]

    def _build(self, descriptor: pd.Descriptor, depth: int, hostile: bool) -> Strategy:
        cls: Callable[..., Message] = _message_class(descriptor)
        fields = [f for f in descriptor.fields if depth < self.max_depth or f.message_type is None]
        names = [f.name for f in fields]
        valid = {f.name: self._valid_or_unset(f, descriptor, depth) for f in fields}
        bad = {f.name: self._value(f, descriptor, depth, True) for f in fields}

        # A valid message sets one field of each oneof (proto3 `optional` fields are oneofs
        # of one, which may stay unset).
        choices = [
            [f.name for f in oneof.fields] for oneof in descriptor.oneofs if len(oneof.fields) > 1
        ]
        chosen = [st.sampled_from(members) for members in choices]
        forced = {
            name: self._value(descriptor.fields_by_name[name], descriptor, depth, False)
            for members in choices
            for name in members
        }

        @st.composite
        def build(draw: st.DrawFn) -> Message:
            spoiled = (
                draw(st.sets(st.sampled_from(names), max_size=2)) if hostile and names else set()
            )
            members = {draw(choice) for choice in chosen}
            message = cls()
            # Oneofs end with the last of their fields that is set.
            for name in names:
                if name in spoiled:
                    value = draw(bad[name])
                elif name in forced:
                    value = draw(forced[name]) if name in members else None
                else:
                    value = draw(valid[name])
                if value is not None:
                    _assign(message, descriptor.fields_by_name[name], value)
            return message

        return build()

    def _valid_or_unset(self, f: pd.FieldDescriptor, owner: pd.Descriptor, depth: int) -> Strategy:
        """A valid value for a REQUIRED or IDENTIFIER field, none for an OUTPUT_ONLY one, and
        either for the others."""
        behaviors = set(f.GetOptions().Extensions[field_behavior_pb2.field_behavior])
        if field_behavior_pb2.OUTPUT_ONLY in behaviors:
            return st.none()
        required = bool(behaviors & {field_behavior_pb2.REQUIRED, field_behavior_pb2.IDENTIFIER})
        value = self._value(f, owner, depth, False, required)
        return value if required else st.one_of(st.none(), value)

    def _value(
        self,
        f: pd.FieldDescriptor,
        owner: pd.Descriptor,
        depth: int,
        hostile: bool,
        required: bool = False,
    ) -> Strategy:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key_field, value_field = f.message_type.fields
            if not hostile:
                return st.dictionaries(
                    st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
                    st.sampled_from(["fuzz", "x", ""]),
                    max_size=3,
                )
            return st.dictionaries(
                self._single(key_field, owner, depth, True),
                self._single(value_field, owner, depth, True),
                max_size=3,
            ) | st.builds(
                lambda count: {f"k{i}": "v" for i in range(count)}, st.sampled_from([64, 65])
            )
        if f.is_repeated:
            if not hostile:
                single = self._single(f, owner, depth, False)
                return st.lists(single, min_size=int(required), max_size=3)
            # Long lists repeat one small value: a long list of huge values would not fit.
            return st.one_of(
                st.lists(self._single(f, owner, depth, True), max_size=3),
                st.builds(
                    lambda value, count: [value] * count,
                    self._small(f),
                    st.sampled_from(REPEATED_SIZES),
                ),
            )
        return self._single(f, owner, depth, hostile)

    def _small(self, f: pd.FieldDescriptor) -> Strategy:
        if f.type == pd.FieldDescriptor.TYPE_STRING:
            return st.sampled_from(["", "x", *self.known.names[:3]])
        if f.message_type is not None:
            cls = _message_class(f.message_type)
            fields = f.message_type.fields_by_name
            return st.just(cls(item_json=SMALL_ITEM) if "item_json" in fields else cls())
        return self._single(f, f.containing_type, self.max_depth, True)

    def _single(
        self, f: pd.FieldDescriptor, owner: pd.Descriptor, depth: int, hostile: bool
    ) -> Strategy:
        kind = f.type
        if kind == pd.FieldDescriptor.TYPE_STRING:
            if hostile:
                return hostile_string(f.name, self.known)
            if f.name in ("name", "parent", "session", "names"):
                return self.known.valid_name(f)
            return valid_string(f.name, self.known)
        if kind == pd.FieldDescriptor.TYPE_BYTES:
            return st.binary(max_size=64)
        if kind == pd.FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if kind in (pd.FieldDescriptor.TYPE_DOUBLE, pd.FieldDescriptor.TYPE_FLOAT):
            if not hostile:
                return st.floats(0, 1)
            return st.floats(width=64 if kind == pd.FieldDescriptor.TYPE_DOUBLE else 32)
        if kind == pd.FieldDescriptor.TYPE_ENUM:
            return _enum(f.enum_type, hostile)
        if kind == pd.FieldDescriptor.TYPE_MESSAGE:
            name = f.message_type.full_name
            if name == "google.protobuf.Timestamp":
                return _timestamp(hostile)
            if name == "google.protobuf.FieldMask":
                target = next(
                    (o.message_type for o in owner.fields if o.message_type and o is not f),
                    None,
                )
                return _field_mask(target, hostile)
            # A hostile message field is a message with hostile fields of its own.
            return self.message(f.message_type, depth + 1, hostile)
        return _integers(kind, hostile)


def _message_class(descriptor: pd.Descriptor) -> Callable[..., Message]:
    return message_factory.GetMessageClass(descriptor)


def _assign(message: Message, f: pd.FieldDescriptor, value: Any) -> None:
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        getattr(message, f.name).update(value)
    elif f.is_repeated:
        getattr(message, f.name).extend(value)
    elif f.message_type is not None:
        getattr(message, f.name).CopyFrom(value)
    else:
        setattr(message, f.name, value)
