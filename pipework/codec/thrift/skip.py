"""Finding where a value ends without building it, resumably: message boundaries on unframed streams.

Theory of operation: on an unframed transport (TBufferedTransport, a raw socket) nothing but the
message itself says where it ends, so the stream decoder must walk the body. ``Skipper`` does that
without creating a single value: it checks types, lengths, counts and nesting, and moves an offset.
Its walk is an explicit stack of frames instead of recursion, and it commits its position only after
a whole step (a field header with its value, or a value's header) is present, so when the bytes run
out it stops and reports None, and the next ``run`` on a longer buffer resumes where it stopped.
Feeding an N-byte message in any number of chunks therefore costs O(N), not O(N) per chunk; a
hostile peer that trickles a large message byte by byte cannot make us re-scan it.

Lists of fixed-width elements move in one step by as many whole elements as are present. Every
declared extent (a string length, a count times its elements' smallest size) is compared with
``limit_end`` at once, so a message announcing more than the frame limit is refused before we wait
for it. Depth counts structs and containers alike; the outermost struct is depth 1, as in decoding.
"""

from __future__ import annotations

import struct

from .errors import invalid, negative, too_deep, too_large
from .model import TTYPE_BY_ID, Limits, Protocol, TType

_STRUCT_FRAME, _LIST_FRAME, _MAP_FRAME = 0, 1, 2
_I32 = struct.Struct("!i")
_BIN_LIST = struct.Struct("!Bi")
_BIN_MAP = struct.Struct("!BBi")

_BOOL, _STR, _STRUCT, _MAP, _SET, _LIST = (
    TType.BOOL, TType.STRING, TType.STRUCT, TType.MAP, TType.SET, TType.LIST)

# Bytes a value of each type takes when that is fixed (0: variable). In the compact protocol the
# integers are varints and so variable.
_BIN_FIXED: dict[int, int] = {int(t): 0 for t in TType}
_BIN_FIXED.update({TType.BOOL: 1, TType.BYTE: 1, TType.DOUBLE: 8, TType.I16: 2, TType.I32: 4, TType.I64: 8,
                   TType.UUID: 16})
_CPT_FIXED: dict[int, int] = {int(t): 0 for t in TType}
_CPT_FIXED.update({TType.BOOL: 1, TType.BYTE: 1, TType.DOUBLE: 8, TType.UUID: 16})
_BIN_MIN: dict[int, int] = {t: max(size, 1) for t, size in _BIN_FIXED.items()} | {
    _STR: 4, _MAP: 6, _SET: 5, _LIST: 5}
_CPT_MIN: dict[int, int] = {t: max(size, 1) for t, size in _CPT_FIXED.items()}
_VARINTS = frozenset({TType.I16, TType.I32, TType.I64})
_CPT_TTYPE: tuple[TType | None, ...] = (
    None, _BOOL, _BOOL, TType.BYTE, TType.I16, TType.I32, TType.I64, TType.DOUBLE, _STR, _LIST, _SET, _MAP,
    _STRUCT, TType.UUID, None, None,
)


class _NeedData(Exception):
    """The buffer ends inside the current step (internal: ``run`` returns None)."""


_NEED = _NeedData()


