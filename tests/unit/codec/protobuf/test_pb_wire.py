"""Wire primitives: varints, tags, zigzag and fixed-width values, against the encoding guide's numbers."""

from __future__ import annotations

import math

import pytest

from pipework.codec.protobuf import (
    MAX_FIELD_NUMBER,
    LocalProtocolError,
    RemoteProtocolError,
    StatusCode,
    WireType,
    encode_tag,
    encode_varint,
    read_tag,
    read_varint,
    zigzag_decode,
    zigzag_encode,
)
from pipework.codec.protobuf.wire import (
    bits_from_double,
    bits_from_float,
    double_from_bits,
    float_from_bits,
    sfixed32_from_bits,
    sfixed64_from_bits,
    to_int32,
    to_int64,
    to_uint64,
)

# (value, hex): the encoding guide's "1 is 01", "150 is 96 01", the 7-bit boundaries, and the
# ten-byte forms of 2**64 - 1 and of int32 -2 ("fe ff ff ff ff ff ff ff ff 01").
VARINTS = [
    (0, "00"), (1, "01"), (127, "7f"), (128, "80 01"), (150, "96 01"), (300, "ac 02"),
    (16_383, "ff 7f"), (16_384, "80 80 01"), (2**32 - 1, "ff ff ff ff 0f"),
    (2**63, "80 80 80 80 80 80 80 80 80 01"), (2**64 - 1, "ff ff ff ff ff ff ff ff ff 01"),
    (2**64 - 2, "fe ff ff ff ff ff ff ff ff 01"),
]


@pytest.mark.parametrize(("value", "hexed"), VARINTS)
def test_varint_vectors(value: int, hexed: str) -> None:
    data = bytes.fromhex(hexed)
    assert encode_varint(value) == data
    assert read_varint(data, 0, len(data)) == (value, len(data))
    assert read_varint(b"\xaa" + data + b"\xff\xff", 1, len(data) + 3) == (value, len(data) + 1)
    assert read_varint(bytearray(data), 0, len(data)) == (value, len(data))
    assert read_varint(memoryview(data), 0, len(data)) == (value, len(data))


@pytest.mark.parametrize(("value", "hexed"), VARINTS)
def test_every_truncated_varint_is_refused(value: int, hexed: str) -> None:
    data = bytes.fromhex(hexed)
    for n in range(len(data)):
        with pytest.raises(RemoteProtocolError, match="past the end") as info:
            read_varint(data + b"\x01", 0, n)  # ``end`` bounds the read, not the buffer
        assert info.value.status is StatusCode.INTERNAL


def test_int32_minus_two_is_ten_bytes() -> None:
    assert encode_varint(to_uint64(-2)).hex(" ") == "fe ff ff ff ff ff ff ff ff 01"
    assert to_int32(read_varint(bytes.fromhex("fe ff ff ff ff ff ff ff ff 01"), 0, 10)[0]) == -2


def test_non_minimal_varints_are_accepted() -> None:
    """The wire allows padding (protobuf parses it too); only the value counts."""
    assert read_varint(bytes.fromhex("96 81 80 00"), 0, 4) == (150, 4)
    assert read_varint(bytes.fromhex("80 80 80 80 80 80 80 80 80 00"), 0, 10) == (0, 10)


def test_eleven_byte_varint_is_refused() -> None:
    data = bytes.fromhex("ff ff ff ff ff ff ff ff ff ff 01")
    with pytest.raises(RemoteProtocolError, match="longer than 10 bytes"):
        read_varint(data, 0, len(data))
    with pytest.raises(RemoteProtocolError, match="longer than 10 bytes"):
        read_varint(bytes.fromhex("80") * 10 + b"\x00", 0, 11)


@pytest.mark.parametrize("last", [0x02, 0x7F])
def test_tenth_byte_above_one_is_refused(last: int) -> None:
    """Bits above 2**64 - 1: Go refuses them, upb drops them; we refuse (no second reading)."""
    data = bytes.fromhex("ff ff ff ff ff ff ff ff ff") + bytes((last,))
    with pytest.raises(RemoteProtocolError, match="above 2\\*\\*64"):
        read_varint(data, 0, 10)


@pytest.mark.parametrize("value", [-1, 2**64, 2**70])
def test_unencodable_varints(value: int) -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode_varint(value)
    assert info.value.status is StatusCode.INVALID_ARGUMENT


