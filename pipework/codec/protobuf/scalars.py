"""The .proto scalar types on the wire, one at a time or packed.

Theory of operation: the wire knows six wire types, the language fourteen scalar types; which
one a field holds is the schema's knowledge. :data:`SCALAR_TYPES` is that mapping as a table —
for each type name its wire type, how a raw wire value reads as the type (``decode``) and how a
value becomes raw (``encode``, range-checked) — and the functions here apply it:
:func:`scalar_field` / :func:`scalar_value` for one field of a :func:`~.fields.decode_fields`
list, :func:`decode_packed` / :func:`encode_packed` for a packed repeated field, the LEN record
whose payload is the values back to back with no tags (protobuf.dev encoding guide, "Packed
Repeated Fields"; proto3 packs repeated scalars by default).

Reading follows protobuf's parsers where the wire is wider than the type: an int32 or enum
keeps the low 32 bits of its varint, a bool is any non-zero varint. Fixed-width arrays unpack
with one ``struct`` call; varint arrays need a loop over values (not bytes) in Python.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Final, NamedTuple

from .errors import LocalProtocolError, malformed
from .fields import Field
from .wire import (
    MAX_UINT32,
    MAX_UINT64,
    Buffer,
    WireType,
    bits_from_double,
    bits_from_float,
    double_from_bits,
    encode_tag,
    encode_varint,
    float_from_bits,
    read_varint,
    sfixed32_from_bits,
    sfixed64_from_bits,
    to_int32,
    to_int64,
    to_uint64,
    zigzag_decode,
    zigzag_encode,
)

Scalar = int | float | bool


class ScalarType(NamedTuple):
    """How one .proto scalar type lives on the wire."""

    name: str
    wire_type: WireType
    decode: Callable[[int], Scalar]  # raw wire value -> Python value
    encode: Callable[[Scalar], int]  # Python value -> raw wire value; LocalProtocolError outside the type
    packed_format: str  # the struct code of one packed element; "" for varints


def _integer(low: int, high: int, name: str, then: Callable[[int], int] | None = None
             ) -> Callable[[Scalar], int]:
    def encode(value: Scalar) -> int:
        if type(value) is not int and type(value) is not bool:
            raise LocalProtocolError(f"{value!r} is not an integer for {name}")
        if not low <= value <= high:
            raise LocalProtocolError(f"{value} is outside the {name} range {low}..{high}")
        return int(value) if then is None else then(int(value))
    return encode


def _real(to_bits: Callable[[float], int]) -> Callable[[Scalar], int]:
    def encode(value: Scalar) -> int:
        if not isinstance(value, int | float):
            raise LocalProtocolError(f"{value!r} is not a number")
        return to_bits(float(value))
    return encode


def _same(raw: int) -> int:
    return raw


_I32 = (-(1 << 31), (1 << 31) - 1)
_I64 = (-(1 << 63), (1 << 63) - 1)
_VARINT, _FIXED32, _FIXED64 = WireType.VARINT, WireType.I32, WireType.I64

#: The scalar types of the .proto language (language guide, "Scalar Value Types") by name.
SCALAR_TYPES: Final[dict[str, ScalarType]] = {t.name: t for t in (
    ScalarType("int32", _VARINT, to_int32, _integer(*_I32, "int32", to_uint64), ""),
    ScalarType("int64", _VARINT, to_int64, _integer(*_I64, "int64", to_uint64), ""),
    ScalarType("uint32", _VARINT, lambda raw: raw & MAX_UINT32, _integer(0, MAX_UINT32, "uint32"), ""),
    ScalarType("uint64", _VARINT, _same, _integer(0, MAX_UINT64, "uint64"), ""),
    ScalarType("sint32", _VARINT, lambda raw: zigzag_decode(raw & MAX_UINT32),
               _integer(*_I32, "sint32", zigzag_encode), ""),
    ScalarType("sint64", _VARINT, zigzag_decode, _integer(*_I64, "sint64", zigzag_encode), ""),
    ScalarType("bool", _VARINT, lambda raw: raw != 0, _integer(0, 1, "bool"), ""),
    ScalarType("enum", _VARINT, to_int32, _integer(*_I32, "enum", to_uint64), ""),
    ScalarType("fixed32", _FIXED32, _same, _integer(0, MAX_UINT32, "fixed32"), "I"),
    ScalarType("sfixed32", _FIXED32, sfixed32_from_bits,
               _integer(*_I32, "sfixed32", lambda v: v & MAX_UINT32), "i"),
    ScalarType("float", _FIXED32, float_from_bits, _real(bits_from_float), "f"),
    ScalarType("fixed64", _FIXED64, _same, _integer(0, MAX_UINT64, "fixed64"), "Q"),
    ScalarType("sfixed64", _FIXED64, sfixed64_from_bits,
               _integer(*_I64, "sfixed64", lambda v: v & MAX_UINT64), "q"),
    ScalarType("double", _FIXED64, double_from_bits, _real(bits_from_double), "d"),
)}


def scalar_type(type_name: str) -> ScalarType:
    """The entry of :data:`SCALAR_TYPES` for ``type_name``; LocalProtocolError if there is none."""
    try:
        return SCALAR_TYPES[type_name]
    except KeyError:
        raise LocalProtocolError(f"{type_name!r} is not a scalar type ({', '.join(SCALAR_TYPES)})") from None


def scalar_field(number: int, type_name: str, value: Scalar) -> Field:
    """The field that carries ``value`` as ``type_name``: ``scalar_field(1, "sint32", -2)`` is
    ``Field(1, VARINT, 3)``. Raises LocalProtocolError for an unknown type, a value outside it, or
    a field number outside 1..2**29 - 1."""
    scalar = scalar_type(type_name)
    encode_tag(number, scalar.wire_type)  # validates the number
    return Field(number, scalar.wire_type, scalar.encode(value))


def scalar_value(field: Field, type_name: str) -> Scalar:
    """The value of ``field`` read as ``type_name``.

    Raises RemoteProtocolError (INTERNAL) when the field's wire type is not the type's (protobuf
    would keep such a record as an unknown field); LocalProtocolError for an unknown type name.
    """
    scalar = scalar_type(type_name)
    if field.wire_type != scalar.wire_type or type(field.value) is not int:
        raise malformed(f"field {field.number} has wire type {field.wire_type}, not {type_name}'s")
    return scalar.decode(field.value)


def decode_packed(data: Buffer, type_name: str) -> list[Scalar]:
    """The values of a packed repeated field of ``type_name``, from its LEN payload ``data``.

    Raises RemoteProtocolError (INTERNAL) for a truncated varint or a length that is not a
    multiple of the element size; LocalProtocolError for a type that cannot be packed.
    """
    scalar = scalar_type(type_name)
    code = scalar.packed_format
    if code:
        size = struct.calcsize(code)
        count, rest = divmod(len(data), size)
        if rest:
            raise malformed(f"packed {type_name} payload of {len(data)} bytes is not a multiple of {size}")
        values: list[Scalar] = list(struct.unpack(f"<{count}{code}", data))
        return values
    raw: list[int] = []
    pos, end = 0, len(data)
    while pos < end:
        value, pos = read_varint(data, pos, end)
        raw.append(value)
    if scalar.decode is _same:  # uint64: the raw values are the values
        same: list[Scalar] = list(raw)
        return same
    return [scalar.decode(value) for value in raw]


def encode_packed(values: Iterable[Scalar], type_name: str) -> bytes:
    """The LEN payload of a packed repeated field of ``type_name`` holding ``values`` (without
    tag and length: give it to ``Field(number, WireType.LEN, ...)``).

    Raises LocalProtocolError for a value outside the type.
    """
    scalar = scalar_type(type_name)
    encode = scalar.encode
    raw = [encode(value) for value in values]  # range-checks every value first
    if scalar.packed_format:  # raw values are unsigned bit patterns whatever the type
        return struct.pack(f"<{len(raw)}{'I' if scalar.wire_type is WireType.I32 else 'Q'}", *raw)
    return b"".join([encode_varint(value) for value in raw])
