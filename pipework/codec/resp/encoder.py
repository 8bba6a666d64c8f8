"""RESP encoding: values in, bytes out.

Theory of operation: :func:`encode` walks a value and appends the wire form of each part to one
list, joined once at the end. It writes exactly the type each value names (see :mod:`.values`),
so ``encode(decode(b))`` gives back ``b`` for every canonical input. It refuses, with
LocalProtocolError, what the wire cannot carry: CR or LF in a simple string or error, integers
outside 64 bits, a verbatim format that is not three bytes, RESP3 types when ``protocol`` is 2, a
Push below the top level ("Push data may be interleaved with any protocol data, but always at the
top level"), and nesting deeper than ``max_depth``.

:func:`encode_command` is the fast path for what clients send, an array of bulk strings, without
building values first; :func:`~.inline.encode_inline` writes the inline form.
"""

from __future__ import annotations

import math
from typing import Final

from .errors import LocalProtocolError
from .values import (
    MAX_INTEGER,
    MIN_INTEGER,
    PROTOCOLS,
    RESP2,
    RESP3,
    RESP3_ONLY,
    Array,
    Attribute,
    BigNumber,
    Boolean,
    BulkError,
    BulkString,
    Double,
    Integer,
    Map,
    Null,
    Push,
    Set,
    SimpleError,
    SimpleString,
    Value,
    VerbatimString,
)

#: How deep ``encode`` nests before refusing; the decoder's default limit, so that what we write
#: our own decoder reads back. It also keeps the recursion far from Python's stack limit.
DEFAULT_MAX_ENCODE_DEPTH: Final = 32

_CRLF: Final = b"\r\n"
_NULLS: Final = {b"_": b"_\r\n", b"$": b"$-1\r\n", b"*": b"*-1\r\n"}


def encode(value: Value, protocol: int = RESP3, *, max_depth: int = DEFAULT_MAX_ENCODE_DEPTH) -> bytes:
    """The wire form of ``value``.

    ``protocol`` 2 refuses the RESP3-only types and RESP3's ``_`` null (RESP2 has only ``$-1``
    and ``*-1``). Raises LocalProtocolError for anything RESP cannot carry (see the module doc)
    and TypeError for an object that is not a RESP value.
    """
    if protocol not in PROTOCOLS:
        raise LocalProtocolError(f"protocol must be 2 or 3, not {protocol!r}")
    parts: list[bytes] = []
    _encode(value, parts, protocol, max_depth, True)
    return b"".join(parts)


