"""Schema-less decode/encode: the encoding guide's messages, whole, cut short, with trailing bytes,
and hostile input (long varints, lengths past the end, deep groups) refused."""

from __future__ import annotations

import pytest

from pipework.codec.protobuf import (
    DEFAULT_MAX_DEPTH,
    Field,
    LocalProtocolError,
    RemoteProtocolError,
    StatusCode,
    WireType,
    decode_fields,
    encode_fields,
)

V, I64, LEN, SG, I32 = WireType.VARINT, WireType.I64, WireType.LEN, WireType.SGROUP, WireType.I32

# (hex, fields) from protobuf.dev/programming-guides/encoding, each encoding to exactly these bytes.
VECTORS: list[tuple[str, list[Field]]] = [
    ("08 96 01", [Field(1, V, 150)]),  # Test1 { a: 150 }
    ("12 07 74 65 73 74 69 6e 67", [Field(2, LEN, b"testing")]),  # Test2 { b: "testing" }
    ("1a 03 08 96 01", [Field(3, LEN, b"\x08\x96\x01")]),  # Test3 { c: { a: 150 } }
    # Test4 { d: "hello", e: [1, 2, 3] }, e not packed
    ("22 05 68 65 6c 6c 6f 28 01 28 02 28 03",
     [Field(4, LEN, b"hello"), Field(5, V, 1), Field(5, V, 2), Field(5, V, 3)]),
    # Test5 { f: [3, 270, 86942] }, packed
    ("32 06 03 8e 02 9e a7 05", [Field(6, LEN, bytes.fromhex("03 8e 02 9e a7 05"))]),
    ("", []),
    ("0d 00 00 80 3f", [Field(1, I32, 0x3F800000)]),  # float 1.0
    ("09 00 00 00 00 00 00 f0 3f", [Field(1, I64, 0x3FF0000000000000)]),  # double 1.0
    ("08 fe ff ff ff ff ff ff ff ff 01", [Field(1, V, 2**64 - 2)]),  # int32 -2
    ("0b 10 01 1a 00 0c", [Field(1, SG, [Field(2, V, 1), Field(3, LEN, b"")])]),  # a group
    ("0b 13 0b 0c 14 0c", [Field(1, SG, [Field(2, SG, [Field(1, SG, [])])])]),  # nested groups
    ("80 01 01 f8 ff ff ff 0f 00", [Field(16, V, 1), Field(2**29 - 1, V, 0)]),  # two- and five-byte tags
    ("10 01 08 02 10 03", [Field(2, V, 1), Field(1, V, 2), Field(2, V, 3)]),  # out of order, repeated: kept
]
IDS = [hexed[:14] or "empty" for hexed, _ in VECTORS]


@pytest.mark.parametrize(("hexed", "fields"), VECTORS, ids=IDS)
def test_decode_whole(hexed: str, fields: list[Field]) -> None:
    data = bytes.fromhex(hexed)
    assert decode_fields(data) == fields
    assert decode_fields(bytearray(data)) == fields
    assert decode_fields(memoryview(data)) == fields


@pytest.mark.parametrize(("hexed", "fields"), VECTORS, ids=IDS)
def test_encode_gives_the_vector(hexed: str, fields: list[Field]) -> None:
    assert encode_fields(fields) == bytes.fromhex(hexed)
    triples = [(f.number, int(f.wire_type), f.value) for f in fields]  # plain tuples and ints do too
    assert encode_fields(triples) == bytes.fromhex(hexed)


@pytest.mark.parametrize(("hexed", "fields"), VECTORS, ids=IDS)
def test_cut_inside_a_record_is_refused(hexed: str, fields: list[Field]) -> None:
    """A message has no end marker: a cut between records is a shorter message, one inside a
    record is malformed."""
    data = bytes.fromhex(hexed)
    statuses = set()
    for n in range(len(data)):
        try:
            prefix = decode_fields(data[:n])
        except RemoteProtocolError as exc:
            statuses.add(exc.status)
            continue
        assert len(prefix) < len(fields)
        assert prefix == fields[: len(prefix)]
    assert statuses <= {StatusCode.INTERNAL}


@pytest.mark.parametrize(("hexed", "fields"), VECTORS, ids=IDS)
def test_trailing_bytes(hexed: str, fields: list[Field]) -> None:
    data = bytes.fromhex(hexed)
    assert decode_fields(data + b"\x78\x05") == [*fields, Field(15, V, 5)]  # a record: one more field
    with pytest.raises(RemoteProtocolError):
        decode_fields(data + b"\x78")  # half a record
    with pytest.raises(RemoteProtocolError):
        decode_fields(data + b"\x00")  # field number 0


def test_wire_types_are_enum_members() -> None:
    (field,) = decode_fields(b"\x12\x00")
    assert field.wire_type is WireType.LEN
    assert field == (2, 2, b"")  # still a plain tuple to compare and unpack


