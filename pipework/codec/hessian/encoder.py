"""The Hessian 2.0 encoder: Python values in, octets out, in the compact forms Java's writer picks.

Theory of operation: an :class:`Encoder` appends values to one ``bytearray`` and keeps, for the
whole stream, the same three maps a decoder rebuilds (section 5): the lists, maps and objects
written so far (by identity, so a shared or circular structure is written once and then as a
``'Q'`` ref), the class definitions written (one ``'C'`` per distinct type name and field names)
and the type strings (a repeated type becomes an int reference, section 4.14).

Of the several encodings of a value the encoder always picks the one Caucho's ``Hessian2Output``
picks, so a message re-encoded here matches what a Java peer sends: the smallest int or long form;
doubles as 0.0, 1.0, byte, short, thousandths ("mills") or full; dates in minutes when they fall on
a minute; strings and binaries in one octet, two octets or 'S'/'B' up to 0x8000, chunked beyond;
fixed-length lists, compact up to 7 items; ``'H'`` for a dict and ``'M'`` for a TypedMap. Two
deliberate departures: -0.0 is written in full (Java's ``writeDouble`` loses its sign), and
binary chunks are 0x8000 octets (Java's depend on its buffer).

Which Python type becomes which Hessian type: None, bool, int (an int of 32 bits, else a long;
:class:`Long` is always a long), float (double), str (string), bytes/bytearray/memoryview
(binary), aware datetime (date), list/tuple (list; :class:`TypedList` keeps its type), dict (map;
:class:`TypedMap` keeps its type), :class:`HessianObject` (object). Anything else raises
``LocalProtocolError``, as do ints past 64 bits, naive datetimes, lone surrogates and nesting past
the depth limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from . import wire as w
from .errors import LocalProtocolError
from .strings import CHUNK_UNITS, chunk_end, to_units
from .values import HessianObject, Long, TypedList, TypedMap

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND: Final = timedelta(milliseconds=1)
_SMALL_INTS: Final = tuple(bytes((w.INT_ZERO + i,)) for i in range(w.INT_DIRECT_MIN, w.INT_DIRECT_MAX + 1))


class Encoder:
    """Writes Hessian 2.0 values to one stream; :meth:`getvalue` returns the octets so far."""

    __slots__ = ("_classes", "_depth", "_max_depth", "_out", "_refs", "_types")

    def __init__(self, *, max_depth: int = w.DEFAULT_MAX_DEPTH) -> None:
        self._out = bytearray()
        self._refs: dict[int, tuple[int, object]] = {}  # id -> (ref number, the object kept alive)
        self._classes: dict[tuple[str, tuple[str, ...]], int] = {}
        self._types: dict[str, int] = {}
        self._depth = 0
        self._max_depth = max_depth

    def getvalue(self) -> bytes:
        """Everything written so far."""
        return bytes(self._out)

    def write(self, value: Any) -> None:
        """Append ``value``. Raises LocalProtocolError if Hessian cannot carry it (see the module)."""
        writer = _WRITERS.get(type(value))
        if writer is None:
            writer = _fallback(value)
        writer(self, value)

    def write_string(self, value: str | None) -> None:
        """Append a string, or null for None (Dubbo's ``writeUTF``); LocalProtocolError otherwise."""
        if value is None:
            self._out.append(w.NULL)
        elif isinstance(value, str):
            _write_str(self, value)
        else:
            raise LocalProtocolError(f"expected a string or None, not {type(value).__name__}")

    def write_int(self, value: int) -> None:
        """Append ``value`` as a Hessian int (32 bits), whatever its Python type."""
        if not w.INT32_MIN <= value <= w.INT32_MAX:
            raise LocalProtocolError(f"{value} does not fit a 32-bit Hessian int")
        _write_int32(self._out, int(value))

    # --- containers ----------------------------------------------------------------------------

    def _shared(self, value: object) -> bool:
        """Write a ref if ``value`` was written before; else number it (5.1) and return False."""
        known = self._refs.get(id(value))
        if known is not None:
            self._out.append(w.REF)
            _write_int32(self._out, known[0])
            return True
        self._refs[id(value)] = (len(self._refs), value)
        return False

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > self._max_depth:
            raise LocalProtocolError(f"value nested deeper than {self._max_depth}")

    def _type(self, name: str) -> None:
        ref = self._types.get(name)
        if ref is None:
            self._types[name] = len(self._types)
            _write_str(self, name)
        else:
            _write_int32(self._out, ref)


def encode(value: Any) -> bytes:
    """``value`` as one Hessian 2.0 value; LocalProtocolError if Hessian cannot carry it."""
    enc = Encoder()
    enc.write(value)
    return enc.getvalue()


Writer = Callable[[Encoder, Any], None]


def _write_int32(out: bytearray, value: int) -> None:
    if w.INT_DIRECT_MIN <= value <= w.INT_DIRECT_MAX:
        out += _SMALL_INTS[value - w.INT_DIRECT_MIN]
    elif w.INT_BYTE_MIN <= value <= w.INT_BYTE_MAX:
        out += bytes((w.INT_BYTE_ZERO + (value >> 8), value & 0xFF))
    elif w.INT_SHORT_MIN <= value <= w.INT_SHORT_MAX:
        out += bytes((w.INT_SHORT_ZERO + (value >> 16), (value >> 8) & 0xFF, value & 0xFF))
    else:
        out.append(w.INT)
        out += w.I32.pack(value)


def _write_long(out: bytearray, value: int) -> None:
    if w.LONG_DIRECT_MIN <= value <= w.LONG_DIRECT_MAX:
        out.append(w.LONG_ZERO + value)
    elif w.INT_BYTE_MIN <= value <= w.INT_BYTE_MAX:
        out += bytes((w.LONG_BYTE_ZERO + (value >> 8), value & 0xFF))
    elif w.INT_SHORT_MIN <= value <= w.INT_SHORT_MAX:
        out += bytes((w.LONG_BYTE3_ZERO + (value >> 16), (value >> 8) & 0xFF, value & 0xFF))
    elif w.INT32_MIN <= value <= w.INT32_MAX:
        out.append(w.LONG_INT)
        out += w.I32.pack(value)
    elif w.INT64_MIN <= value <= w.INT64_MAX:
        out.append(w.LONG)
        out += w.I64.pack(value)
    else:
        raise LocalProtocolError(f"{value} does not fit a 64-bit Hessian long")


def _write_integer(enc: Encoder, value: int) -> None:
    value = int(value)
    if w.INT32_MIN <= value <= w.INT32_MAX:
        _write_int32(enc._out, value)
    else:
        _write_long(enc._out, value)


def _write_long_value(enc: Encoder, value: int) -> None:
    _write_long(enc._out, int(value))


def _write_bool(enc: Encoder, value: bool) -> None:
    enc._out.append(w.TRUE if value else w.FALSE)


def _write_none(enc: Encoder, value: None) -> None:
    enc._out.append(w.NULL)


def _write_float(enc: Encoder, value: float) -> None:
    out, value = enc._out, float(value)
    # Hessian2Output.writeDouble: "int intValue = (int) value; if (intValue == value) ...".
    if value.is_integer() and w.INT32_MIN <= value <= w.INT32_MAX:
        iv = int(value)
        if iv == 0 and math.copysign(1.0, value) < 0:
            out.append(w.DOUBLE)  # -0.0: keep the sign (Java would write x5b, i.e. +0.0)
            out += w.F64.pack(value)
            return
        if iv == 0:
            out.append(w.DOUBLE_ZERO)
            return
        if iv == 1:
            out.append(w.DOUBLE_ONE)
            return
        if -0x80 <= iv < 0x80:
            out += bytes((w.DOUBLE_BYTE, iv & 0xFF))
            return
        if -0x8000 <= iv < 0x8000:
            out.append(w.DOUBLE_SHORT)
            out += w.I16.pack(iv)
            return
    # "int mills = (int) (value * 1000); if (0.001 * mills == value)": Java's cast truncates; out
    # of range it saturates, which can never compare equal, so out of range is simply skipped.
    scaled = value * 1000.0
    if w.INT32_MIN <= scaled <= w.INT32_MAX:
        mills = int(scaled)
        if 0.001 * mills == value:
            out.append(w.DOUBLE_MILL)
            out += w.I32.pack(mills)
            return
    out.append(w.DOUBLE)
    out += w.F64.pack(value)


def _write_str(enc: Encoder, value: str) -> None:
    if value.isascii():
        _write_units(enc._out, value, value.encode("ascii"))
    else:
        _write_units(enc._out, to_units(value), None)


def _write_units(out: bytearray, units: str, ascii_data: bytes | None) -> None:
    """Write ``units`` (a str whose characters are UTF-16 units); ``ascii_data`` is its encoding
    when it is ASCII, so that chunks slice octets instead of re-encoding."""
    n, start = len(units), 0
    while n - start > CHUNK_UNITS:
        stop = start + CHUNK_UNITS if ascii_data is not None else chunk_end(units, start)
        out.append(w.STRING_CHUNK)
        out += w.U16.pack(stop - start)
        out += (ascii_data[start:stop] if ascii_data is not None
                else units[start:stop].encode("utf-8", "surrogatepass"))
        start = stop
    rest = n - start
    if rest <= w.STRING_DIRECT_MAX:
        out.append(rest)
    elif rest <= w.STRING_SHORT_MAX:
        out += bytes((w.STRING_SHORT + (rest >> 8), rest & 0xFF))
    else:
        out.append(w.STRING_FINAL)
        out += w.U16.pack(rest)
    if ascii_data is not None:
        out += ascii_data[start:] if start else ascii_data
    else:
        out += units[start:].encode("utf-8", "surrogatepass")


def _write_bytes(enc: Encoder, value: bytes | bytearray | memoryview) -> None:
    out, data = enc._out, bytes(value)
    n, start = len(data), 0
    while n - start > CHUNK_UNITS:
        out.append(w.BINARY_CHUNK)
        out += w.U16.pack(CHUNK_UNITS)
        out += data[start:start + CHUNK_UNITS]
        start += CHUNK_UNITS
    rest = n - start
    if rest <= w.BINARY_DIRECT_MAX:
        out.append(w.BINARY_DIRECT + rest)
    elif rest <= w.BINARY_SHORT_MAX:
        out += bytes((w.BINARY_SHORT + (rest >> 8), rest & 0xFF))
    else:
        out.append(w.BINARY_FINAL)
        out += w.U16.pack(rest)
    out += data[start:] if start else data


def _write_date(enc: Encoder, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise LocalProtocolError("a naive datetime has no instant: give it a tzinfo (Hessian dates are UTC)")
    millis = (value - _EPOCH) // _MILLISECOND
    out = enc._out
    if millis % 60_000 == 0 and w.INT32_MIN <= millis // 60_000 <= w.INT32_MAX:
        out.append(w.DATE_MINUTES)
        out += w.I32.pack(millis // 60_000)
    else:
        out.append(w.DATE_MILLIS)
        out += w.I64.pack(millis)


def _write_list(enc: Encoder, value: list[Any] | tuple[Any, ...]) -> None:
    if type(value) is not tuple and enc._shared(value):
        return
    out, n = enc._out, len(value)
    type_name = value.type_name if isinstance(value, TypedList) else None
    if type_name is None:
        if n <= w.LIST_DIRECT_MAX:
            out.append(w.LIST_DIRECT_UNTYPED + n)
        else:
            out.append(w.LIST_FIXED_UNTYPED)
            _write_int32(out, n)
    elif n <= w.LIST_DIRECT_MAX:
        out.append(w.LIST_DIRECT + n)
        enc._type(type_name)
    else:
        out.append(w.LIST_FIXED)
        enc._type(type_name)
        _write_int32(out, n)
    enc._enter()
    write = enc.write
    for item in value:
        write(item)
    enc._depth -= 1


def _write_map(enc: Encoder, value: dict[Any, Any]) -> None:
    if enc._shared(value):
        return
    if isinstance(value, TypedMap):
        enc._out.append(w.TYPED_MAP)
        enc._type(value.type_name)
    else:
        enc._out.append(w.UNTYPED_MAP)
    enc._enter()
    write = enc.write
    for key, item in value.items():
        write(key)
        write(item)
    enc._depth -= 1
    enc._out.append(w.END)


def _write_object(enc: Encoder, value: HessianObject) -> None:
    if enc._shared(value):
        return
    out, names = enc._out, tuple(value.fields)
    key = (value.type_name, names)
    ref = enc._classes.get(key)
    if ref is None:
        ref = enc._classes[key] = len(enc._classes)
        out.append(w.CLASS_DEF)
        _write_str(enc, value.type_name)
        _write_int32(out, len(names))
        for name in names:
            _write_str(enc, name)
    if ref <= w.OBJECT_DIRECT_MAX:
        out.append(w.OBJECT_DIRECT + ref)
    else:
        out.append(w.OBJECT)
        _write_int32(out, ref)
    enc._enter()
    write = enc.write
    for item in value.fields.values():
        write(item)
    enc._depth -= 1


_WRITERS: Final[dict[type, Writer]] = {
    type(None): _write_none, bool: _write_bool, int: _write_integer, Long: _write_long_value,
    float: _write_float, str: _write_str, bytes: _write_bytes, bytearray: _write_bytes,
    memoryview: _write_bytes, datetime: _write_date, list: _write_list, tuple: _write_list,
    TypedList: _write_list, dict: _write_map, TypedMap: _write_map, HessianObject: _write_object,
}


def _fallback(value: Any) -> Writer:
    """The writer for a subclass of a supported type (an IntEnum, a dict subclass...)."""
    for kind in (bool, Long, int, float, str, bytes, bytearray, datetime, TypedList, list, tuple,
                 TypedMap, dict, HessianObject):
        if isinstance(value, kind):
            return _WRITERS[kind]
    raise LocalProtocolError(f"Hessian cannot encode a value of type {type(value).__name__}")
