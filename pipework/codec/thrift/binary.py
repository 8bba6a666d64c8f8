"""TBinaryProtocol: fixed-width big-endian integers, 4-byte lengths, a type byte and an i16 id per field.

Theory of operation: a value is written as the Thrift specification's binary protocol lays it out
(doc/specs/thrift-binary-protocol.md): ``byte``/``i16``/``i32``/``i64`` big-endian two's complement,
``double`` as big-endian IEEE 754, ``bool`` as one byte, ``uuid`` as 16 bytes, ``binary`` as an i32
length and the bytes; a struct is ``type:1 id:2 value`` per field and a zero byte (STOP); a list or
set is ``etype:1 count:4`` then the elements, a map ``ktype:1 vtype:1 count:4`` then key, value,
key, value. A message header is either strict (``0x8001 0x00 type``, name, seqid) or the old form
(name, ``type:1``, seqid) that lib/py and others still read, and write with ``strictWrite=False``.

Decoding works on one ``bytes`` object that holds the whole message, recursing once per struct or
container. Fixed-width reads use class-level ``struct.Struct`` objects and let a read past the end
raise ``struct.error``/``IndexError``, which ``decode_struct`` turns into one ``RemoteProtocolError``:
no per-field bounds check on the hot path. Lengths are checked before slicing (a slice past the end
would silently come back short), and counts are checked against the bytes left before looping, so a
list announcing two billion elements costs nothing. Lists of fixed-width numbers are read with one
``unpack_from`` call. Encoding appends to one ``bytearray``.
"""

from __future__ import annotations

import struct
from uuid import UUID

from .errors import LocalProtocolError, ProtocolErrorType, RemoteProtocolError, invalid, too_deep, truncated
from .model import MESSAGE_TYPE_BY_ID, TTYPE_BY_ID, Header, Limits, Struct, TList, TMap, TSet, TType, Value
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
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_I64 = struct.Struct("!q")
_DOUBLE = struct.Struct("!d")
_FIELD = struct.Struct("!Bh")  # type, id
_LIST = struct.Struct("!Bi")  # element type, count (lists and sets)
_MAP = struct.Struct("!BBi")  # key type, value type, count
_OLD_TAIL = struct.Struct("!Bi")  # message type, seqid after the name (old header)

VERSION_1 = 0x8001_0000  # the strict header's first word, with the message type in its low byte
_VERSION_MASK = 0xFFFF_0000

_STOP, _BOOL, _BYTE, _DBL = TType.STOP, TType.BOOL, TType.BYTE, TType.DOUBLE
_I16T, _I32T, _I64T, _STR = TType.I16, TType.I32, TType.I64, TType.STRING
_STRUCT, _MAPT, _SET, _LISTT, _UUID = TType.STRUCT, TType.MAP, TType.SET, TType.LIST, TType.UUID

#: The fewest bytes a value of each type takes: counts times this must fit in the bytes left.
MIN_SIZE: dict[int, int] = {
    _BOOL: 1, _BYTE: 1, _DBL: 8, _I16T: 2, _I32T: 4, _I64T: 8, _STR: 4, _STRUCT: 1,
    _MAPT: 6, _SET: 5, _LISTT: 5, _UUID: 16,
}
#: Element types read in bulk: the ``struct`` format letter of one element.
_BULK: dict[int, str] = {_BYTE: "b", _I16T: "h", _I32T: "i", _I64T: "q", _DBL: "d"}


def read_header(buf: bytes | bytearray | memoryview, pos: int, strict: bool, lim: Limits) -> Header | None:
    """The header at ``buf[pos:]``, or None while it is incomplete; ``strict`` refuses the old form."""
    n = len(buf)
    if n - pos < 4:
        return None
    word = _U32.unpack_from(buf, pos)[0]
    # thrift-binary-protocol.md, Message: "Because `name length` must be positive (therefore the
    # first bit is always `0`), the first bit allows the receiver to see whether the strict format
    # or the old format is used ... when strict mode is enforced, the old format is rejected."
    versioned = word >= 0x8000_0000
    if versioned:
        if word & _VERSION_MASK != VERSION_1:
            raise RemoteProtocolError(f"bad binary protocol version word {word:#010x}",
                                      ProtocolErrorType.BAD_VERSION)
        if n - pos < 8:
            return None
        size = _I32.unpack_from(buf, pos + 4)[0]
        name_at = pos + 8
    elif strict:
        raise RemoteProtocolError("no version in the message header (strict binary protocol)",
                                  ProtocolErrorType.BAD_VERSION)
    else:
        size = word
        name_at = pos + 4
    if size < 0 or size > lim.max_name_size:  # "name length ... (must be >= 0)"
        check_name(size, lim)  # raises
    end = name_at + size
    if versioned:  # type in the first word, seqid after the name
        body = end + 4
        if body > n:
            return None
        type_id = word & 0xFF
        seqid = _I32.unpack_from(buf, end)[0]
    else:  # the old form: type byte and seqid after the name
        body = end + _OLD_TAIL.size
        if body > n:
            return None
        type_id, seqid = _OLD_TAIL.unpack_from(buf, end)
    mtype = MESSAGE_TYPE_BY_ID.get(type_id) or message_type(type_id)
    return Header(decode_name(buf, name_at, end), mtype, seqid, body)


