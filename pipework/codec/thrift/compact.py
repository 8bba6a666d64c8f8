"""TCompactProtocol: varints, zigzag integers, field ids as deltas, bools folded into field headers.

Theory of operation: the layout of the Thrift specification's compact protocol
(doc/specs/thrift-compact-protocol.md). Integers are ULEB128 varints, signed ones zigzag-encoded
first (i16, i32, i64: at most 3, 5 and 10 bytes); lengths and counts are unsigned varints; a
``double`` is 8 bytes little-endian. A field header is one byte, ``delta:4 ctype:4``, when the id
is 1..15 above the previous one, else ``0:4 ctype:4`` and the id as a zigzag varint; a bool field's
value is its compact type (1 true, 2 false) and takes no further byte. A list or set header is
``count:4 ctype:4`` when count < 15, else ``0xF ctype`` and a varint count; a map is a varint count
and, unless it is empty, one byte ``ktype:4 vtype:4``. The message header is ``0x82``,
``type:3 version:5`` (version 1), the seqid as an unsigned varint, then the name.

Like ``binary``, decoding works on one ``bytes`` holding the whole message; reads past the end raise
``IndexError`` or ``struct.error`` and ``decode_struct`` turns them into one ``RemoteProtocolError``.
Varints are read with a fast path for one byte and a loop of at most ten iterations otherwise (the
only per-byte loop: Python has no C primitive for LEB128). A varint too long for its type, or a
value beyond it, is INVALID_DATA, where some libraries would silently truncate.
"""

from __future__ import annotations

import struct
from uuid import UUID

from .errors import LocalProtocolError, ProtocolErrorType, RemoteProtocolError, invalid, too_deep, truncated
from .model import Header, Limits, Struct, TList, TMap, TSet, TType, Value
from .wire import (
    bad_size,
    check_bool,
    check_container,
    check_count,
    check_elements,
    check_name,
    check_struct,
    check_uuid,
    decode_name,
    encode_string,
    message_type,
)

_I8 = struct.Struct("!b")
_DOUBLE = struct.Struct("<d")

PROTOCOL_ID = 0x82
VERSION = 1
_VERSION_MASK = 0x1F
_TYPE_SHIFT = 5

_STOP, _BOOL, _BYTE, _DBL = TType.STOP, TType.BOOL, TType.BYTE, TType.DOUBLE
_I16T, _I32T, _I64T, _STR = TType.I16, TType.I32, TType.I64, TType.STRING
_STRUCT, _MAPT, _SET, _LISTT, _UUID = TType.STRUCT, TType.MAP, TType.SET, TType.LIST, TType.UUID

# Compact type nibble <-> TType. 1 and 2 are BOOL: true and false in a field header. As a
# container's element type the spec names 2, but lib/java and lib/py write 1; both are read.
_TTYPE_OF: tuple[TType | None, ...] = (
    None, _BOOL, _BOOL, _BYTE, _I16T, _I32T, _I64T, _DBL, _STR, _LISTT, _SET, _MAPT, _STRUCT, _UUID,
    None, None,
)
CTYPE_OF: dict[int, int] = {
    _BOOL: 1, _BYTE: 3, _I16T: 4, _I32T: 5, _I64T: 6, _DBL: 7, _STR: 8, _LISTT: 9, _SET: 10, _MAPT: 11,
    _STRUCT: 12, _UUID: 13,
}
#: The fewest bytes a value of each type takes (a varint is at least one).
MIN_SIZE: dict[int, int] = {t: 1 for t in CTYPE_OF}
MIN_SIZE[_DBL] = 8
MIN_SIZE[_UUID] = 16
#: The largest unsigned varint each integer type may carry, zigzag-encoded.
_INT_MAX: dict[int, int] = {_I16T: 0xFFFF, _I32T: 0xFFFF_FFFF, _I64T: 0xFFFF_FFFF_FFFF_FFFF}
_INT_RANGE: dict[int, int] = {_I16T: 1 << 15, _I32T: 1 << 31, _I64T: 1 << 63}
_U32_MAX = 0xFFFF_FFFF


