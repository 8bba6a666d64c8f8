"""protobuf as the independent peer of the schema-less codec: what its generated (dynamic) message
classes serialize, we decode field by field and re-encode to the same bytes; what we encode, it
parses; and on arbitrary bytes, its unknown-field parser and ours agree."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

# protobuf is optional: without it this module is skipped (an error under PIPEWORK_REQUIRE_ALL=1,
# as for missing system tools, DESIGN.md 7), so its imports come after the check.
if os.environ.get("PIPEWORK_REQUIRE_ALL") != "1":
    pytest.importorskip("google.protobuf", reason="protobuf is the peer: pip install protobuf")

from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2, message_factory, unknown_fields
from google.protobuf.message import DecodeError, Message
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.codec.protobuf import (
    Field,
    RemoteProtocolError,
    WireType,
    decode_fields,
    decode_packed,
    encode_fields,
    encode_packed,
    read_field,
    read_fields,
    scalar_field,
    scalar_value,
)

V, I64, LEN, SG, I32 = WireType.VARINT, WireType.I64, WireType.LEN, WireType.SGROUP, WireType.I32
Classes = dict[str, Any]  # protobuf builds the classes at run time


@pytest.fixture(scope="module")
def classes(descriptor_set_path: Path) -> Classes:
    """protobuf's own message classes for the test schema, from a pool the test builds itself."""
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor_set_path.read_bytes()).file:
        pool.AddSerializedFile(file.SerializeToString())
    names = ["pipework.test.Sample", "pipework.test.Header", "pipework.test.Reply", "pipework.legacy.Old"]
    return {name.rsplit(".", 1)[1]: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
            for name in names}


def full_sample(classes: Classes) -> Any:
    sample = classes["Sample"](
        i32=-2, i64=-(2**40), u32=2**32 - 1, u64=2**64 - 1, s32=-2, s64=-(2**63), flag=True, color=2,
        f32=7, sf32=-7, fl=1.5, f64=2**64 - 1, sf64=-(2**62), db=-0.25, text="h\u00e9llo", blob=b"\x00\xff",
        ints=[3, 270, 86942, -1], zigs=[-1, 1, -(2**40)], doubles=[1.0, math.inf], fixeds=[1, 2**32 - 1],
        tags=["a", "", "c"], name="by-name", maybe=0, unpacked=[1, 2, 3],
    )
    sample.header.tenant = "acme"
    sample.header.shard = 7
    sample.headers.add(tenant="t1")
    sample.headers.add(shard=2)
    sample.counts["x"] = 1
    sample.when.seconds = 1_700_000_000
    sample.old.id = 5
    sample.old.extra.note = "grouped"
    sample.old.extra.level = -3
    sample.old.plain.extend([4, 5])
    return sample


def test_protobuf_output_decodes_field_by_field(classes: Classes) -> None:
    data = full_sample(classes).SerializeToString()
    fields = decode_fields(data)
    assert encode_fields(fields) == data  # protobuf writes canonical varints: same bytes back

    def value(number: int, type_name: str) -> Any:
        found = read_field(data, number)
        assert found is not None
        return scalar_value(found, type_name)

    types = ["int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool", "enum", "fixed32", "sfixed32",
             "float", "fixed64", "sfixed64", "double"]  # fields 1 to 14, in order
    assert [value(number, name) for number, name in enumerate(types, 1)] == [
        -2, -(2**40), 2**32 - 1, 2**64 - 1, -2, -(2**63), True, 2, 7, -7, 1.5, 2**64 - 1, -(2**62), -0.25]
    assert read_field(data, 15) == Field(15, LEN, "h\u00e9llo".encode())
    assert read_field(data, 16) == Field(16, LEN, b"\x00\xff")
    assert read_field(data, 17, 1) == Field(1, LEN, b"acme")
    assert read_field(data, 17, 2) == Field(2, V, 7)

    def packed(number: int, type_name: str) -> list[Any]:
        found = read_field(data, number)
        assert found is not None
        assert found.wire_type is LEN  # proto3 packs repeated scalars
        assert isinstance(found.value, bytes)
        return decode_packed(found.value, type_name)

    assert packed(18, "int32") == [3, 270, 86942, -1]
    assert packed(19, "sint64") == [-1, 1, -(2**40)]
    assert packed(20, "double") == [1.0, math.inf]
    assert packed(21, "fixed32") == [1, 2**32 - 1]
    assert [f.value for f in read_fields(data, 22)] == [b"a", b"", b"c"]
    assert [f.value for f in read_fields(data, 23)] == [b"\x0a\x02t1", b"\x10\x02"]
    assert read_field(data, 24, 1) == Field(1, LEN, b"x")  # a map entry is a message {key, value}
    assert read_field(data, 25) == Field(25, LEN, b"by-name")
    assert read_field(data, 27, 1) == Field(1, V, 1_700_000_000)
    assert read_field(data, 28) == Field(28, V, 0)  # explicit presence: a zero is sent
    assert read_fields(data, 29) == [Field(29, V, 1), Field(29, V, 2), Field(29, V, 3)]  # packed=false
    assert read_field(data, 30, 1) == Field(1, V, 5)
    assert read_field(data, 30, 2, 3) == Field(3, LEN, b"grouped")  # into a proto2 group
    assert scalar_value(read_field(data, 30, 2, 4), "int32") == -3  # type: ignore[arg-type]
    assert read_fields(data, 30, 5) == [Field(5, V, 4), Field(5, V, 5)]
    (old,) = read_fields(data, 30)
    assert isinstance(old.value, bytes)
    assert decode_fields(old.value)[1] == Field(2, SG, [Field(3, LEN, b"grouped"), Field(4, V, 2**64 - 3)])