def write_header(out: bytearray, name: bytes, mtype: int, seqid: int, strict: bool) -> None:
    if strict:
        out += _U32.pack(VERSION_1 | mtype)
        out += _I32.pack(len(name))
        out += name
        out += _I32.pack(seqid)
    else:
        out += _I32.pack(len(name))
        out += name
        out += _OLD_TAIL.pack(mtype, seqid)


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
    while True:
        t = buf[pos]
        if t == _STOP:
            if len(fields) != count:
                raise invalid("a field id appears twice in one struct")
            return fields, pos + 1
        tt = TTYPE_BY_ID[t]
        if tt is None:
            raise invalid(f"field type {t} is not a Thrift type")
        fid = _I16.unpack_from(buf, pos + 1)[0]
        pos += 3
        # The commonest types inline (a call costs as much as the read); the rest via _read_value.
        if tt is _STR:
            size = _I32.unpack_from(buf, pos)[0]
            pos += 4
            end = pos + size
            if size < 0 or size > lim.max_string_size or end > len(buf):
                raise bad_size("string", size, lim.max_string_size)
            fields[fid] = (tt, buf[pos:end])
            pos = end
        elif tt is _I32T:
            fields[fid] = (tt, _I32.unpack_from(buf, pos)[0])
            pos += 4
        elif tt is _I64T:
            fields[fid] = (tt, _I64.unpack_from(buf, pos)[0])
            pos += 8
        elif tt is _BOOL:
            fields[fid] = (tt, buf[pos] != 0)
            pos += 1
        elif tt is _STRUCT:
            sub, pos = _read_struct(buf, pos, depth + 1, lim)
            fields[fid] = (tt, sub)
        else:
            value, pos = _read_value(buf, pos, tt, depth, lim)
            fields[fid] = (tt, value)
        count += 1


def _read_strings(buf: bytes, pos: int, count: int, lim: Limits) -> tuple[list[Value], int]:
    items: list[Value] = []
    limit = lim.max_string_size
    n = len(buf)
    for _ in range(count):
        size = _I32.unpack_from(buf, pos)[0]
        pos += 4
        end = pos + size
        if size < 0 or size > limit or end > n:
            raise bad_size("string", size, limit)
        items.append(buf[pos:end])
        pos = end
    return items, pos


def _read_value(buf: bytes, pos: int, t: TType, depth: int, lim: Limits) -> tuple[Value, int]:
    """One value of type ``t`` held by a struct or container at ``depth``."""
    if t is _STR:
        size = _I32.unpack_from(buf, pos)[0]
        pos += 4
        end = pos + size
        if size < 0 or size > lim.max_string_size or end > len(buf):
            raise bad_size("string", size, lim.max_string_size)
        return buf[pos:end], end
    if t is _I32T:
        return _I32.unpack_from(buf, pos)[0], pos + 4
    if t is _I64T:
        return _I64.unpack_from(buf, pos)[0], pos + 8
    if t is _STRUCT:
        return _read_struct(buf, pos, depth + 1, lim)
    if t is _BOOL:
        return buf[pos] != 0, pos + 1
    if t is _BYTE:
        return _I8.unpack_from(buf, pos)[0], pos + 1
    if t is _I16T:
        return _I16.unpack_from(buf, pos)[0], pos + 2
    if t is _DBL:
        return _DOUBLE.unpack_from(buf, pos)[0], pos + 8
    if t is _UUID:
        if pos + 16 > len(buf):
            raise truncated("uuid")
        return UUID(bytes=buf[pos:pos + 16]), pos + 16
    if depth + 1 > lim.max_depth:
        raise too_deep(lim.max_depth)
    if t is _MAPT:
        kt, vt, count = _MAP.unpack_from(buf, pos)
        pos += _MAP.size
        ktype, vtype = TTYPE_BY_ID[kt], TTYPE_BY_ID[vt]
        if ktype is None or vtype is None:
            if count == 0 and kt == vt == _STOP:  # as a compact reader hands an empty map on
                return TMap(_STOP, _STOP, []), pos
            raise invalid(f"map of types {kt} -> {vt}")
        check_count(buf, pos, count, MIN_SIZE[ktype] + MIN_SIZE[vtype], lim)
        pairs: list[tuple[Value, Value]] = []
        for _ in range(count):
            key, pos = _read_value(buf, pos, ktype, depth + 1, lim)
            value, pos = _read_value(buf, pos, vtype, depth + 1, lim)
            pairs.append((key, value))
        return TMap(ktype, vtype, pairs), pos
    # LIST or SET
    et, count = _LIST.unpack_from(buf, pos)
    pos += _LIST.size
    etype = TTYPE_BY_ID[et]
    if etype is None:
        raise invalid(f"{t.name.lower()} of element type {et}")
    check_count(buf, pos, count, MIN_SIZE[etype], lim)
    items: list[Value]
    letter = _BULK.get(etype)
    if letter is not None:
        items = list(struct.unpack_from(f"!{count}{letter}", buf, pos))
        pos += count * MIN_SIZE[etype]
    elif etype is _STR:
        items, pos = _read_strings(buf, pos, count, lim)
    elif etype is _BOOL:
        items = [b != 0 for b in buf[pos:pos + count]]
        pos += count
    else:
        items = []
        for _ in range(count):
            value, pos = _read_value(buf, pos, etype, depth + 1, lim)
            items.append(value)
    return (TList(etype, items) if t is _LISTT else TSet(etype, items)), pos