# (number, wire type, hex): the guide's "08" (1, VARINT), "12" (2, LEN), "1a" (3, LEN), and the
# edges of the field number range.
TAGS = [
    (1, WireType.VARINT, "08"), (2, WireType.LEN, "12"), (3, WireType.LEN, "1a"), (1, WireType.I64, "09"),
    (1, WireType.SGROUP, "0b"), (1, WireType.EGROUP, "0c"), (1, WireType.I32, "0d"),
    (15, WireType.VARINT, "78"), (16, WireType.VARINT, "80 01"), (2047, WireType.LEN, "fa 7f"),
    (MAX_FIELD_NUMBER, WireType.I32, "fd ff ff ff 0f"),
]


@pytest.mark.parametrize(("number", "wire_type", "hexed"), TAGS)
def test_tag_vectors(number: int, wire_type: WireType, hexed: str) -> None:
    data = bytes.fromhex(hexed)
    assert encode_tag(number, wire_type) == data
    got = read_tag(data, 0, len(data))
    assert got == (number, wire_type, len(data))
    assert got[1] is wire_type


@pytest.mark.parametrize(("hexed", "why"), [
    ("00", "field number 0"), ("07", "field number 0"), ("0e", "invalid wire type 6"),
    ("0f", "invalid wire type 7"), ("80 80 80 80 10", "field number 536870912"),
    ("f8 ff ff ff ff ff ff ff ff 01", "tag longer than 5 bytes"),
    ("88 80 80 80 80 00", "tag longer than 5 bytes"),  # padded: C++ and upb read tags as 32-bit varints
])
def test_bad_tags(hexed: str, why: str) -> None:
    data = bytes.fromhex(hexed)
    with pytest.raises(RemoteProtocolError, match=why):
        read_tag(data, 0, len(data))


def test_padded_tag_up_to_five_bytes() -> None:
    assert read_tag(bytes.fromhex("88 80 80 80 00"), 0, 5) == (1, WireType.VARINT, 5)


@pytest.mark.parametrize(("number", "wire_type"), [(0, 0), (MAX_FIELD_NUMBER + 1, 0), (1, 6), (1, -1)])
def test_unencodable_tags(number: int, wire_type: int) -> None:
    with pytest.raises(LocalProtocolError):
        encode_tag(number, wire_type)


# The encoding guide's zigzag table ("Signed Integers").
ZIGZAG = [(0, 0), (-1, 1), (1, 2), (-2, 3), (0x7FFFFFFF, 0xFFFFFFFE), (-0x80000000, 0xFFFFFFFF),
          (2**63 - 1, 2**64 - 2), (-(2**63), 2**64 - 1)]


@pytest.mark.parametrize(("signed", "unsigned"), ZIGZAG)
def test_zigzag(signed: int, unsigned: int) -> None:
    assert zigzag_encode(signed) == unsigned
    assert zigzag_decode(unsigned) == signed


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
def test_zigzag_range(value: int) -> None:
    with pytest.raises(LocalProtocolError):
        zigzag_encode(value)


def test_twos_complement() -> None:
    assert to_uint64(-1) == 2**64 - 1
    assert to_int64(2**64 - 1) == -1
    assert to_int64(2**63 - 1) == 2**63 - 1
    assert to_int32(2**64 - 1) == -1
    assert to_int32(0x1_0000_0005) == 5  # an int32 keeps the low 32 bits, as protobuf reads it
    with pytest.raises(LocalProtocolError):
        to_uint64(-(2**63) - 1)


def test_fixed_width_bits() -> None:
    assert bits_from_float(1.0) == 0x3F800000
    assert float_from_bits(0x3F800000) == 1.0
    assert bits_from_double(1.0) == 0x3FF0000000000000
    assert double_from_bits(0x3FF0000000000000) == 1.0
    assert math.isnan(double_from_bits(bits_from_double(math.nan)))
    assert float_from_bits(bits_from_float(-math.inf)) == -math.inf
    assert sfixed32_from_bits(0xFFFFFFFE) == -2
    assert sfixed64_from_bits(2**64 - 2) == -2
    with pytest.raises(LocalProtocolError, match="32-bit float"):
        bits_from_float(1e300)
