"""Finding one field in protobuf bytes without decoding the message: for routing.

Theory of operation: a proxy that routes on one field (a tenant id, a shard key, a request's
``header.service``) needs that value and then only forwards the bytes. :func:`read_field` walks
the records of one message level by their tags, skipping every value it does not want by its
length — a LEN value is jumped over, not copied or parsed, a group is skipped by walking its
tags — and builds only the field asked for. A path of numbers descends into nested messages
(LEN) and groups: ``read_field(buf, 1, 3)`` is field 3 of the message in field 1.

Which occurrence: protobuf lets the *last* occurrence of a singular scalar win, and merges
several occurrences of a message field as if they were concatenated (protobuf.dev encoding
guide, "Last One Wins"). :func:`read_field` answers the same way — the last occurrence of the
leaf across all occurrences of every level of the path — so the value we route on is the value
the backend's parser will see; routing on the first would let a client steer with one copy and
act with another. :func:`read_fields` returns them all, for repeated fields. An occurrence of a
path's container with a wire type other than LEN or SGROUP is skipped, as protobuf keeps such a
record as an unknown field.

Only the levels walked are checked: a malformed record there raises RemoteProtocolError
(INTERNAL), but the inside of skipped values is not looked at, so a message that
:func:`~.fields.decode_fields` or protobuf would refuse deeper down may still give an answer.
"""

from __future__ import annotations

from .errors import LocalProtocolError, exhausted, malformed
from .fields import DEFAULT_MAX_FIELDS, Field, _decode
from .wire import (
    DEFAULT_MAX_DEPTH,
    MAX_FIELD_NUMBER,
    MAX_MESSAGE_SIZE,
    U32_LE,
    U64_LE,
    WIRE_TYPES,
    Buffer,
    WireType,
    copy_out,
    read_tag,
    read_varint,
)

# (wire type, start of the value, end of the value) of one occurrence; for SGROUP the group's
# records, without the EGROUP tag.
_Span = tuple[int, int, int]


