"""What a Thrift message is made of, without an IDL: type ids, typed containers, messages, limits.

Theory of operation: a proxy has no IDL, so values keep the type the wire gave them. A struct is a
plain ``dict`` from field id to ``(TType, value)`` in wire order, so ``body[1]`` reads argument 1 of
a call and re-encoding writes the same fields in the same order. Scalars are Python values (``bool``,
``int``, ``float``, ``bytes`` for STRING, which Thrift also uses for ``binary``, ``uuid.UUID``);
lists, sets and maps are ``TList``/``TSet``/``TMap`` holding their element types and their items in
wire order (a list, not a Python set or dict: elements may be structs, which do not hash, and order
must survive a round trip). To send, a STRING may also be a ``str`` (written as UTF-8) and a
DOUBLE an ``int``; what is decoded is always ``bytes`` and ``float``.

``Limits`` bounds what a decoder accepts from a peer; each default says why it is what it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeAlias
from uuid import UUID


class TType(IntEnum):
    """Wire type ids (Apache Thrift ``TType``); the binary protocol writes them as they are."""

    STOP = 0  # ends a struct's fields; never a value
    VOID = 1  # never on the wire
    BOOL = 2
    BYTE = 3  # i8
    DOUBLE = 4
    I16 = 6
    I32 = 8
    I64 = 10
    STRING = 11  # string and binary
    STRUCT = 12
    MAP = 13
    SET = 14
    LIST = 15
    UUID = 16  # Thrift 0.19+


#: Type ids that a value may have; anything else on the wire is INVALID_DATA.
VALUE_TYPES = frozenset(t for t in TType if t not in (TType.STOP, TType.VOID))
#: Byte value -> TType for every valid value type, None elsewhere: one index instead of an enum call.
TTYPE_BY_ID: tuple[TType | None, ...] = tuple(
    TType(i) if i in VALUE_TYPES else None for i in range(256)
)


class MessageType(IntEnum):
    """The message types of a header (Apache Thrift ``TMessageType``)."""

    CALL = 1
    REPLY = 2
    EXCEPTION = 3  # the body is a TApplicationException
    ONEWAY = 4  # a call that gets no reply


MESSAGE_TYPE_BY_ID: dict[int, MessageType] = {int(m): m for m in MessageType}


class Protocol(IntEnum):
    """How values are laid out. BINARY reads both the strict (versioned) header and the old one."""

    BINARY = 1
    COMPACT = 2


class Transport(IntEnum):
    """How messages are delimited on a stream."""

    FRAMED = 1  # TFramedTransport: a 4-byte big-endian length before every message
    UNFRAMED = 2  # TBufferedTransport / raw socket: the end is found by parsing the message


#: Thrift's own default frame limit (``TConfiguration.DEFAULT_MAX_FRAME_SIZE`` in lib/java,
#: ``DEFAULT_MAX_FRAME_SIZE`` in lib/py): a decoder buffers a whole message before handing it out,
#: and the peer picks the length, so without a limit a 4-byte header could make us hold 2 GiB.
#: Using the same number means we refuse exactly what a stock Thrift server refuses.
DEFAULT_MAX_FRAME_SIZE = 16_384_000
#: ``TConfiguration.DEFAULT_RECURSION_DEPTH``. The decoder recurses once per nested struct or
#: container, so the limit also keeps a hostile message far from Python's recursion limit (1000).
DEFAULT_MAX_DEPTH = 64
#: Elements in one list, set or map. A declared count beyond the bytes left is refused before any
#: work; below that, every element still costs a Python object (a bool list element is one byte on
#: the wire and 8 bytes of pointer plus list growth here), so one 16 MB frame of tiny elements
#: could otherwise cost ~1 GiB of objects. Real argument lists are far shorter.
DEFAULT_MAX_CONTAINER_SIZE = 1_000_000
#: One string or binary value: as lib/py (``DEFAULT_STRING_LENGTH_LIMIT``), the frame limit.
DEFAULT_MAX_STRING_SIZE = DEFAULT_MAX_FRAME_SIZE
#: A method name. Names are identifiers ("Service:method" when multiplexed); a small limit also
#: turns a stream that is not Thrift (an old-style binary header whose "name length" is the ASCII
#: of "GET " or "POST") into a prompt SIZE_LIMIT instead of a wait for gigabytes.
DEFAULT_MAX_NAME_SIZE = 4096
#: The largest length a 4-byte signed size can carry, frames and strings alike.
MAX_SIZE = 0x7FFF_FFFF


@dataclass(frozen=True, slots=True)
class Limits:
    """What a decoder accepts from the peer; a value beyond raises ``RemoteProtocolError``.

    ``max_frame_size`` bounds a frame's length (framed) or a whole message (unframed);
    ``max_depth`` the nesting of structs and containers (the message's struct is depth 1);
    ``max_container_size`` the elements of one list, set or map (pairs for a map);
    ``max_string_size`` one string/binary; ``max_name_size`` the method name, in bytes.
    """

    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    max_depth: int = DEFAULT_MAX_DEPTH
    max_container_size: int = DEFAULT_MAX_CONTAINER_SIZE
    max_string_size: int = DEFAULT_MAX_STRING_SIZE
    max_name_size: int = DEFAULT_MAX_NAME_SIZE


DEFAULT_LIMITS = Limits()


@dataclass(slots=True)
class TList:
    """A list: its element type and its items in wire order."""

    etype: int
    items: list[Value] = field(default_factory=list)


@dataclass(slots=True)
class TSet(TList):
    """A set: like ``TList`` (a set of structs cannot be a Python set); never equal to a ``TList``."""


@dataclass(slots=True)
class TMap:
    """A map: key and value types and ``(key, value)`` pairs in wire order.

    An empty map in the compact protocol carries no types: they decode as ``TType.STOP``.
    """

    ktype: int
    vtype: int
    items: list[tuple[Value, Value]] = field(default_factory=list)

    def to_dict(self) -> dict[Value, Value]:
        """The pairs as a dict; ``TypeError`` if a key is a struct or container (unhashable)."""
        return dict(self.items)


Value: TypeAlias = "bool | int | float | bytes | str | UUID | Struct | TList | TSet | TMap"
Field: TypeAlias = "tuple[int, Value]"
#: A struct: field id -> (type id, value), in wire order.
Struct: TypeAlias = "dict[int, Field]"


def split_name(name: str) -> tuple[str | None, str]:
    """``(service, method)`` of a message name; TMultiplexedProtocol writes "Service:method"."""
    service, sep, method = name.partition(":")
    return (service, method) if sep else (None, name)


@dataclass(slots=True)  # not frozen: a frozen dataclass takes ~4x longer to build
class Header:
    """A message header as read by ``peek_header``; the body (a struct) starts at ``body_offset``."""

    name: str
    type: MessageType
    seqid: int
    body_offset: int


@dataclass(slots=True)
class Message:
    """One Thrift message: a call's arguments, a reply's result struct, or a TApplicationException.

    ``body`` is the struct after the header. For a CALL/ONEWAY its fields are the arguments by id;
    for a REPLY field 0 is the return value and others are the declared exceptions; for an EXCEPTION
    see ``ApplicationException.from_struct``.
    """

    name: str
    type: MessageType
    seqid: int
    body: Struct = field(default_factory=dict)

    def value(self, field_id: int, default: Value | None = None) -> Value | None:
        """The value of field ``field_id`` of the body (its type dropped), or ``default``."""
        got = self.body.get(field_id)
        return default if got is None else got[1]


@dataclass(slots=True)
class RawMessage:
    """A message as ``StreamDecoder.next_raw`` hands it out: its header and its bytes, frame length
    excluded, body not decoded (``decode_message(raw.data, protocol)`` does that)."""

    header: Header
    data: bytes