def test_protobuf_parses_what_we_encode(classes: Classes) -> None:
    header = encode_fields([(1, LEN, b"acme"), scalar_field(2, "uint32", 7)])
    old = encode_fields([scalar_field(1, "int32", 5), (2, SG, [(3, LEN, b"g"), scalar_field(4, "int32", -3)]),
                         scalar_field(5, "int32", 4), scalar_field(5, "int32", 5)])
    data = encode_fields([
        scalar_field(1, "int32", -2), scalar_field(2, "int64", -(2**40)),
        scalar_field(4, "uint64", 2**64 - 1), scalar_field(5, "sint32", -2),
        scalar_field(6, "sint64", -(2**63)), scalar_field(7, "bool", True),
        scalar_field(8, "enum", 1), scalar_field(10, "sfixed32", -7), scalar_field(11, "float", 1.5),
        scalar_field(13, "sfixed64", -5), scalar_field(14, "double", -0.25),
        (15, LEN, "h\u00e9llo".encode()), (17, LEN, header),
        (18, LEN, encode_packed([3, 270, 86942, -1], "int32")),
        scalar_field(18, "int32", 9),  # an unpacked element after the packed ones: parsers take both
        (20, LEN, encode_packed([1.0, -math.inf], "double")),
        (24, LEN, [(1, LEN, b"k"), scalar_field(2, "int64", -1)]),
        (26, V, 42), (30, LEN, old),
        scalar_field(1, "int32", 99),  # a second i32: the last one wins
    ])
    sample = classes["Sample"].FromString(data)
    assert (sample.i32, sample.i64, sample.u64, sample.s32, sample.s64, sample.flag, sample.color) == \
        (99, -(2**40), 2**64 - 1, -2, -(2**63), True, 1)
    assert (sample.sf32, sample.fl, sample.sf64, sample.db, sample.text) == (-7, 1.5, -5, -0.25, "h\u00e9llo")
    assert (sample.header.tenant, sample.header.shard) == ("acme", 7)
    assert list(sample.ints) == [3, 270, 86942, -1, 9]
    assert list(sample.doubles) == [1.0, -math.inf]
    assert dict(sample.counts) == {"k": -1}
    assert sample.WhichOneof("choice") == "number"
    assert sample.number == 42
    old_parsed = sample.old
    assert (old_parsed.id, old_parsed.extra.note, old_parsed.extra.level) == (5, "g", -3)
    assert list(old_parsed.plain) == [4, 5]


def test_unknown_fields_survive_a_trip_through_protobuf(classes: Classes) -> None:
    """Fields a schema lacks are kept by protobuf in order, and so by us; a record whose wire
    type does not fit its field is such an unknown field too (what read_field assumes)."""
    data = full_sample(classes).SerializeToString()
    fields = [f for f in decode_fields(data) if f.number > 2]  # Header has fields 1 and 2 only
    assert decode_fields(classes["Header"].FromString(encode_fields(fields)).SerializeToString()) == fields
    mismatched = classes["Header"].FromString(encode_fields([(1, V, 5), (2, V, 3)]))
    assert (mismatched.tenant, mismatched.shard) == ("", 3)
    assert decode_fields(mismatched.SerializeToString()) == [Field(2, V, 3), Field(1, V, 5)]