def read_field(buf: Buffer, *path: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Field | None:
    """The last occurrence of the field at ``path`` in the message ``buf``, or None.

    The value is decoded as :func:`~.fields.decode_fields` would (int, bytes, or a group's
    fields). Raises LocalProtocolError for an empty path or a number outside 1..2**29 - 1;
    RemoteProtocolError for a malformed record on the levels walked (INTERNAL) or groups nested
    past ``max_depth`` (RESOURCE_EXHAUSTED).
    """
    spans = _collect(buf, path, max_depth)
    return _materialize(buf, spans[-1], path[-1], max_depth) if spans else None


def read_fields(buf: Buffer, *path: int, max_depth: int = DEFAULT_MAX_DEPTH) -> list[Field]:
    """Every occurrence of the field at ``path``, in wire order (a repeated field's elements;
    a packed one is a single LEN record). Raises as :func:`read_field`."""
    return [_materialize(buf, span, path[-1], max_depth) for span in _collect(buf, path, max_depth)]


def _collect(buf: Buffer, path: tuple[int, ...], max_depth: int) -> list[_Span]:
    if not path:
        raise LocalProtocolError("read_field needs at least one field number")
    for number in path:
        if type(number) is not int or not 1 <= number <= MAX_FIELD_NUMBER:
            raise LocalProtocolError(f"field number {number!r} outside 1..{MAX_FIELD_NUMBER}")
    if len(buf) > MAX_MESSAGE_SIZE:
        raise exhausted(f"message of {len(buf)} bytes is over protobuf's 2 GiB limit")
    spans: list[_Span] = [(WireType.LEN, 0, len(buf))]
    for level, number in enumerate(path):
        depth = max_depth - level
        found: list[_Span] = []
        for wire_type, start, end in spans:
            if wire_type == WireType.LEN or wire_type == WireType.SGROUP:
                _scan(buf, start, end, number, depth, found)
        spans = found
        if not spans:
            break
    return spans


def _scan(buf: Buffer, pos: int, end: int, want: int, depth: int, found: list[_Span]) -> None:
    """Append the span of every record of field ``want`` in ``buf[pos:end]``, skipping the rest.

    The hot path of routing: one- and two-byte tags and lengths are read inline (as in
    ``fields._decode``) rather than through ``_tag`` and ``_skip``, which handle the rest.
    """
    while pos < end:
        tag = buf[pos]
        if 8 <= tag < 0x80:
            pos += 1
        elif tag >= 0x80 and pos + 1 < end and 0 < buf[pos + 1] < 0x80:
            tag = (tag & 0x7F) | (buf[pos + 1] << 7)
            pos += 2
        else:
            full = read_tag(buf, pos, end)
            tag, pos = full[0] << 3 | full[1], full[2]
        number = tag >> 3
        wire_type = tag & 7
        if wire_type == 2 and pos < end and buf[pos] < 0x80:  # a LEN value under 128 bytes
            start = pos + 1
            stop = pos = start + buf[pos]
            if pos > end:
                raise malformed(f"field {number}: length {stop - start} runs past the end")
        elif wire_type == 0 and pos < end and buf[pos] < 0x80:  # a one-byte varint
            start = pos
            stop = pos = pos + 1
        elif wire_type == 3:
            if depth <= 0:
                raise exhausted(f"field {number}: groups nest deeper than max_depth")
            start = pos
            stop, pos = _skip_group(buf, pos, end, number, depth - 1)
        elif wire_type == 4:
            raise malformed(f"end of group {number} outside any group")
        else:
            start, pos = _skip(buf, pos, end, wire_type, number)
            stop = pos
        if number == want:
            found.append((wire_type, start, stop))


def _tag(buf: Buffer, pos: int, end: int) -> tuple[int, int, int]:
    tag = buf[pos]
    if tag >= 0x80 or tag < 8:  # longer than a byte, or field number 0: the full checks
        return read_tag(buf, pos, end)
    return tag >> 3, tag & 7, pos + 1


def _skip(buf: Buffer, pos: int, end: int, wire_type: int, number: int) -> tuple[int, int]:
    """The value of the VARINT, I64, LEN or I32 record at ``pos``: ``(start, end)``, where a LEN
    value starts after its length."""
    if wire_type == 0:
        return pos, read_varint(buf, pos, end)[1]
    if wire_type == 2:
        size, pos = read_varint(buf, pos, end)
        if size > end - pos:
            raise malformed(f"field {number}: length {size} runs past the end ({end - pos} left)")
        return pos, pos + size
    if wire_type == 5 or wire_type == 1:
        stop = pos + (4 if wire_type == 5 else 8)
        if stop > end:
            raise malformed(f"field {number}: fixed-width value runs past the end")
        return pos, stop
    raise malformed(f"invalid wire type {wire_type} (field {number})")


def _skip_group(buf: Buffer, pos: int, end: int, group: int, depth: int) -> tuple[int, int]:
    """Walk the records of group ``group`` from ``pos``: ``(start of its EGROUP tag, after it)``."""
    while pos < end:
        tag_start = pos
        number, wire_type, pos = _tag(buf, pos, end)
        if wire_type == 4:
            if number != group:
                raise malformed(f"end of group {number} inside group {group}")
            return tag_start, pos
        if wire_type == 3:
            if depth <= 0:
                raise exhausted(f"field {number}: groups nest deeper than max_depth")
            pos = _skip_group(buf, pos, end, number, depth - 1)[1]
        else:
            pos = _skip(buf, pos, end, wire_type, number)[1]
    raise malformed(f"group {group} is not closed")


def _materialize(buf: Buffer, span: _Span, number: int, max_depth: int) -> Field:
    wire_type, start, end = span
    value: int | bytes | list[Field]
    if wire_type == 0:
        value = read_varint(buf, start, end)[0]
    elif wire_type == 2:
        value = copy_out(buf, start, end)
    elif wire_type == 5:
        value = U32_LE.unpack_from(buf, start)[0]
    elif wire_type == 1:
        value = U64_LE.unpack_from(buf, start)[0]
    else:  # a group: its records were walked once already; now build them
        value = _decode(buf, start, end, 0, max_depth, [DEFAULT_MAX_FIELDS])[0]
    kind = WIRE_TYPES[wire_type]
    assert kind is not None  # _skip refused 6 and 7
    return Field(number, kind, value)

