"""The 16-octet Dubbo frame header, and peeking at it.

Theory of operation: every Dubbo message is one frame, a fixed header followed by a body of the
length the header gives (``ExchangeCodec``):

    0      2       3        4                12              16
    +------+-------+--------+-----------------+---------------+------------------+
    |dabb  | flags | status | request id (64) | body len (32) | body ...         |
    +------+-------+--------+-----------------+---------------+------------------+
    flags: 0x80 request, 0x40 two-way (a reply is expected), 0x20 event (heartbeat),
           low 5 bits: serialization id (2 = Hessian 2, the default)
    status: set in responses (20 OK, 40 BAD_REQUEST, ...); 0 in requests

All fields are big-endian; the request id and the body length are Java's signed ``long`` and
``int``. ``Header`` unpacks and packs them with one class-level ``struct.Struct``. The body length
is checked against the payload limit as soon as the header is in, before the body is buffered,
as Dubbo's ``checkPayload`` does: a peer cannot make us hold more than ``max_payload`` octets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final

from .errors import RemoteProtocolError, Status

MAGIC: Final = 0xDABB
HEADER_SIZE: Final = 16
FLAG_REQUEST: Final = 0x80
FLAG_TWO_WAY: Final = 0x40
FLAG_EVENT: Final = 0x20
SERIALIZATION_MASK: Final = 0x1F
#: Hessian 2, Dubbo's default serialization and the only one this codec decodes bodies of.
HESSIAN2: Final = 2
#: Dubbo's default ``payload``: bodies over 8 MiB are refused on both ends ("Data length too large").
DEFAULT_MAX_PAYLOAD: Final = 8 * 1024 * 1024
#: The largest body a header can announce (a signed 32-bit length).
MAX_BODY_LENGTH: Final = 0x7FFF_FFFF


@dataclass(frozen=True, slots=True)
class Header:
    """A frame header. ``status`` is meaningful for responses only; ``two_way`` for requests only."""

    STRUCT: ClassVar[struct.Struct] = struct.Struct(">HBBqi")  # magic, flags, status, id, length

    request_id: int
    body_length: int
    request: bool = True
    two_way: bool = True
    event: bool = False
    serialization: int = HESSIAN2
    status: int = 0

    @property
    def frame_size(self) -> int:
        """Header and body octets together."""
        return HEADER_SIZE + self.body_length

    @property
    def flags(self) -> int:
        flags = self.serialization & SERIALIZATION_MASK
        if self.request:
            flags |= FLAG_REQUEST
            if self.two_way:
                flags |= FLAG_TWO_WAY
        if self.event:
            flags |= FLAG_EVENT
        return flags

    def pack(self) -> bytes:
        """The 16 header octets (struct.error is the caller's bug: fields out of range)."""
        return self.STRUCT.pack(MAGIC, self.flags, self.status if not self.request else 0,
                                self.request_id, self.body_length)

    @classmethod
    def unpack_from(cls, buf: bytes | bytearray | memoryview, offset: int = 0) -> Header:
        """Parse the header at ``buf[offset:]`` (at least 16 octets). Raises RemoteProtocolError
        for a bad magic number or a negative body length; the payload limit is the caller's."""
        magic, flags, status, request_id, length = cls.STRUCT.unpack_from(buf, offset)
        request = bool(flags & FLAG_REQUEST)
        if magic != MAGIC:
            # A Dubbo port also speaks telnet ("ls", "invoke ..."); this codec does not.
            raise RemoteProtocolError(f"magic 0x{magic:04x} is not Dubbo's 0xdabb")
        if length < 0:
            raise RemoteProtocolError(f"negative body length {length}",
                                      Status.BAD_REQUEST if request else Status.BAD_RESPONSE)
        return cls(request_id, length, request, request and bool(flags & FLAG_TWO_WAY),
                   bool(flags & FLAG_EVENT), flags & SERIALIZATION_MASK, status)


def check_magic(buf: bytes | bytearray | memoryview, offset: int = 0) -> None:
    """Raise RemoteProtocolError as soon as the octets at ``offset`` cannot start a Dubbo frame,
    even before a whole header is in (so a stray client fails fast, not after 16 octets)."""
    available = len(buf) - offset
    if (available >= 1 and buf[offset] != MAGIC >> 8) or (available >= 2 and buf[offset + 1] != MAGIC & 0xFF):
        raise RemoteProtocolError("not a Dubbo frame: the magic number 0xdabb is missing")


def peek_header(buf: bytes | bytearray | memoryview) -> Header | None:
    """The header at the front of ``buf``, or None while fewer than 16 octets are in.

    Raises RemoteProtocolError for a bad magic number (checked from the first octet) or a
    negative body length. Does not check the payload limit: ``decode`` and the stream decoder do.
    """
    check_magic(buf)
    if len(buf) < HEADER_SIZE:
        return None
    return Header.unpack_from(buf)