int32s, int64s = st.integers(-(2**31), 2**31 - 1), st.integers(-(2**63), 2**63 - 1)
scalar_values = st.fixed_dictionaries({}, optional={
    "i32": int32s, "i64": int64s, "u64": st.integers(0, 2**64 - 1), "s32": int32s, "s64": int64s,
    "flag": st.booleans(), "sf32": int32s, "fl": st.floats(width=32, allow_nan=False),
    "f64": st.integers(0, 2**64 - 1), "db": st.floats(allow_nan=False), "text": st.text(max_size=10),
    "blob": st.binary(max_size=10), "ints": st.lists(int32s), "zigs": st.lists(int64s, max_size=5),
    "tags": st.lists(st.text(max_size=4), max_size=3),
    "unpacked": st.lists(st.integers(0, 2**31 - 1), max_size=4),
})


@settings(max_examples=60, deadline=None)
@given(scalar_values)
def test_generated_samples_agree_with_protobuf(classes: Classes, values: dict[str, Any]) -> None:
    sample = classes["Sample"](**values)
    data = sample.SerializeToString()
    assert encode_fields(decode_fields(data)) == data
    if values.get("i64"):
        assert scalar_value(read_field(data, 2), "int64") == values["i64"]  # type: ignore[arg-type]
    if values.get("ints"):
        found = read_field(data, 18)
        assert found is not None
        assert isinstance(found.value, bytes)
        assert decode_packed(found.value, "int32") == values["ints"]
    rebuilt = encode_fields(
        [scalar_field(2, "int64", values.get("i64", 0))] if values.get("i64") else [])
    assert classes["Sample"].FromString(rebuilt).i64 == values.get("i64", 0)


def _peer_fields(parsed: Any) -> list[Field]:
    out = []
    for item in parsed:
        data = item.data
        if isinstance(data, unknown_fields.UnknownFieldSet):
            data = _peer_fields(data)
        out.append(Field(item.field_number, WireType(item.wire_type), data))
    return out


def _agree(data: bytes) -> None:
    """Our decoder and protobuf's unknown-field parser accept the same bytes, with the same fields.

    Two known differences, where we refuse what upb accepts (see pipework/codec/protobuf/wire.py):
    a varint whose tenth byte is above 1 (upb drops the bits past 2**64 - 1; Go refuses), and
    field number 0 (upb keeps a one-byte tag 0 as an unknown field; C++ and Go refuse it).
    """
    empty = empty_pb2.Empty()
    try:
        empty.ParseFromString(data)
        peer: list[Field] | None = _peer_fields(unknown_fields.UnknownFieldSet(empty))
    except DecodeError:
        peer = None
    try:
        ours = decode_fields(data)
    except RemoteProtocolError as exc:
        refused = str(exc)
    else:
        assert ours == peer, data.hex()
        return
    if peer is not None:
        assert "above 2**64" in refused or "field number 0 " in refused, (data.hex(), refused)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=48))
def test_differential_fuzz_arbitrary_bytes(data: bytes) -> None:
    _agree(data)


@settings(max_examples=150, deadline=None)
@given(scalar_values, st.data())
def test_differential_fuzz_mutated_samples(classes: Classes, values: dict[str, Any],
                                           data: st.DataObject) -> None:
    raw = bytearray(classes["Sample"](**values).SerializeToString())
    if raw:
        for _ in range(data.draw(st.integers(1, 3))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _agree(bytes(raw))


@pytest.mark.parametrize("hexed", [
    "0b" * 100 + "0c" * 100, "0b" * 101 + "0c" * 101,
    "08 ff ff ff ff ff ff ff ff ff 01", "08 80 80 80 80 80 80 80 80 80 01",
    "0c", "00 00", "f8 ff ff ff 0f 01", "f8 ff ff ff 1f 01", "88 80 80 80 00 01", "88 80 80 80 80 00 01",
    "0a 80 80 80 80 08", "0b 0b 0c", "0b 13 0b 0c 14 0c",
])
def test_edge_cases_agree(hexed: str) -> None:
    _agree(bytes.fromhex(hexed))


def test_peer_messages_are_messages(classes: Classes) -> None:
    assert isinstance(full_sample(classes), Message)