def read_varint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """The unsigned varint at ``buf[pos:]`` and the offset after it; ``IndexError`` if ``buf`` ends
    inside it, INVALID_DATA past ten bytes (64 bits)."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    result = b & 0x7F
    shift = 7
    while True:
        pos += 1
        b = buf[pos]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos + 1
        shift += 7
        if shift >= 70:
            raise invalid("a varint longer than ten bytes")


def _zigzag(value: int, t: TType) -> int:
    if value > _INT_MAX[t]:
        raise invalid(f"a varint of {value} does not fit an {t.name.lower()}")
    return (value >> 1) ^ -(value & 1)


def read_header(buf: bytes | bytearray | memoryview, pos: int, lim: Limits) -> Header | None:
    """The header at ``buf[pos:]``, or None while it is incomplete."""
    n = len(buf)
    if pos >= n:
        return None
    # thrift-compact-protocol.md, Message: "`pppppppp` is the protocol id, fixed to `1000 0010`,
    # 0x82"; "`vvvvv` is the version, an unsigned 5 bit integer, fixed to `00001`".
    if buf[pos] != PROTOCOL_ID:
        raise RemoteProtocolError(f"bad compact protocol id {buf[pos]:#04x} (expected 0x82)",
                                  ProtocolErrorType.BAD_VERSION)
    if pos + 1 >= n:
        return None
    version_type = buf[pos + 1]
    if version_type & _VERSION_MASK != VERSION:
        raise RemoteProtocolError(f"bad compact protocol version {version_type & _VERSION_MASK}",
                                  ProtocolErrorType.BAD_VERSION)
    try:
        seqid, at = read_varint(buf, pos + 2)
        size, name_at = read_varint(buf, at)
    except IndexError:
        return None
    if seqid > _U32_MAX:
        raise invalid(f"seqid {seqid} does not fit 32 bits")
    if size > _U32_MAX:
        raise invalid(f"method name length {size} does not fit 32 bits")
    if size > lim.max_name_size:
        check_name(size, lim)  # raises
    end = name_at + size
    if end > n:
        return None
    if seqid > 0x7FFF_FFFF:  # an i32 written as unsigned
        seqid -= 1 << 32
    mtype = message_type(version_type >> _TYPE_SHIFT)
    return Header(decode_name(buf, name_at, end), mtype, seqid, end)


def write_varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def write_header(out: bytearray, name: bytes, mtype: int, seqid: int) -> None:
    if not -(1 << 31) <= seqid < 1 << 31:
        raise LocalProtocolError(f"seqid {seqid} does not fit an i32")
    out.append(PROTOCOL_ID)
    out.append(VERSION | mtype << _TYPE_SHIFT)
    write_varint(out, seqid & _U32_MAX)
    write_varint(out, len(name))
    out += name


def decode_struct(buf: bytes, pos: int, lim: Limits) -> tuple[Struct, int]:
    """The struct at ``buf[pos:]`` and the offset after it; ``RemoteProtocolError`` if it is invalid
    or ``buf`` ends first."""
    try:
        return _read_struct(buf, pos, 1, lim)
    except (IndexError, struct.error):
        raise truncated("struct") from None


def _read_struct(buf: bytes, pos: int, depth: int, lim: Limits) -> tuple[Struct, int]:
    if depth > lim.max_depth:
        raise too_deep(lim.max_depth)
    fields: Struct = {}
    count = 0
    last = 0
    while True:
        head = buf[pos]
        pos += 1
        if head == 0:
            if len(fields) != count:
                raise invalid("a field id appears twice in one struct")
            return fields, pos
        delta = head >> 4  # "the field id delta, an unsigned 4 bits integer, strictly positive"
        if delta:
            fid = last + delta
            if fid > 0x7FFF:
                raise invalid(f"field id {fid} does not fit an i16")
        else:
            raw, pos = read_varint(buf, pos)
            fid = _zigzag(raw, _I16T)
        last = fid
        ctype = head & 0x0F
        # The commonest types inline, with one-byte varints on the fast path.
        if ctype == 8:  # binary
            size = buf[pos]
            if size < 0x80:
                pos += 1
            else:
                size, pos = read_varint(buf, pos)
            end = pos + size
            if size > lim.max_string_size or end > len(buf):
                raise bad_size("string", size, lim.max_string_size)
            fields[fid] = (_STR, buf[pos:end])
            pos = end
        elif ctype == 5 or ctype == 6:  # i32, i64
            tt = _I32T if ctype == 5 else _I64T
            raw = buf[pos]
            if raw < 0x80:
                pos += 1
            else:
                raw, pos = read_varint(buf, pos)
                if raw > _INT_MAX[tt]:
                    _zigzag(raw, tt)  # raises
            fields[fid] = (tt, (raw >> 1) ^ -(raw & 1))
        elif ctype == 1 or ctype == 2:
            fields[fid] = (_BOOL, ctype == 1)
        elif ctype == 12:
            sub, pos = _read_struct(buf, pos, depth + 1, lim)
            fields[fid] = (_STRUCT, sub)
        else:
            other = _TTYPE_OF[ctype]
            if other is None:
                raise invalid(f"field type {ctype} is not a compact type")
            value, pos = _read_value(buf, pos, other, depth, lim)
            fields[fid] = (other, value)
        count += 1


def _read_value(buf: bytes, pos: int, t: TType, depth: int, lim: Limits) -> tuple[Value, int]:
    """One value of type ``t`` held by a struct or container at ``depth``."""
    if t is _STR:
        size, pos = read_varint(buf, pos)
        end = pos + size
        if size > lim.max_string_size or end > len(buf):
            raise bad_size("string", size, lim.max_string_size)
        return buf[pos:end], end
    if t is _I32T or t is _I64T or t is _I16T:
        raw, pos = read_varint(buf, pos)
        return _zigzag(raw, t), pos
    if t is _STRUCT:
        return _read_struct(buf, pos, depth + 1, lim)
    if t is _BOOL:
        # An element is one byte. The spec says "true as `1` and false as `0`"; lib/java and
        # lib/py write 2 for false (the field header's code). Both are read as false.
        b = buf[pos]
        if b > 2:
            raise invalid(f"bool element {b} (compact true is 1, false 2)")
        return b == 1, pos + 1
    if t is _BYTE:
        return _I8.unpack_from(buf, pos)[0], pos + 1
    if t is _DBL:
        return _DOUBLE.unpack_from(buf, pos)[0], pos + 8
    if t is _UUID:
        if pos + 16 > len(buf):
            raise truncated("uuid")
        return UUID(bytes=buf[pos:pos + 16]), pos + 16
    if depth + 1 > lim.max_depth:
        raise too_deep(lim.max_depth)
    if t is _MAPT:
        count, pos = read_varint(buf, pos)
        if count == 0:
            return TMap(_STOP, _STOP, []), pos
        types = buf[pos]
        pos += 1
        ktype, vtype = _TTYPE_OF[types >> 4], _TTYPE_OF[types & 0x0F]
        if ktype is None or vtype is None:
            raise invalid(f"map of compact types {types >> 4} -> {types & 0x0F}")
        check_count(buf, pos, count, MIN_SIZE[ktype] + MIN_SIZE[vtype], lim)
        pairs: list[tuple[Value, Value]] = []
        for _ in range(count):
            key, pos = _read_value(buf, pos, ktype, depth + 1, lim)
            value, pos = _read_value(buf, pos, vtype, depth + 1, lim)
            pairs.append((key, value))
        return TMap(ktype, vtype, pairs), pos
    # LIST or SET
    head = buf[pos]
    pos += 1
    count = head >> 4
    if count == 15:
        count, pos = read_varint(buf, pos)
    etype = _TTYPE_OF[head & 0x0F]
    if etype is None:
        raise invalid(f"{t.name.lower()} of compact element type {head & 0x0F}")
    check_count(buf, pos, count, MIN_SIZE[etype], lim)
    items: list[Value]
    if etype is _BYTE:
        items = list(struct.unpack_from(f"{count}b", buf, pos))
        pos += count
    elif etype is _DBL:
        items = list(struct.unpack_from(f"<{count}d", buf, pos))
        pos += 8 * count
    elif etype is _STR:
        items, pos = _read_strings(buf, pos, count, lim)
    elif etype is _I32T or etype is _I64T:
        items, pos = _read_ints(buf, pos, count, etype)
    else:
        items = []
        for _ in range(count):
            value, pos = _read_value(buf, pos, etype, depth + 1, lim)
            items.append(value)
    return (TList(etype, items) if t is _LISTT else TSet(etype, items)), pos


def _read_strings(buf: bytes, pos: int, count: int, lim: Limits) -> tuple[list[Value], int]:
    items: list[Value] = []
    limit = lim.max_string_size
    n = len(buf)
    for _ in range(count):
        size = buf[pos]
        if size < 0x80:
            pos += 1
        else:
            size, pos = read_varint(buf, pos)
        end = pos + size
        if size > limit or end > n:
            raise bad_size("string", size, limit)
        items.append(buf[pos:end])
        pos = end
    return items, pos


def _read_ints(buf: bytes, pos: int, count: int, t: TType) -> tuple[list[Value], int]:
    items: list[Value] = []
    top = _INT_MAX[t]
    for _ in range(count):
        raw = buf[pos]
        if raw < 0x80:
            pos += 1
        else:
            raw, pos = read_varint(buf, pos)
            if raw > top:
                _zigzag(raw, t)  # raises
        items.append((raw >> 1) ^ -(raw & 1))
    return items, pos


def encode_struct(out: bytearray, fields: Struct, lim: Limits) -> None:
    """Append ``fields`` as a struct; ``LocalProtocolError`` for what the wire cannot carry."""
    try:
        _write_struct(out, fields, 1, lim)
    except (struct.error, TypeError, ValueError, OverflowError, KeyError) as exc:
        raise LocalProtocolError(f"a value does not fit its Thrift type: {exc!r}") from None


def _write_struct(out: bytearray, fields: Struct, depth: int, lim: Limits) -> None:
    if type(fields) is not dict or depth > lim.max_depth:
        check_struct(fields, depth, lim)  # raises the right error
    last = 0
    for fid, (t, value) in fields.items():
        # CTYPE_OF raises KeyError for a type that is not a value type: caught above.
        ctype = (1 if check_bool(value) else 2) if t == _BOOL else CTYPE_OF[t]
        delta = fid - last
        if 0 < delta <= 15:
            out.append(delta << 4 | ctype)
        else:
            if not -0x8000 <= fid <= 0x7FFF:
                raise LocalProtocolError(f"field id {fid} does not fit an i16")
            out.append(ctype)
            write_varint(out, (fid << 1) ^ (fid >> 15))
        last = fid
        # The commonest cases inline: short bytes, small ints.
        if ctype == 8 and type(value) is bytes:
            size = len(value)
            if size < 0x80:
                out.append(size)
            else:
                write_varint(out, size)
            out += value
        elif (ctype == 5 or ctype == 6) and type(value) is int and -64 <= value < 64:
            out.append((value << 1) if value >= 0 else ((-value) << 1) - 1)
        elif t != _BOOL:
            _write_value(out, t, value, depth, lim)
    out.append(0)


def _write_int(out: bytearray, value: Value, t: int) -> None:
    if type(value) is not int and type(value) is not bool:
        raise LocalProtocolError(f"an {TType(t).name} value is an int, not {type(value).__name__}")
    bound = _INT_RANGE[t]
    if not -bound <= value < bound:
        raise LocalProtocolError(f"{value} does not fit an {TType(t).name.lower()}")
    write_varint(out, (value << 1) if value >= 0 else ((-value) << 1) - 1)


def _write_value(out: bytearray, t: int, value: Value, depth: int, lim: Limits) -> None:
    if t == _STR:
        data = encode_string(value)
        write_varint(out, len(data))
        out += data
    elif t in (_I32T, _I64T, _I16T):
        _write_int(out, value, t)
    elif t == _STRUCT:
        _write_struct(out, value, depth + 1, lim)  # type: ignore[arg-type]  # check_struct checks it
    elif t == _BOOL:
        out.append(1 if check_bool(value) else 2)
    elif t == _BYTE:
        out += _I8.pack(value)  # struct.error if not an int: caught above
    elif t == _DBL:
        out += _DOUBLE.pack(value)
    elif t == _UUID:
        out += check_uuid(value)
    elif t == _MAPT:
        check_container(value, t, depth, lim)
        assert isinstance(value, TMap)
        kt, vt, pairs = value.ktype, value.vtype, value.items
        if not pairs:
            out.append(0)  # an empty map carries no types
            return
        check_elements(kt, vt)
        write_varint(out, len(pairs))
        out.append(CTYPE_OF[kt] << 4 | CTYPE_OF[vt])
        for key, item in pairs:
            _write_value(out, kt, key, depth + 1, lim)
            _write_value(out, vt, item, depth + 1, lim)
    elif t in (_LISTT, _SET):
        check_container(value, t, depth, lim)
        assert isinstance(value, TList)
        et, items = value.etype, value.items
        check_elements(et)
        if len(items) < 15:
            out.append(len(items) << 4 | CTYPE_OF[et])
        else:
            out.append(0xF0 | CTYPE_OF[et])
            write_varint(out, len(items))
        if et == _STR:
            for item in items:
                data = item if type(item) is bytes else encode_string(item)
                write_varint(out, len(data))
                out += data
        else:
            for item in items:
                _write_value(out, et, item, depth + 1, lim)
    else:
        raise LocalProtocolError(f"type id {t} is not a Thrift value type")
