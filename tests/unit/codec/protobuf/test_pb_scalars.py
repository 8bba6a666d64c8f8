"""The .proto scalar types on the wire: one field at a time and packed."""

from __future__ import annotations

import math

import pytest

from pipework.codec.protobuf import (
    SCALAR_TYPES,
    Field,
    LocalProtocolError,
    RemoteProtocolError,
    WireType,
    decode_fields,
    decode_packed,
    encode_fields,
    encode_packed,
    scalar_field,
    scalar_value,
)

V, I64, LEN, I32 = WireType.VARINT, WireType.I64, WireType.LEN, WireType.I32

# (type, value, hex of field 1 holding it): each encodes to these bytes and reads back.
SCALARS = [
    ("int32", 150, "08 96 01"),
    ("int32", -2, "08 fe ff ff ff ff ff ff ff ff 01"),  # the guide: negative int32s take ten bytes
    ("int32", -(2**31), "08 80 80 80 80 f8 ff ff ff ff 01"),
    ("int64", 2**63 - 1, "08 ff ff ff ff ff ff ff ff 7f"),
    ("int64", -1, "08 ff ff ff ff ff ff ff ff ff 01"),
    ("uint32", 2**32 - 1, "08 ff ff ff ff 0f"),
    ("uint64", 2**64 - 1, "08 ff ff ff ff ff ff ff ff ff 01"),
    ("sint32", -2, "08 03"),  # the guide: sint32 -2 is zigzag 3
    ("sint32", -(2**31), "08 ff ff ff ff 0f"),
    ("sint64", -(2**63), "08 ff ff ff ff ff ff ff ff ff 01"),
    ("bool", True, "08 01"),
    ("bool", False, "08 00"),
    ("enum", 2, "08 02"),
    ("enum", -1, "08 ff ff ff ff ff ff ff ff ff 01"),
    ("fixed32", 1, "0d 01 00 00 00"),
    ("sfixed32", -2, "0d fe ff ff ff"),
    ("float", 1.0, "0d 00 00 80 3f"),
    ("float", -0.5, "0d 00 00 00 bf"),
    ("fixed64", 2**64 - 1, "09 ff ff ff ff ff ff ff ff"),
    ("sfixed64", -2, "09 fe ff ff ff ff ff ff ff"),
    ("double", 1.0, "09 00 00 00 00 00 00 f0 3f"),
    ("double", -math.inf, "09 00 00 00 00 00 00 f0 ff"),
]


@pytest.mark.parametrize(("type_name", "value", "hexed"), SCALARS)
def test_scalar_vectors(type_name: str, value: float, hexed: str) -> None:
    data = bytes.fromhex(hexed)
    field = scalar_field(1, type_name, value)
    assert encode_fields([field]) == data
    (decoded,) = decode_fields(data)
    got = scalar_value(decoded, type_name)
    assert got == value
    assert type(got) is type(value)


def test_reading_is_as_lenient_as_protobuf() -> None:
    big = Field(1, V, 0x1_0000_0005)
    assert scalar_value(big, "int32") == 5  # the low 32 bits
    assert scalar_value(big, "uint32") == 5
    assert scalar_value(big, "bool") is True
    assert scalar_value(Field(1, V, 7), "bool") is True
    assert scalar_value(Field(1, V, 2**32 + 3), "sint32") == -2


def test_wrong_wire_type_is_the_peers_error() -> None:
    with pytest.raises(RemoteProtocolError, match="not double's"):
        scalar_value(Field(1, V, 1), "double")
    with pytest.raises(RemoteProtocolError):
        scalar_value(Field(1, LEN, b"\x01"), "int32")


@pytest.mark.parametrize(("type_name", "value"), [
    ("int32", 2**31), ("int32", -(2**31) - 1), ("uint32", -1), ("uint64", 2**64), ("sint32", 2**31),
    ("sint64", 2**63), ("bool", 2), ("fixed32", 2**32), ("sfixed32", 2**31), ("sfixed64", -(2**63) - 1),
    ("int32", 1.5), ("int64", "1"), ("float", 1e39), ("double", "x"),
])
def test_values_outside_the_type(type_name: str, value: object) -> None:
    with pytest.raises(LocalProtocolError):
        scalar_field(1, type_name, value)  # type: ignore[arg-type]


def test_unknown_type_and_bad_number() -> None:
    with pytest.raises(LocalProtocolError, match="not a scalar type"):
        scalar_field(1, "string", 1)
    with pytest.raises(LocalProtocolError, match="field number"):
        scalar_field(0, "int32", 1)
    with pytest.raises(LocalProtocolError, match="not a scalar type"):
        decode_packed(b"", "bytes")


# (type, values, hex payload)
PACKED = [
    ("int32", [3, 270, 86942], "03 8e 02 9e a7 05"),  # the guide's packed example
    ("int32", [-1, 0], "ff ff ff ff ff ff ff ff ff 01 00"),
    ("sint64", [-1, 1, -2], "01 02 03"),
    ("uint64", [2**64 - 1], "ff ff ff ff ff ff ff ff ff 01"),
    ("bool", [True, False, True], "01 00 01"),
    ("fixed32", [1, 2**32 - 1], "01 00 00 00 ff ff ff ff"),
    ("sfixed32", [-2], "fe ff ff ff"),
    ("float", [1.0, -0.5], "00 00 80 3f 00 00 00 bf"),
    ("fixed64", [1], "01 00 00 00 00 00 00 00"),
    ("sfixed64", [-2], "fe ff ff ff ff ff ff ff"),
    ("double", [1.0, 0.5], "00 00 00 00 00 00 f0 3f 00 00 00 00 00 00 e0 3f"),
    ("double", [], ""),
]


@pytest.mark.parametrize(("type_name", "values", "hexed"), PACKED)
def test_packed_vectors(type_name: str, values: list[float], hexed: str) -> None:
    data = bytes.fromhex(hexed)
    assert encode_packed(values, type_name) == data
    assert decode_packed(data, type_name) == values
    assert decode_packed(memoryview(data), type_name) == values


def test_packed_inside_a_message() -> None:
    message = bytes.fromhex("32 06 03 8e 02 9e a7 05")
    (field,) = decode_fields(message)
    assert field.number == 6
    assert isinstance(field.value, bytes)
    assert decode_packed(field.value, "int32") == [3, 270, 86942]
    assert encode_fields([(6, LEN, encode_packed([3, 270, 86942], "int32"))]) == message


@pytest.mark.parametrize(("type_name", "hexed", "why"), [
    ("int32", "96", "past the end"),
    ("int32", "ff ff ff ff ff ff ff ff ff ff 01", "longer than 10"),
    ("fixed32", "01 00 00", "not a multiple of 4"),
    ("double", "00" * 9, "not a multiple of 8"),
])
def test_malformed_packed(type_name: str, hexed: str, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        decode_packed(bytes.fromhex(hexed), type_name)


def test_packed_range_checks_every_value() -> None:
    with pytest.raises(LocalProtocolError):
        encode_packed([1, 2**32], "fixed32")
    with pytest.raises(LocalProtocolError):
        encode_packed([0, -1], "uint32")


def test_table_covers_the_language() -> None:
    assert set(SCALAR_TYPES) == {"int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool", "enum",
                                 "fixed32", "sfixed32", "float", "fixed64", "sfixed64", "double"}
    for name, scalar in SCALAR_TYPES.items():
        assert scalar.name == name
        assert scalar.wire_type in (V, I32, I64)
        assert bool(scalar.packed_format) is (scalar.wire_type is not V)
