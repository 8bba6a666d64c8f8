"""The Hessian 2.0 decoder: octets in, Python values out.

Theory of operation: a :class:`Decoder` reads values one after another from ``buf[pos:end]``
and keeps the three reference maps of section 5 for the whole stream: the lists, maps and objects
read so far (for ``'Q'`` refs, section 5.1), the class definitions (5.2) and the type strings
(5.3). A protocol that puts several Hessian values in one body (Dubbo) reads them all with one
decoder, since later values may refer to earlier ones. Each value starts with a bytecode; a
256-entry table maps it to a reader function, the "switch statement on the initial octet" of
section 6. Containers are stored in the reference map before their contents are read, so a
value may refer to a list, map or object that encloses it.

Every read is bounded by ``end``: running past it raises :class:`TruncatedError`, anything that is
not Hessian raises :class:`RemoteProtocolError`, and the limits of :mod:`.wire` (depth, references,
class definitions, types) keep hostile input from costing more than its size. A count announced
before items (a fixed-length list, a class's fields) is checked against the octets left, so it
never makes the decoder loop or allocate beyond the data. After an error the decoder is spent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from . import wire as w
from .errors import RemoteProtocolError, TruncatedError
from .strings import join_surrogates, read_units
from .values import HessianObject, Long, TypedList, TypedMap

Buffer = bytes | bytearray
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_STRING_CODES: Final = frozenset((*range(0x00, 0x20), *range(0x30, 0x34), w.STRING_CHUNK, w.STRING_FINAL))
_INT_CODES: Final = frozenset((*range(0x80, 0xD8), w.INT))


class Decoder:
    """Reads Hessian 2.0 values from ``buf[pos:end]`` (``end`` defaults to the buffer's end).

    ``pos`` is public: after each :meth:`read` it is the offset of the next value. The ``max_*``
    arguments override the limits of :mod:`.wire` for this stream.
    """

    __slots__ = ("_classes", "_depth", "_max_classes", "_max_depth", "_max_refs", "_max_types", "_refs",
                 "_types", "buf", "end", "pos")

    def __init__(self, buf: Buffer | memoryview, pos: int = 0, end: int | None = None, *,
                 max_depth: int = w.DEFAULT_MAX_DEPTH, max_refs: int = w.DEFAULT_MAX_REFS,
                 max_classes: int = w.DEFAULT_MAX_CLASSES, max_types: int = w.DEFAULT_MAX_TYPES) -> None:
        self.buf: Buffer = bytes(buf) if isinstance(buf, memoryview) else buf
        self.pos = pos
        self.end = len(self.buf) if end is None else min(end, len(self.buf))
        self._refs: list[Any] = []
        self._classes: list[tuple[str, tuple[str, ...]]] = []
        self._types: list[str] = []
        self._depth = 0
        self._max_depth = max_depth
        self._max_refs = max_refs
        self._max_classes = max_classes
        self._max_types = max_types

    def at_end(self) -> bool:
        """True when every octet up to ``end`` has been read."""
        return self.pos >= self.end

    def read(self) -> Any:
        """The next value. Raises TruncatedError if the data ends inside it, RemoteProtocolError
        if it is not Hessian 2.0 or breaks a limit."""
        code = self._code()
        return _DISPATCH[code](self, code)

    def read_string(self) -> str | None:
        """The next value, which must be a string or null (what Java's ``readString`` accepts
        as a string, minus its conversions of numbers and booleans)."""
        code = self._code()
        if code <= w.STRING_DIRECT_MAX:
            return _string_direct(self, code)
        if code in _STRING_CODES:
            return _string(self, code)
        if code == w.NULL:
            return None
        raise RemoteProtocolError(f"expected a string, found bytecode 0x{code:02x} at {self.pos - 1}")

    def read_int(self) -> int:
        """The next value, which must be a Hessian int (any of its four forms)."""
        code = self._code()
        if code not in _INT_CODES:
            raise RemoteProtocolError(f"expected an int, found bytecode 0x{code:02x} at {self.pos - 1}")
        value: int = _DISPATCH[code](self, code)
        return value

    # --- helpers shared by the readers ---------------------------------------------------------

    def _code(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise TruncatedError(f"data ends at {pos} where a value should start")
        self.pos = pos + 1
        return self.buf[pos]

    def _take(self, n: int) -> int:
        """Advance over ``n`` octets and return where they start."""
        pos = self.pos
        if pos + n > self.end:
            raise TruncatedError(f"{n}-octet field at {pos} runs past the end of the data")
        self.pos = pos + n
        return pos

    def _count(self, n: int, what: str) -> int:
        """Check a count of items that take at least one octet each against the octets left."""
        if n < 0:
            raise RemoteProtocolError(f"negative {what} {n}")
        if n > self.end - self.pos:
            raise TruncatedError(f"{what} {n} exceeds the {self.end - self.pos} octets left")
        return n

    def _store(self, value: Any) -> None:
        if len(self._refs) >= self._max_refs:
            raise RemoteProtocolError(f"more than {self._max_refs} lists, maps and objects in one stream")
        self._refs.append(value)

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > self._max_depth:
            raise RemoteProtocolError(f"values nested deeper than {self._max_depth}")

    def _type(self) -> str:
        """A list's or map's type: a string (remembered) or an int naming an earlier one (4.13)."""
        code = self._code()
        if code in _STRING_CODES:
            name = _string(self, code)
            if len(self._types) >= self._max_types:
                raise RemoteProtocolError(f"more than {self._max_types} type strings in one stream")
            self._types.append(name)
            return name
        if code in _INT_CODES:
            ref = _DISPATCH[code](self, code)
            if not 0 <= ref < len(self._types):
                raise RemoteProtocolError(f"type reference {ref} but {len(self._types)} types defined")
            return self._types[ref]
        raise RemoteProtocolError(f"expected a type (string or int), found bytecode 0x{code:02x}")

    def _ended(self) -> bool:
        """Consume the 'Z' that ends a variable-length list or map, if it is next."""
        pos = self.pos
        if pos >= self.end:
            raise TruncatedError("data ends inside a list or map (no 'Z')")
        if self.buf[pos] == w.END:
            self.pos = pos + 1
            return True
        return False


Reader = Callable[[Decoder, int], Any]


def decode(data: Buffer | memoryview, **limits: int) -> Any:
    """The single Hessian value that ``data`` holds. Raises RemoteProtocolError (TruncatedError if
    the data stops short) when it is not exactly one valid value; ``limits`` as for Decoder."""
    d = Decoder(data, **limits)
    value = d.read()
    if not d.at_end():
        raise RemoteProtocolError(f"{d.end - d.pos} octets after the value")
    return value


# --- readers, one per bytecode range (section 6) -------------------------------------------------


def _const(value: Any) -> Reader:
    return lambda d, code: value


def _int_direct(d: Decoder, code: int) -> int:
    return code - w.INT_ZERO


def _int_byte(d: Decoder, code: int) -> int:
    return ((code - w.INT_BYTE_ZERO) << 8) + d.buf[d._take(1)]


def _int_short(d: Decoder, code: int) -> int:
    return ((code - w.INT_SHORT_ZERO) << 16) + int(w.U16.unpack_from(d.buf, d._take(2))[0])


def _int(d: Decoder, code: int) -> int:
    return int(w.I32.unpack_from(d.buf, d._take(4))[0])


def _long_direct(d: Decoder, code: int) -> Long:
    return Long(code - w.LONG_ZERO)


def _long_byte(d: Decoder, code: int) -> Long:
    return Long(((code - w.LONG_BYTE_ZERO) << 8) + d.buf[d._take(1)])


def _long_short(d: Decoder, code: int) -> Long:
    return Long(((code - w.LONG_BYTE3_ZERO) << 16) + w.U16.unpack_from(d.buf, d._take(2))[0])


def _long(d: Decoder, code: int) -> Long:
    if code == w.LONG_INT:
        return Long(w.I32.unpack_from(d.buf, d._take(4))[0])
    return Long(w.I64.unpack_from(d.buf, d._take(8))[0])


def _double(d: Decoder, code: int) -> float:
    buf = d.buf
    if code == w.DOUBLE:
        return float(w.F64.unpack_from(buf, d._take(8))[0])
    if code == w.DOUBLE_BYTE:
        return float(w.I8.unpack_from(buf, d._take(1))[0])
    if code == w.DOUBLE_SHORT:
        return float(w.I16.unpack_from(buf, d._take(2))[0])
    # Hessian2Input: "case BC_DOUBLE_MILL: return 0.001 * parseInt()" (see wire.py on the spec).
    return 0.001 * int(w.I32.unpack_from(buf, d._take(4))[0])


def _date(d: Decoder, code: int) -> datetime:
    if code == w.DATE_MILLIS:
        millis = w.I64.unpack_from(d.buf, d._take(8))[0]
    else:
        millis = w.I32.unpack_from(d.buf, d._take(4))[0] * 60_000
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        raise RemoteProtocolError(f"date {millis} ms from the epoch is outside years 1-9999") from None


def _string_direct(d: Decoder, code: int) -> str:
    """x00-x1f: the common short string, read without the chunk loop when it is ASCII."""
    pos = d.pos
    stop = pos + code
    if stop <= d.end:
        raw = d.buf[pos:stop]
        if raw.isascii():
            d.pos = stop
            return raw.decode("ascii")
    return _string(d, code)


def _string(d: Decoder, code: int) -> str:
    buf, parts, surrogates = d.buf, [], False
    while True:
        if code <= w.STRING_DIRECT_MAX:
            units = code
        elif w.STRING_SHORT <= code <= w.STRING_SHORT + 3:
            units = ((code - w.STRING_SHORT) << 8) + buf[d._take(1)]
        elif code == w.STRING_CHUNK or code == w.STRING_FINAL:
            units = w.U16.unpack_from(buf, d._take(2))[0]
        else:
            raise RemoteProtocolError(f"expected a string chunk, found bytecode 0x{code:02x}")
        text, d.pos, flagged = read_units(buf, d.pos, d.end, units)
        surrogates |= flagged
        if code != w.STRING_CHUNK:
            break
        parts.append(text)
        code = d._code()
    if parts:
        parts.append(text)
        text = "".join(parts)
    return join_surrogates(text) if surrogates else text


def _binary(d: Decoder, code: int) -> bytes:
    buf, parts = d.buf, []
    while True:
        if w.BINARY_DIRECT <= code <= w.BINARY_DIRECT + w.BINARY_DIRECT_MAX:
            size = code - w.BINARY_DIRECT
        elif w.BINARY_SHORT <= code <= w.BINARY_SHORT + 3:
            size = ((code - w.BINARY_SHORT) << 8) + buf[d._take(1)]
        elif code == w.BINARY_CHUNK or code == w.BINARY_FINAL:
            size = w.U16.unpack_from(buf, d._take(2))[0]
        else:
            raise RemoteProtocolError(f"expected a binary chunk, found bytecode 0x{code:02x}")
        start = d._take(size)
        parts.append(bytes(buf[start:start + size]))
        if code != w.BINARY_CHUNK:
            return parts[0] if len(parts) == 1 else b"".join(parts)
        code = d._code()


def _list(d: Decoder, code: int) -> list[Any]:
    if code >= w.LIST_DIRECT_UNTYPED:  # x78-x7f: untyped, 0-7 items
        items: list[Any] = []
        length: int | None = code - w.LIST_DIRECT_UNTYPED
    elif code >= w.LIST_DIRECT:  # x70-x77: typed, 0-7 items
        items = TypedList(d._type())
        length = code - w.LIST_DIRECT
    elif code == w.LIST_FIXED:
        items = TypedList(d._type())
        length = d.read_int()
    elif code == w.LIST_VARIABLE:
        items, length = TypedList(d._type()), None
    elif code == w.LIST_FIXED_UNTYPED:
        items, length = [], d.read_int()
    else:  # LIST_VARIABLE_UNTYPED
        items, length = [], None
    d._store(items)
    d._enter()
    read, append = d.read, items.append
    if length is None:
        while not d._ended():
            append(read())
    else:
        for _ in range(d._count(length, "list length")):
            append(read())
    d._depth -= 1
    return items


def _map(d: Decoder, code: int) -> dict[Any, Any]:
    result: dict[Any, Any] = {} if code == w.UNTYPED_MAP else TypedMap(d._type())
    d._store(result)
    d._enter()
    read = d.read
    while not d._ended():
        key = read()
        value = read()
        try:
            result[key] = value
        except TypeError:
            raise RemoteProtocolError(f"map key of unhashable type {type(key).__name__}") from None
    d._depth -= 1
    return result


def _class_def(d: Decoder, code: int) -> Any:
    # "value ::= class-def value": definitions precede the value that uses them; loop, not recurse.
    while code == w.CLASS_DEF:
        if len(d._classes) >= d._max_classes:
            raise RemoteProtocolError(f"more than {d._max_classes} class definitions in one stream")
        name = d.read_string()
        count = d._count(d.read_int(), "field count")
        if name is None or count > w.MAX_FIELDS:
            raise RemoteProtocolError(f"class definition with type {name!r:.80} and {count} fields")
        fields: dict[str, None] = {}
        for _ in range(count):
            field = d.read_string()
            if field is None or field in fields:
                raise RemoteProtocolError(f"class {name!r:.80}: null or repeated field {field!r:.80}")
            fields[field] = None
        d._classes.append((name, tuple(fields)))
        code = d._code()
    return _DISPATCH[code](d, code)


def _object(d: Decoder, code: int) -> HessianObject:
    ref = d.read_int() if code == w.OBJECT else code - w.OBJECT_DIRECT
    if not 0 <= ref < len(d._classes):
        raise RemoteProtocolError(f"object of class definition {ref} but {len(d._classes)} defined")
    name, fields = d._classes[ref]
    values: dict[str, Any] = {}
    obj = HessianObject(name, values)
    d._store(obj)
    d._enter()
    read = d.read
    for field in fields:
        values[field] = read()
    d._depth -= 1
    return obj


def _ref(d: Decoder, code: int) -> Any:
    ref = d.read_int()
    if not 0 <= ref < len(d._refs):
        raise RemoteProtocolError(f"reference {ref} but {len(d._refs)} lists, maps and objects read")
    return d._refs[ref]


def _invalid(d: Decoder, code: int) -> Any:
    what = "list/map terminator 'Z' outside a list or map" if code == w.END else "reserved bytecode"
    raise RemoteProtocolError(f"{what} 0x{code:02x} at {d.pos - 1}")


def _table() -> tuple[Reader, ...]:
    table: list[Reader] = [_invalid] * 256
    spans: list[tuple[int, int, Reader]] = [
        (0x00, 0x1F, _string_direct), (0x20, 0x2F, _binary), (0x30, 0x33, _string), (0x34, 0x37, _binary),
        (0x38, 0x3F, _long_short), (0x41, 0x42, _binary), (0x60, 0x6F, _object), (0x70, 0x7F, _list),
        (0x80, 0xBF, _int_direct), (0xC0, 0xCF, _int_byte), (0xD0, 0xD7, _int_short),
        (0xD8, 0xEF, _long_direct), (0xF0, 0xFF, _long_byte), (0x52, 0x53, _string),
        (0x55, 0x58, _list), (0x4A, 0x4B, _date),
    ]
    for first, last, reader in spans:
        table[first:last + 1] = [reader] * (last - first + 1)
    singles: dict[int, Reader] = {
        w.CLASS_DEF: _class_def, w.DOUBLE: _double, w.FALSE: _const(False), w.UNTYPED_MAP: _map,
        w.INT: _int, w.LONG: _long, w.TYPED_MAP: _map, w.NULL: _const(None), w.OBJECT: _object,
        w.REF: _ref, w.TRUE: _const(True), w.LONG_INT: _long, w.DOUBLE_ZERO: _const(0.0),
        w.DOUBLE_ONE: _const(1.0), w.DOUBLE_BYTE: _double, w.DOUBLE_SHORT: _double, w.DOUBLE_MILL: _double,
    }
    for code, reader in singles.items():
        table[code] = reader
    return tuple(table)


_DISPATCH: Final = _table()