# (hex, message): hostile or broken input, each refused with INTERNAL.
MALFORMED = [
    ("08", "varint runs past the end"),
    ("08 ff ff ff ff ff ff ff ff ff ff 01", "longer than 10 bytes"),
    ("08 ff ff ff ff ff ff ff ff ff 02", "above 2\\*\\*64"),
    ("ff ff ff ff ff ff ff ff ff ff 01", "longer than 10 bytes"),  # an 11-byte tag
    ("88 80 80 80 80 00 01", "tag longer than 5 bytes"),
    ("12 08 74 65 73 74", "length 8 runs past the end \\(4 left\\)"),
    ("12 ff ff ff ff 0f", "length 4294967295 runs past"),
    ("12 ff ff ff ff ff ff ff ff 01", "runs past"),
    ("0d 00 00 80", "I32 value runs past"),
    ("09 00 00 00 00 00 00 f0", "I64 value runs past"),
    ("0b 08 01", "group 1 is not closed"),
    ("0c", "end of group 1 outside any group"),
    ("0b 14", "end of group 2 inside group 1"),
    ("0b 13 0c", "end of group 1 inside group 2"),
    ("0e 00", "invalid wire type 6"),
    ("0f 00", "invalid wire type 7"),
    ("00 01", "field number 0"),
    ("80 80 80 80 10 00", "field number 536870912"),
]


@pytest.mark.parametrize(("hexed", "why"), MALFORMED)
def test_malformed(hexed: str, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why) as info:
        decode_fields(bytes.fromhex(hexed))
    assert info.value.status is StatusCode.INTERNAL


def nested_groups(depth: int) -> bytes:
    return b"\x0b" * depth + b"\x0c" * depth


def test_groups_nest_to_protobufs_limit() -> None:
    fields = decode_fields(nested_groups(DEFAULT_MAX_DEPTH))
    for _ in range(DEFAULT_MAX_DEPTH - 1):
        assert len(fields) == 1
        assert fields[0].wire_type is SG
        inner = fields[0].value
        assert isinstance(inner, list)
        fields = inner
    assert fields == [Field(1, SG, [])]


@pytest.mark.parametrize("depth", [DEFAULT_MAX_DEPTH + 1, 10_000, 1_000_000])
def test_deep_groups_are_refused(depth: int) -> None:
    with pytest.raises(RemoteProtocolError, match="max_depth") as info:
        decode_fields(nested_groups(depth))
    assert info.value.status is StatusCode.RESOURCE_EXHAUSTED


def test_depth_limit_is_adjustable() -> None:
    assert decode_fields(nested_groups(3), max_depth=3)
    with pytest.raises(RemoteProtocolError):
        decode_fields(nested_groups(3), max_depth=2)
    assert decode_fields(b"\x08\x01", max_depth=0) == [Field(1, V, 1)]
    with pytest.raises(RemoteProtocolError):  # beyond the interpreter's own recursion limit
        decode_fields(nested_groups(5000), max_depth=10_000)


def test_field_count_limit() -> None:
    data = b"\x08\x01" * 10
    assert len(decode_fields(data, max_fields=10)) == 10
    with pytest.raises(RemoteProtocolError, match="max_fields") as info:
        decode_fields(data, max_fields=9)
    assert info.value.status is StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(RemoteProtocolError, match="max_fields"):  # group members count too
        decode_fields(b"\x0b" + b"\x08\x01" * 5 + b"\x0c", max_fields=5)


def test_lengths_are_checked_before_anything_is_allocated() -> None:
    """A 2 GiB length in a five-byte message costs nothing."""
    with pytest.raises(RemoteProtocolError, match="runs past"):
        decode_fields(bytes.fromhex("0a ff ff ff ff 07"))


def test_nested_message_as_a_list_of_fields() -> None:
    inner = [Field(1, V, 150)]
    assert encode_fields([(3, LEN, inner)]) == bytes.fromhex("1a 03 08 96 01")
    assert decode_fields(decode_fields(bytes.fromhex("1a 03 08 96 01"))[0].value) == inner  # type: ignore[arg-type]
    assert encode_fields([(2, LEN, bytearray(b"ab")), (2, LEN, memoryview(b"c"))]) == b"\x12\x02ab\x12\x01c"


@pytest.mark.parametrize(("fields", "why"), [
    ([(0, V, 1)], "field number 0"),
    ([(2**29, V, 1)], "field number"),
    ([(1, 6, 1)], "invalid wire type 6"),
    ([(1, V, -1)], "does not fit a varint"),
    ([(1, V, 2**64)], "does not fit a varint"),
    ([(1, V, b"x")], "not a value of wire type 0"),
    ([(1, V, True)], "not a value of wire type 0"),
    ([(1, I32, 2**32)], "not a value of wire type 5"),
    ([(1, I64, -1)], "not a value of wire type 1"),
    ([(1, I64, 1.0)], "not a value of wire type 1"),
    ([(1, LEN, "text")], "not a value of wire type 2"),
    ([(1, SG, b"raw")], "not a value of wire type 3"),
    ([(1, WireType.EGROUP, [])], "EGROUP is written by the encoder"),
    ([(1, V)], "not a \\(number, wire type, value\\) triple"),
    ([5], "not a \\(number, wire type, value\\) triple"),
    ([(1, LEN, [(0, V, 1)])], "field number 0"),
])
def test_unencodable(fields: list[tuple[int, int, object]], why: str) -> None:
    with pytest.raises(LocalProtocolError, match=why) as info:
        encode_fields(fields)
    assert info.value.status is StatusCode.INVALID_ARGUMENT


def test_encoding_past_the_depth_limit_is_refused() -> None:
    deep: list[Field] = []
    for _ in range(DEFAULT_MAX_DEPTH):
        deep = [Field(1, SG, deep)]
    assert decode_fields(encode_fields(deep)) == deep
    with pytest.raises(LocalProtocolError, match="depth limit"):
        encode_fields([Field(1, SG, deep)])
    with pytest.raises(LocalProtocolError, match="depth limit"):
        encode_fields([Field(1, LEN, deep)], max_depth=5)
