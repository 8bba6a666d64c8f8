"""RESP2 and RESP3 values as slotted, frozen dataclasses: one class per wire type.

Theory of operation: a decoded value keeps its wire type, so that what a proxy decodes it can
re-encode byte for byte (a simple string stays a simple string, a RESP2 null bulk string stays
``$-1``), and values are hashable, since RESP3 maps and sets may have any value as a key or
member. Payloads are ``bytes`` as on the wire: RESP strings are binary (only simple strings and
errors are "non binary safe" and may not hold CR or LF). Aggregates hold tuples; a ``Map`` keeps
its pairs in wire order, duplicates included (RESP3: "the protocol does not enforce that").

The types and their first byte (RESP3 spec, "RESP3 types"):

==================  ====  =======  ==================================================
class               byte  since    wire form
==================  ====  =======  ==================================================
SimpleString        ``+`` RESP2    ``+OK\\r\\n``
SimpleError         ``-`` RESP2    ``-ERR message\\r\\n``
Integer             ``:`` RESP2    ``:1234\\r\\n``, signed 64-bit
BulkString          ``$`` RESP2    ``$5\\r\\nhello\\r\\n``
Array               ``*`` RESP2    ``*2\\r\\n:1\\r\\n:2\\r\\n``
Null                ``_`` RESP3    ``_\\r\\n``; RESP2's ``$-1`` and ``*-1`` as NULL_BULK_STRING, NULL_ARRAY
Boolean             ``#`` RESP3    ``#t\\r\\n``
Double              ``,`` RESP3    ``,1.23\\r\\n``, ``,inf\\r\\n``, ``,nan\\r\\n``
BigNumber           ``(`` RESP3    ``(3492890328409238509324850943850943825024385\\r\\n``
BulkError           ``!`` RESP3    ``!21\\r\\nSYNTAX invalid syntax\\r\\n``
VerbatimString      ``=`` RESP3    ``=15\\r\\ntxt:Some string\\r\\n``
Map                 ``%`` RESP3    ``%1\\r\\n+key\\r\\n:1\\r\\n`` (the count is of pairs)
Set                 ``~`` RESP3    ``~2\\r\\n:1\\r\\n:2\\r\\n``
Attribute           ``|`` RESP3    ``|1\\r\\n+ttl\\r\\n:3600\\r\\n`` then the value it describes
Push                ``>`` RESP3    ``>3\\r\\n+message\\r\\n+chan\\r\\n+hi\\r\\n``
==================  ====  =======  ==================================================

An ``Attribute`` holds the value it describes, since RESP3 says it "will inform only the part of
the reply that immediately follows" and does not count as an element of the enclosing aggregate.
``InlineCommand`` is not a wire type but the other way a client may send a command: one line of
space-separated words (see :mod:`.inline`).

Doubles compare as floats, so ``Double(nan) != Double(nan)``, as in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

#: Number encodings that RESP fixes: "Valid numbers are in the range of the signed 64 bit
#: integer. Larger numbers should use the Big Number type instead" (RESP3, "Number").
MIN_INTEGER: Final = -(1 << 63)
MAX_INTEGER: Final = (1 << 63) - 1

RESP2: Final = 2
RESP3: Final = 3
PROTOCOLS: Final = frozenset({RESP2, RESP3})


@dataclass(slots=True, frozen=True)
class SimpleString:
    """``+<value>\\r\\n``: "Simple strings cannot contain the <CR> nor the <LF> characters"."""

    value: bytes


@dataclass(slots=True, frozen=True)
class SimpleError:
    """``-<value>\\r\\n``: like a simple string; the first word is the error code."""

    value: bytes

    @property
    def code(self) -> bytes:
        """The error code: "The first word in the error is in upper case" (``ERR``, ``WRONGTYPE``)."""
        return self.value.split(b" ", 1)[0]


@dataclass(slots=True, frozen=True)
class Integer:
    """``:<value>\\r\\n``, a signed 64-bit integer."""

    value: int


@dataclass(slots=True, frozen=True)
class BulkString:
    """``$<length>\\r\\n<value>\\r\\n``: binary-safe (RESP3 calls it "blob string")."""

    value: bytes


@dataclass(slots=True, frozen=True)
class Array:
    """``*<count>\\r\\n`` and ``count`` values."""

    items: tuple[Value, ...] = ()


@dataclass(slots=True, frozen=True)
class Null:
    """A null. ``marker`` is the first byte it is written with: ``_`` (RESP3's null), ``$``
    (RESP2's null bulk string ``$-1``) or ``*`` (RESP2's null array ``*-1``). Use the module's
    NULL, NULL_BULK_STRING and NULL_ARRAY."""

    marker: bytes = b"_"


NULL: Final = Null(b"_")
NULL_BULK_STRING: Final = Null(b"$")
NULL_ARRAY: Final = Null(b"*")


@dataclass(slots=True, frozen=True)
class Boolean:
    """``#t\\r\\n`` or ``#f\\r\\n``."""

    value: bool


@dataclass(slots=True, frozen=True)
class Double:
    """``,<number>\\r\\n``: a float, ``inf``, ``-inf`` or ``nan``."""

    value: float


@dataclass(slots=True, frozen=True)
class BigNumber:
    """``(<digits>\\r\\n``: an integer of any size ("they must not include a decimal part")."""

    value: int


@dataclass(slots=True, frozen=True)
class BulkError:
    """``!<length>\\r\\n<value>\\r\\n``: a binary-safe error; the first word is the code."""

    value: bytes

    @property
    def code(self) -> bytes:
        return self.value.split(b" ", 1)[0]


@dataclass(slots=True, frozen=True)
class VerbatimString:
    """``=<length>\\r\\n<format>:<value>\\r\\n``: "the first three bytes provide information
    about the format of the following string, which can be ``txt`` for plain text, or ``mkd``
    for markdown. The fourth byte is always ``:``"."""

    format: bytes
    value: bytes


@dataclass(slots=True, frozen=True)
class Map:
    """``%<pairs>\\r\\n`` and twice as many values, in wire order."""

    pairs: tuple[tuple[Value, Value], ...] = ()


@dataclass(slots=True, frozen=True)
class Set:
    """``~<count>\\r\\n`` and ``count`` values; duplicates are kept as sent."""

    items: tuple[Value, ...] = ()


@dataclass(slots=True, frozen=True)
class Attribute:
    """``|<pairs>\\r\\n``, the pairs, then ``value``: auxiliary data about that one value."""

    pairs: tuple[tuple[Value, Value], ...]
    value: Value


@dataclass(slots=True, frozen=True)
class Push:
    """``><count>\\r\\n``: out-of-band data; "the first element of the array is always a String
    item, representing the kind of push data". Only ever at the top level."""

    items: tuple[Value, ...] = ()

    @property
    def kind(self) -> bytes | None:
        """The push kind (``message``, ``invalidate``...), or None if the first item is no string."""
        first = self.items[0] if self.items else None
        return first.value if isinstance(first, (SimpleString, BulkString)) else None


@dataclass(slots=True, frozen=True)
class InlineCommand:
    """A command sent as one line of words (``PING\\r\\n``, ``SET k "a b"\\r\\n``)."""

    args: tuple[bytes, ...]


Value: TypeAlias = (
    SimpleString | SimpleError | Integer | BulkString | Array | Null | Boolean | Double | BigNumber
    | BulkError | VerbatimString | Map | Set | Attribute | Push
)
"""Any RESP value (an ``InlineCommand`` is not one: it exists only on the way into a server)."""

#: Types RESP2 does not have: an encoder or decoder limited to RESP2 refuses them.
RESP3_ONLY: Final = (Boolean, Double, BigNumber, BulkError, VerbatimString, Map, Set, Attribute, Push)


def command(*args: bytes | str | int | float) -> Array:
    """A command as clients send it: an array of bulk strings ("Clients send commands to a Redis
    server as an array of bulk strings", RESP2 spec). ``str`` is encoded as UTF-8, numbers in
    decimal (``repr`` for floats), as redis-py does."""
    items: list[Value] = []
    for arg in args:
        if isinstance(arg, bytes):
            items.append(BulkString(arg))
        elif isinstance(arg, str):
            items.append(BulkString(arg.encode()))
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            items.append(BulkString(repr(arg).encode()))
        else:
            raise TypeError(f"a command argument must be bytes, str, int or float, not {type(arg).__name__}")
    return Array(tuple(items))


def command_args(value: Value | InlineCommand) -> tuple[bytes, ...] | None:
    """The arguments of a command (name first), or None if ``value`` is not a command: an array
    of bulk strings or an inline command."""
    if isinstance(value, InlineCommand):
        return value.args
    if isinstance(value, Array):
        args = []
        for item in value.items:
            if type(item) is not BulkString:
                return None
            args.append(item.value)
        return tuple(args)
    return None