def _varint(buf: bytes | bytearray, pos: int, n: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(pos, min(n, pos + 10)):  # at most ten bytes: the only per-byte loop here
        b = buf[i]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i + 1
        shift += 7
    if n - pos >= 10:
        raise invalid("a varint longer than ten bytes")
    raise _NEED


class Skipper:
    """Walks one value of type ``ttype`` (a struct unless said) starting at ``pos``.

    ``run(buf)`` returns the offset where the value ends, or None if ``buf`` ends first; call it
    again with the same buffer, grown at its end.
    Raises ``RemoteProtocolError`` for bytes that cannot be a value; after that, do not call again.
    """

    __slots__ = ("_binary", "_lim", "_limit_end", "_max_depth", "_stack", "pos")

    def __init__(self, protocol: Protocol, pos: int, limits: Limits, limit_end: int,
                 ttype: TType = TType.STRUCT) -> None:
        self.pos = pos
        self._binary = protocol is Protocol.BINARY
        self._lim = limits
        self._limit_end = limit_end
        self._max_depth = limits.max_depth
        if ttype is TType.STRUCT:
            self._stack: list[list[int]] = [[_STRUCT_FRAME, 0, 0, 0]]
        else:  # one value alone: a list of one element, without a header, one level deeper
            t = TTYPE_BY_ID[ttype] if 0 <= ttype <= 0xFF else None
            if t is None:
                raise ValueError(f"{ttype} is not a value type")
            self._stack = [[_LIST_FRAME, t, 0, 1]]
            self._max_depth += 1

    def run(self, buf: bytes | bytearray) -> int | None:
        pos = self.pos
        stack = self._stack
        binary = self._binary
        fixed = _BIN_FIXED if binary else _CPT_FIXED
        n = len(buf)
        max_string = self._lim.max_string_size
        limit_end = self._limit_end
        ttype_by_id, string, struct_type = TTYPE_BY_ID, _STR, _STRUCT  # locals: read per field
        t: int
        try:
            while stack:
                top = stack[-1]
                code = top[0]
                if code == _STRUCT_FRAME:
                    if pos >= n:
                        raise _NEED
                    head = buf[pos]
                    if head == 0:
                        pos += 1
                        stack.pop()
                        continue
                    if binary:
                        field_type = ttype_by_id[head]
                        if field_type is None:
                            raise invalid(f"field type {head} is not a Thrift type")
                        vpos = pos + 3  # type byte and i16 id
                        if vpos > n:
                            raise _NEED
                    else:
                        ctype = head & 0x0F
                        vpos = pos + 1 if head >> 4 else _varint(buf, pos + 1, n)[1]
                        if ctype == 1 or ctype == 2:  # a bool field: no value byte
                            pos = vpos
                            continue
                        field_type = _CPT_TTYPE[ctype]
                        if field_type is None:
                            raise invalid(f"field type {ctype} is not a compact type")
                    t = field_type
                else:
                    left = top[3]
                    if left == 0:
                        stack.pop()
                        continue
                    vpos = pos
                    if code == _LIST_FRAME:
                        t = top[1]
                        size = fixed[t]
                        if size:  # as many whole elements as are here, in one step
                            k = min(left, (n - pos) // size)
                            if k == 0:
                                raise _NEED
                            pos += k * size
                            top[3] = left - k
                            continue
                        if t is string:  # as many whole strings as are here, in a tight loop
                            pos = self._strings(buf, pos, n, top)
                            if top[3]:
                                raise _NEED
                            continue
                    else:
                        t = top[1] if left % 2 == 0 else top[2]  # keys at even counts
                size = fixed[t]
                if size:
                    end = vpos + size
                    if end > n:
                        raise _NEED
                    if not binary and t is _BOOL and buf[vpos] > 2:
                        raise invalid(f"bool element {buf[vpos]} (compact true is 1, false 2)")
                    pos = end
                elif not binary and t in _VARINTS:  # compact integers, one-byte ones inline
                    if vpos >= n:
                        raise _NEED
                    pos = vpos + 1 if buf[vpos] < 0x80 else _varint(buf, vpos, n)[1]
                elif t is string:  # the commonest variable-size value, inline
                    if binary:
                        if vpos + 4 > n:
                            raise _NEED
                        length = _I32.unpack_from(buf, vpos)[0]
                        at = vpos + 4
                    else:
                        if vpos >= n:
                            raise _NEED
                        length = buf[vpos]
                        if length < 0x80:
                            at = vpos + 1
                        else:
                            length, at = _varint(buf, vpos, n)
                    end = at + length
                    if length < 0 or length > max_string or end > limit_end:
                        self._extent("string", length, max_string, at)  # raises
                    if end > n:
                        raise _NEED
                    pos = end
                elif t is struct_type:
                    self._push(stack, [_STRUCT_FRAME, 0, 0, 0])
                    pos = vpos
                elif binary:
                    pos = self._binary_value(buf, vpos, n, t, stack)
                else:
                    pos = self._compact_value(buf, vpos, n, t, stack)
                if code != _STRUCT_FRAME:
                    top[3] -= 1
        except _NeedData:
            self.pos = pos
            self._within(n)  # every byte buffered so far belongs to this unfinished value
            return None
        self.pos = pos
        return self._within(pos)

    def _strings(self, buf: bytes | bytearray, pos: int, n: int, frame: list[int]) -> int:
        """Skip the whole strings of a list ``frame`` that are in ``buf``; count them off it."""
        binary = self._binary
        max_string = self._lim.max_string_size
        left = frame[3]
        try:
            while left:
                if binary:
                    if pos + 4 > n:
                        break
                    length = _I32.unpack_from(buf, pos)[0]
                    at = pos + 4
                else:
                    if pos >= n:
                        break
                    length = buf[pos]
                    if length < 0x80:
                        at = pos + 1
                    else:
                        length, at = _varint(buf, pos, n)
                end = at + length
                if length < 0 or length > max_string or end > self._limit_end:
                    self._extent("string", length, max_string, at)  # raises
                if end > n:
                    break
                pos = end
                left -= 1
        except _NeedData:  # a length varint cut short
            pass
        frame[3] = left
        return pos

    def _push(self, stack: list[list[int]], frame: list[int]) -> None:
        if len(stack) >= self._max_depth:
            raise too_deep(self._lim.max_depth)
        stack.append(frame)

    def _extent(self, what: str, size: int, limit: int, start: int) -> int:
        """Check a declared ``size`` starting at ``start`` against ``limit``; return where it ends."""
        if size < 0:
            raise negative(what, size)
        if size > limit:
            raise too_large(what, size, limit)
        return self._within(start + size)

    def _within(self, end: int) -> int:
        """Refuse at once a message that would have to run to ``end``, past the frame limit."""
        if end > self._limit_end:
            limit = self._lim.max_frame_size
            raise too_large("message", end - (self._limit_end - limit), limit)
        return end

    def _container(self, stack: list[list[int]], frame: list[int], count: int, min_size: int,
                   at: int) -> None:
        if count < 0:
            raise negative("container", count)
        if count > self._lim.max_container_size:
            raise too_large("container", count, self._lim.max_container_size)
        self._within(at + count * min_size)
        self._push(stack, frame)

    def _binary_value(self, buf: bytes | bytearray, vpos: int, n: int, t: int,
                      stack: list[list[int]]) -> int:
        if t is _MAP:
            if vpos + 6 > n:
                raise _NEED
            kt, vt, count = _BIN_MAP.unpack_from(buf, vpos)
            ktype, vtype = TTYPE_BY_ID[kt], TTYPE_BY_ID[vt]
            if ktype is None or vtype is None:
                if not (count == 0 and kt == vt == 0):
                    raise invalid(f"map of types {kt} -> {vt}")
                ktype = vtype = _BOOL  # an empty map: the types are never used
            self._container(stack, [_MAP_FRAME, ktype, vtype, 2 * count], count,
                            _BIN_MIN[ktype] + _BIN_MIN[vtype], vpos + 6)
            return vpos + 6
        # LIST or SET
        if vpos + 5 > n:
            raise _NEED
        et, count = _BIN_LIST.unpack_from(buf, vpos)
        etype = TTYPE_BY_ID[et]
        if etype is None:
            raise invalid(f"element type {et} is not a Thrift type")
        self._container(stack, [_LIST_FRAME, etype, 0, count], count, _BIN_MIN[etype], vpos + 5)
        return vpos + 5

    def _compact_value(self, buf: bytes | bytearray, vpos: int, n: int, t: int,
                       stack: list[list[int]]) -> int:
        if t is _MAP:
            count, at = _varint(buf, vpos, n)
            if count == 0:
                return at
            if at >= n:
                raise _NEED
            types = buf[at]
            ktype, vtype = _CPT_TTYPE[types >> 4], _CPT_TTYPE[types & 0x0F]
            if ktype is None or vtype is None:
                raise invalid(f"map of compact types {types >> 4} -> {types & 0x0F}")
            self._container(stack, [_MAP_FRAME, ktype, vtype, 2 * count], count,
                            _CPT_MIN[ktype] + _CPT_MIN[vtype], at + 1)
            return at + 1
        # LIST or SET
        if vpos >= n:
            raise _NEED
        head = buf[vpos]
        count, at = head >> 4, vpos + 1
        if count == 15:
            count, at = _varint(buf, at, n)
        etype = _CPT_TTYPE[head & 0x0F]
        if etype is None:
            raise invalid(f"compact element type {head & 0x0F}")
        self._container(stack, [_LIST_FRAME, etype, 0, count], count, _CPT_MIN[etype], at)
        return at