def encode_command(*args: bytes | str | int | float) -> bytes:
    """A command as an array of bulk strings, the form Redis clients send; arguments converted
    as :func:`~.values.command` converts them."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            data = repr(arg).encode()
        else:
            raise TypeError(f"a command argument must be bytes, str, int or float, not {type(arg).__name__}")
        parts += (b"$%d\r\n" % len(data), data, _CRLF)
    return b"".join(parts)


def _line(kind: bytes, data: bytes, parts: list[bytes]) -> None:
    # RESP3 "Simple string": "Simple strings cannot contain the <CR> nor the <LF> characters inside."
    if b"\r" in data or b"\n" in data:
        raise LocalProtocolError(f"a {kind.decode()}-line cannot contain CR or LF: {data[:40]!r}")
    parts += (kind, data, _CRLF)


def _blob(kind: bytes, data: bytes, parts: list[bytes]) -> None:
    parts += (kind, b"%d\r\n" % len(data), data, _CRLF)


def _double(value: float) -> bytes:
    # RESP3 "Double": "," then an integral part, optional fraction, optional exponent, or "inf",
    # "-inf", "nan". ``repr`` writes exactly that ("1e+16", "0.1"), except for the spellings below.
    if math.isnan(value):
        return b"nan"
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    return repr(value).encode()


def _pairs(pairs: tuple[tuple[Value, Value], ...], parts: list[bytes], protocol: int, depth: int) -> None:
    for pair in pairs:
        if len(pair) != 2:
            raise LocalProtocolError(f"a map or attribute pair must have two values, not {len(pair)}")
        _encode(pair[0], parts, protocol, depth, False)
        _encode(pair[1], parts, protocol, depth, False)


def _encode(value: Value, parts: list[bytes], protocol: int, depth: int, top: bool) -> None:
    # Ordered by how often each type appears in real traffic.
    if isinstance(value, BulkString):
        parts += (b"$%d\r\n" % len(value.value), value.value, _CRLF)
    elif isinstance(value, Array):
        if depth <= 0:
            raise LocalProtocolError("value nested deeper than max_depth")
        parts.append(b"*%d\r\n" % len(value.items))
        for item in value.items:
            _encode(item, parts, protocol, depth - 1, False)
    elif isinstance(value, Integer):
        number = value.value
        if type(number) is not int or not MIN_INTEGER <= number <= MAX_INTEGER:
            raise LocalProtocolError(f"an Integer must be a signed 64-bit int (use BigNumber): {number!r}")
        parts.append(b":%d\r\n" % number)
    elif isinstance(value, SimpleString):
        _line(b"+", value.value, parts)
    elif isinstance(value, SimpleError):
        _line(b"-", value.value, parts)
    elif isinstance(value, Null):
        wire = _NULLS.get(value.marker)
        if wire is None:
            raise LocalProtocolError(f"Null marker must be b'_', b'$' or b'*', not {value.marker!r}")
        if protocol == RESP2 and value.marker == b"_":
            raise LocalProtocolError("RESP2 has no '_' null: use NULL_BULK_STRING or NULL_ARRAY")
        parts.append(wire)
    elif not isinstance(value, RESP3_ONLY):
        raise TypeError(f"not a RESP value: {value!r}")
    elif protocol == RESP2:
        raise LocalProtocolError(f"{type(value).__name__} does not exist in RESP2")
    else:
        _encode3(value, parts, protocol, depth, top)


def _encode3(value: Value, parts: list[bytes], protocol: int, depth: int, top: bool) -> None:
    if isinstance(value, Boolean):
        parts.append(b"#t\r\n" if value.value else b"#f\r\n")
    elif isinstance(value, Double):
        parts += (b",", _double(float(value.value)), _CRLF)
    elif isinstance(value, BigNumber):
        if type(value.value) is not int:
            raise LocalProtocolError(f"a BigNumber holds an int, not {value.value!r}")
        parts += (b"(", str(value.value).encode(), _CRLF)
    elif isinstance(value, BulkError):
        _blob(b"!", value.value, parts)
    elif isinstance(value, VerbatimString):
        # RESP3 "Verbatim string": "the first three bytes provide information about the format
        # ... The fourth byte is always ':'".
        if len(value.format) != 3 or b":" in value.format:
            raise LocalProtocolError(f"a verbatim format is three bytes without ':', not {value.format!r}")
        _blob(b"=", value.format + b":" + value.value, parts)
    elif depth <= 0:
        raise LocalProtocolError("value nested deeper than max_depth")
    elif isinstance(value, Map):
        parts.append(b"%%%d\r\n" % len(value.pairs))
        _pairs(value.pairs, parts, protocol, depth - 1)
    elif isinstance(value, (Set, Push)):
        if isinstance(value, Push) and not top:
            raise LocalProtocolError("RESP3: push data is always at the top level, never inside an aggregate")
        parts.append(b"%c%d\r\n" % (0x7E if isinstance(value, Set) else 0x3E, len(value.items)))
        for item in value.items:
            _encode(item, parts, protocol, depth - 1, False)
    else:  # Attribute, the last of RESP3_ONLY
        assert isinstance(value, Attribute)
        parts.append(b"|%d\r\n" % len(value.pairs))
        _pairs(value.pairs, parts, protocol, depth - 1)
        # The attribute informs the value after it, which stands where the attribute stands.
        _encode(value.value, parts, protocol, depth - 1, top)
