"""Protocol Buffers wire primitives: varints, zigzag, fixed-width numbers, tags and wire types.

Theory of operation: a protobuf message is a sequence of records, each a *tag* followed by a
value (protobuf.dev/programming-guides/encoding). The tag is a varint holding
``field_number << 3 | wire_type``; the wire type alone says how long the value is, so a reader
can walk a message without its schema:

    VARINT (0)  a base-128 varint: int32/64, uint32/64, sint32/64 (zigzag), bool, enum
    I64    (1)  8 little-endian bytes: fixed64, sfixed64, double
    LEN    (2)  a varint length, then that many bytes: string, bytes, messages, packed repeated
    SGROUP (3)  the start of a group: records up to the EGROUP with the same field number
    EGROUP (4)  the end of a group; carries no value
    I32    (5)  4 little-endian bytes: fixed32, sfixed32, float

A varint stores seven bits per byte, least significant group first, the high bit of each byte
set while more follow; a 64-bit value takes at most ten. This module reads them from a buffer
at an offset bounded by an ``end`` (the message's or the enclosing field's), never slicing the
buffer, and converts between the raw unsigned values of the wire and the scalar types of a
schema. Readers raise :class:`RemoteProtocolError` (INTERNAL) for bytes that cannot be parsed;
writers raise :class:`LocalProtocolError` for values the wire cannot carry.

Limits, each refused rather than truncated:

- a varint has at most :data:`MAX_VARINT_BYTES` bytes and a value below 2**64. Protobuf's C++
  and upb parsers drop the bits of a tenth byte above 1, Go's protowire refuses them; no encoder
  writes them, and a value that two parsers read differently lets a message route one way and
  act another, so we refuse them too.
- field numbers run from 1 to :data:`MAX_FIELD_NUMBER` (2**29 - 1, the language guide's range);
  19000-19999 are reserved only in ``.proto`` files and pass on the wire. Field number 0 is
  refused, as protobuf C++ and Go do (upb keeps a one-byte tag 0 as an unknown field); a tag
  is at most :data:`MAX_TAG_BYTES` long, as C++ and upb read it.
- a length-delimited value is at most :data:`MAX_MESSAGE_SIZE` bytes, protobuf's 2 GiB ceiling
  on a serialized message ("any proto in serialized form must be <2GiB").
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Final

from .errors import LocalProtocolError, malformed

Buffer = bytes | bytearray | memoryview


class WireType(IntEnum):
    """The six wire types (protobuf.dev encoding guide, "Message Structure"); 6 and 7 are invalid."""

    VARINT = 0
    I64 = 1
    LEN = 2
    SGROUP = 3
    EGROUP = 4
    I32 = 5


#: Wire type number -> member, or None for the invalid 6 and 7, without ``WireType(n)``'s cost.
WIRE_TYPES: Final[tuple[WireType | None, ...]] = (*WireType, None, None)

#: A 64-bit value needs ceil(64 / 7) = 10 varint bytes; an 11th is malformed.
MAX_VARINT_BYTES: Final = 10
MAX_UINT32: Final = (1 << 32) - 1
MAX_UINT64: Final = (1 << 64) - 1
#: The largest field number (language guide: "1 to 536,870,911"): the tag must fit 32 bits.
MAX_FIELD_NUMBER: Final = (1 << 29) - 1
#: A tag is a 32-bit varint: protobuf's C++ and upb parsers refuse one padded past five bytes.
MAX_TAG_BYTES: Final = 5
#: Protobuf refuses to serialize or parse a message of 2 GiB or more; so does every length here.
MAX_MESSAGE_SIZE: Final = (1 << 31) - 1
#: How deeply groups may nest before decoding refuses (RESOURCE_EXHAUSTED): 100 is protobuf's
#: own default recursion limit (C++ CodedInputStream, upb, Python), so what protobuf parses we
#: parse, and a hostile ``0b 0b 0b ...`` cannot drive the decoder's recursion to Python's limit.
DEFAULT_MAX_DEPTH: Final = 100

U32_LE: Final = struct.Struct("<I")
U64_LE: Final = struct.Struct("<Q")
_I32_LE: Final = struct.Struct("<i")
_I64_LE: Final = struct.Struct("<q")
_F32_LE: Final = struct.Struct("<f")
_F64_LE: Final = struct.Struct("<d")

# The one-byte varints, prebuilt: most tags and many values are below 128.
_SMALL: Final = tuple(bytes((i,)) for i in range(128))


def read_varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    """Decode the varint at ``buf[pos:end]``: ``(value, next pos)``.

    Raises RemoteProtocolError (INTERNAL) when ``end`` comes first, after ten bytes with the
    continuation bit still set, or when a tenth byte carries bits above 2**63.
    """
    # A loop over at most ten bytes: the one per-byte loop the wire format forces on us. The
    # one- and two-byte forms (field tags, small values, short lengths) return before it.
    if pos < end:
        byte = buf[pos]
        if byte < 0x80:
            return byte, pos + 1
        if pos + 1 < end:
            second = buf[pos + 1]
            if second < 0x80:
                return (byte & 0x7F) | (second << 7), pos + 2
    value = 0
    shift = 0
    for i in range(pos, min(end, pos + MAX_VARINT_BYTES)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value > MAX_UINT64:
                raise malformed("varint above 2**64 - 1 (a tenth byte above 1)")
            return value, i + 1
        shift += 7
    if end - pos >= MAX_VARINT_BYTES:
        raise malformed(f"varint longer than {MAX_VARINT_BYTES} bytes")
    raise malformed("varint runs past the end of the message")


def encode_varint(value: int) -> bytes:
    """The shortest varint for ``value``; LocalProtocolError outside 0..2**64 - 1.

    Negative int32/int64 values are first made unsigned with :func:`to_uint64` (ten bytes on the
    wire, as protobuf writes them) or zigzagged for sint32/sint64.
    """
    if 0 <= value < 0x80:
        return _SMALL[value]
    if not 0 <= value <= MAX_UINT64:
        raise LocalProtocolError(f"{value} does not fit a varint (0..2**64 - 1)")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_tag(buf: Buffer, pos: int, end: int) -> tuple[int, WireType, int]:
    """Decode the tag at ``buf[pos:end]``: ``(field number, wire type, next pos)``.

    Raises RemoteProtocolError (INTERNAL) for a truncated varint or one over five bytes, field
    number 0 or above 2**29 - 1, and the invalid wire types 6 and 7.
    """
    if pos < end and buf[pos] < 0x80:  # fields 1-15 with any wire type: one byte
        tag = buf[pos]
        pos += 1
    else:
        start = pos
        tag, pos = read_varint(buf, pos, end)
        if pos - start > MAX_TAG_BYTES:
            raise malformed(f"tag longer than {MAX_TAG_BYTES} bytes")
    number = tag >> 3
    if number == 0 or number > MAX_FIELD_NUMBER:
        raise malformed(f"field number {number} outside 1..{MAX_FIELD_NUMBER}")
    wire_type = WIRE_TYPES[tag & 7]
    if wire_type is None:
        raise malformed(f"invalid wire type {tag & 7} (field {number})")
    return number, wire_type, pos


def encode_tag(number: int, wire_type: int) -> bytes:
    """The tag of field ``number`` with ``wire_type``; LocalProtocolError for an invalid pair."""
    if not 1 <= number <= MAX_FIELD_NUMBER:
        raise LocalProtocolError(f"field number {number} outside 1..{MAX_FIELD_NUMBER}")
    if not 0 <= wire_type <= 5:
        raise LocalProtocolError(f"invalid wire type {wire_type}")
    return encode_varint(number << 3 | wire_type)


def zigzag_encode(value: int) -> int:
    """sint32/sint64 to the wire: 0, -1, 1, -2, ... become 0, 1, 2, 3, ...

    LocalProtocolError outside the 64-bit signed range. (The same formula serves sint32: a
    value in the 32-bit range gives the same result either way.)
    """
    if not -(1 << 63) <= value < 1 << 63:
        raise LocalProtocolError(f"{value} is outside the sint64 range")
    return ((value << 1) ^ (value >> 63)) & MAX_UINT64


def zigzag_decode(value: int) -> int:
    """The wire's zigzag varint back to a signed integer (the inverse of :func:`zigzag_encode`)."""
    return (value >> 1) ^ -(value & 1)