def encode_struct(out: bytearray, fields: Struct, lim: Limits) -> None:
    """Append ``fields`` as a struct; ``LocalProtocolError`` for what the wire cannot carry."""
    try:
        _write_struct(out, fields, 1, lim)
    except (struct.error, TypeError, ValueError, OverflowError) as exc:
        raise LocalProtocolError(f"a value does not fit its Thrift type: {exc}") from None


def _write_struct(out: bytearray, fields: Struct, depth: int, lim: Limits) -> None:
    if type(fields) is not dict or depth > lim.max_depth:
        check_struct(fields, depth, lim)  # raises the right error
    for fid, (t, value) in fields.items():
        out += _FIELD.pack(t, fid)
        # The commonest types inline; struct.error for a value that is not an int is caught above.
        if t == _STR:
            data = value if type(value) is bytes else encode_string(value)
            out += _I32.pack(len(data))  # struct.error past 2**31 - 1
            out += data
        elif t == _I32T:
            out += _I32.pack(value)
        elif t == _I64T:
            out += _I64.pack(value)
        elif t == _BOOL:
            out.append(1 if value is True else 0 if value is False else check_bool(value))
        elif t == _STRUCT:
            _write_struct(out, value, depth + 1, lim)  # type: ignore[arg-type]  # check_struct checks it
        else:
            _write_value(out, t, value, depth, lim)
    out.append(_STOP)


def _write_value(out: bytearray, t: int, value: Value, depth: int, lim: Limits) -> None:
    if t == _STR:
        data = value if type(value) is bytes else encode_string(value)
        out += _I32.pack(len(data))
        out += data
    elif t == _I32T:
        out += _I32.pack(value)
    elif t == _I64T:
        out += _I64.pack(value)
    elif t == _STRUCT:
        _write_struct(out, value, depth + 1, lim)  # type: ignore[arg-type]  # check_struct checks it
    elif t == _BOOL:
        out.append(check_bool(value))
    elif t == _BYTE:
        out += _I8.pack(value)
    elif t == _I16T:
        out += _I16.pack(value)
    elif t == _DBL:
        out += _DOUBLE.pack(value)
    elif t == _UUID:
        out += check_uuid(value)
    elif t == _MAPT:
        check_container(value, t, depth, lim)
        assert isinstance(value, TMap)
        kt, vt, pairs = value.ktype, value.vtype, value.items
        if not (pairs or kt or vt):  # an empty map from a compact reader: no types known
            out += _MAP.pack(0, 0, 0)
            return
        check_elements(kt, vt)
        out += _MAP.pack(kt, vt, len(pairs))
        for key, item in pairs:
            _write_value(out, kt, key, depth + 1, lim)
            _write_value(out, vt, item, depth + 1, lim)
    elif t in (_LISTT, _SET):
        check_container(value, t, depth, lim)
        assert isinstance(value, TList)
        et, items = value.etype, value.items
        check_elements(et)
        out += _LIST.pack(et, len(items))
        letter = _BULK.get(et)
        if letter is not None:
            out += struct.pack(f"!{len(items)}{letter}", *items)
        elif et == _STR:
            for item in items:
                data = item if type(item) is bytes else encode_string(item)
                out += _I32.pack(len(data))
                out += data
        elif et == _BOOL:
            out += bytes([check_bool(item) for item in items])
        else:
            for item in items:
                _write_value(out, et, item, depth + 1, lim)
    else:
        raise LocalProtocolError(f"type id {t} is not a Thrift value type")
