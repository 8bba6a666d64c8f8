"""Schema-less protobuf: a message as a list of ``(field number, wire type, value)`` and back.

Theory of operation: without a schema a reader still knows every record's extent from its wire
type (see :mod:`.wire`), so :func:`decode_fields` turns a message into a flat list of
:class:`Field` tuples in wire order, and :func:`encode_fields` writes such a list back. Values
stay as the wire has them: an ``int`` for VARINT, I32 and I64 (unsigned; the ``to_*`` and
``*_from_bits`` helpers of :mod:`.wire`, or :func:`scalar_value` with a type name, give the
signed, zigzag or floating value), ``bytes`` for LEN (a string, bytes, a nested message or a
packed array: only the schema knows which; decode it again, or with :func:`decode_packed`), and
a list of fields for a group. Repeated and out-of-order fields are kept as they came: merging
("the last value wins", protobuf.dev encoding guide "Last One Wins") is the schema's business.
A proxy that needs only one field uses :func:`~.peek.read_field`, which builds nothing else.

Decoding is hardened: a truncated record, a length past the end, an 11-byte varint, a tag padded
past five bytes, field number 0, wire types 6 and 7 and an unbalanced group raise
:class:`RemoteProtocolError` (INTERNAL); groups nested past ``max_depth`` or more than
``max_fields`` records raise it with RESOURCE_EXHAUSTED. Encoding refuses what the wire cannot
carry with LocalProtocolError, so a list that encodes decodes to an equal list (varints come
back in their shortest form).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

from .errors import LocalProtocolError, exhausted, malformed
from .wire import (
    DEFAULT_MAX_DEPTH,
    MAX_MESSAGE_SIZE,
    MAX_UINT32,
    MAX_UINT64,
    U32_LE,
    U64_LE,
    WIRE_TYPES,
    Buffer,
    WireType,
    copy_out,
    encode_tag,
    encode_varint,
    read_tag,
    read_varint,
)

#: How many records (nested group members included) one ``decode_fields`` call builds before it
#: refuses (RESOURCE_EXHAUSTED). A two-byte record becomes a ~100-byte tuple in Python, so a 4 MiB
#: gRPC message of them would cost ~200 MB; 131,072 records (~13 MB) fits any message meant to be
#: inspected field by field. Raise it per call for bulk data.
DEFAULT_MAX_FIELDS: Final = 1 << 17

_new_tuple = tuple.__new__


class Field(NamedTuple):
    """One record of a message: its field number, wire type and raw value (see the module doc)."""

    number: int
    wire_type: WireType
    value: int | bytes | list[Field]


def decode_fields(buf: Buffer, *, max_depth: int = DEFAULT_MAX_DEPTH,
                  max_fields: int = DEFAULT_MAX_FIELDS) -> list[Field]:
    """The records of the message ``buf``, in wire order.

    ``max_depth`` bounds the nesting of groups, ``max_fields`` the records built. Raises
    RemoteProtocolError: INTERNAL for bytes that are not a message, RESOURCE_EXHAUSTED past a limit.
    """
    if len(buf) > MAX_MESSAGE_SIZE:
        raise exhausted(f"message of {len(buf)} bytes is over protobuf's 2 GiB limit")
    budget = [max_fields]
    try:
        return _decode(buf, 0, len(buf), 0, max_depth, budget)[0]
    except RecursionError:  # only reachable when a caller raises max_depth past Python's own limit
        raise exhausted("groups nest deeper than the interpreter's recursion limit") from None


def _decode(buf: Buffer, pos: int, end: int, group: int, depth: int,
            budget: list[int]) -> tuple[list[Field], int]:
    """Records from ``pos`` to ``end``, or to the EGROUP of field ``group`` when it is not 0.

    ``budget[0]`` is how many more records may be built; it is kept in a local and written back
    around the recursion into a group, as this loop is the codec's hot path.
    """
    out: list[Field] = []
    append = out.append
    new, kinds, varint = _new_tuple, WIRE_TYPES, read_varint
    left = budget[0]
    whole = buf if isinstance(buf, bytes) else None  # slicing bytes copies once; others: copy_out
    value: int | bytes | list[Field]
    wire_type: int
    while pos < end:
        tag = buf[pos]
        if 8 <= tag < 0x80:  # fields 1-15: a one-byte tag
            pos += 1
            number = tag >> 3
            wire_type = tag & 7
        elif tag >= 0x80 and pos + 1 < end and 0 < buf[pos + 1] < 0x80:  # fields 16-2047: two bytes
            tag = (tag & 0x7F) | (buf[pos + 1] << 7)
            pos += 2
            number = tag >> 3
            wire_type = tag & 7
        else:  # field number 0, padded or longer tags: the full checks
            number, wire_type, pos = read_tag(buf, pos, end)
        if wire_type == 0:
            if pos < end and buf[pos] < 0x80:
                value = buf[pos]
                pos += 1
            else:
                value, pos = varint(buf, pos, end)
        elif wire_type == 2:
            if pos < end and buf[pos] < 0x80:
                size = buf[pos]
                pos += 1
            else:
                size, pos = varint(buf, pos, end)
            if size > end - pos:
                raise malformed(f"field {number}: length {size} runs past the end ({end - pos} left)")
            value = whole[pos : pos + size] if whole is not None else copy_out(buf, pos, pos + size)
            pos += size
        elif wire_type == 5:
            if pos + 4 > end:
                raise malformed(f"field {number}: I32 value runs past the end")
            value = U32_LE.unpack_from(buf, pos)[0]
            pos += 4
        elif wire_type == 1:
            if pos + 8 > end:
                raise malformed(f"field {number}: I64 value runs past the end")
            value = U64_LE.unpack_from(buf, pos)[0]
            pos += 8
        elif wire_type == 3:
            if depth <= 0:
                raise exhausted(f"field {number}: groups nest deeper than max_depth")
            budget[0] = left
            value, pos = _decode(buf, pos, end, number, depth - 1, budget)
            left = budget[0]
        elif wire_type == 4:
            if number != group:
                raise malformed(f"end of group {number} " + (f"inside group {group}" if group
                                                              else "outside any group"))
            budget[0] = left
            return out, pos
        else:
            raise malformed(f"invalid wire type {wire_type} (field {number})")
        left -= 1
        if left < 0:
            raise exhausted("message has more records than the max_fields limit")
        append(new(Field, (number, kinds[wire_type], value)))
    if group:
        raise malformed(f"group {group} is not closed")
    budget[0] = left
    return out, pos


def encode_fields(fields: Iterable[Field | tuple[int, int, object]], *,
                  max_depth: int = DEFAULT_MAX_DEPTH) -> bytes:
    """The message made of ``fields``, each ``(number, wire type, value)``.

    Values: an int in 0..2**64 - 1 for VARINT and I64, 0..2**32 - 1 for I32; bytes-like for LEN,
    or a sequence of fields to write as a nested message; a sequence of fields for SGROUP (the
    encoder writes the EGROUP). Raises LocalProtocolError for anything else, for nesting past
    ``max_depth`` (a peer with protobuf's defaults would refuse it) or a result of 2 GiB or more.
    """
    parts: list[bytes] = []
    _encode(fields, parts, max_depth)
    data = b"".join(parts)
    if len(data) > MAX_MESSAGE_SIZE:
        raise LocalProtocolError(f"message of {len(data)} bytes is over protobuf's 2 GiB limit")
    return data


def _encode(fields: Iterable[Field | tuple[int, int, object]], parts: list[bytes], depth: int) -> None:
    for item in fields:
        try:
            number, wire_type, value = item
        except (TypeError, ValueError):
            raise LocalProtocolError(f"{item!r} is not a (number, wire type, value) triple") from None
        tag = encode_tag(number, wire_type)
        if wire_type == 0 and type(value) is int:
            parts += (tag, encode_varint(value))
        elif wire_type == 2 and isinstance(value, bytes | bytearray | memoryview):
            parts += (tag, encode_varint(len(value)), bytes(value))
        elif wire_type == 2 and isinstance(value, Sequence) and not isinstance(value, str):
            nested = encode_fields(value, max_depth=_deeper(depth, number))
            parts += (tag, encode_varint(len(nested)), nested)
        elif wire_type == 5 and type(value) is int and 0 <= value <= MAX_UINT32:
            parts += (tag, U32_LE.pack(value))
        elif wire_type == 1 and type(value) is int and 0 <= value <= MAX_UINT64:
            parts += (tag, U64_LE.pack(value))
        elif wire_type == 3 and isinstance(value, Sequence) and not isinstance(value, str | bytes):
            parts.append(tag)
            _encode(value, parts, _deeper(depth, number))
            parts.append(encode_tag(number, WireType.EGROUP))
        elif wire_type == 4:
            raise LocalProtocolError(f"field {number}: EGROUP is written by the encoder, give SGROUP a list")
        else:
            raise LocalProtocolError(f"field {number}: {value!r} is not a value of wire type {wire_type}")


def _deeper(depth: int, number: int) -> int:
    if depth <= 0:
        raise LocalProtocolError(f"field {number}: nesting past the depth limit")
    return depth - 1