def to_uint64(value: int) -> int:
    """An int32/int64 as the unsigned 64-bit two's complement the varint carries.

    LocalProtocolError outside -2**63..2**64 - 1 (non-negative values pass unchanged).
    """
    if not -(1 << 63) <= value <= MAX_UINT64:
        raise LocalProtocolError(f"{value} does not fit 64 bits")
    return value & MAX_UINT64


def to_int64(value: int) -> int:
    """The low 64 bits of a wire value read as a signed (two's complement) int64."""
    value &= MAX_UINT64
    return value - (1 << 64) if value >> 63 else value


def to_int32(value: int) -> int:
    """The low 32 bits of a wire value read as a signed int32 (how protobuf reads an int32)."""
    value &= MAX_UINT32
    return value - (1 << 32) if value >> 31 else value


def float_from_bits(bits: int) -> float:
    """An I32 field's value (a 32-bit pattern) as the IEEE 754 ``float`` it encodes."""
    return float(_F32_LE.unpack(U32_LE.pack(bits & MAX_UINT32))[0])


def bits_from_float(value: float) -> int:
    """A ``float`` field as the I32 bit pattern protobuf writes (single precision)."""
    try:
        return int(U32_LE.unpack(_F32_LE.pack(value))[0])
    except (OverflowError, struct.error) as exc:  # a finite double beyond float's range
        raise LocalProtocolError(f"{value!r} does not fit a 32-bit float") from exc


def double_from_bits(bits: int) -> float:
    """An I64 field's value (a 64-bit pattern) as the IEEE 754 ``double`` it encodes."""
    return float(_F64_LE.unpack(U64_LE.pack(bits & MAX_UINT64))[0])


def bits_from_double(value: float) -> int:
    """A ``double`` field as the I64 bit pattern protobuf writes."""
    return int(U64_LE.unpack(_F64_LE.pack(value))[0])


def sfixed32_from_bits(bits: int) -> int:
    """An I32 field's value read as sfixed32."""
    return int(_I32_LE.unpack(U32_LE.pack(bits & MAX_UINT32))[0])


def sfixed64_from_bits(bits: int) -> int:
    """An I64 field's value read as sfixed64."""
    return int(_I64_LE.unpack(U64_LE.pack(bits & MAX_UINT64))[0])


def copy_out(buf: Buffer, start: int, end: int) -> bytes:
    """``bytes(buf[start:end])`` with one copy whether ``buf`` is bytes, bytearray or memoryview."""
    if type(buf) is bytes:
        return buf[start:end]
    return bytes(memoryview(buf)[start:end])
