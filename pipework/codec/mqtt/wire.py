"""MQTT's wire primitives: integers, Variable Byte Integers, UTF-8 strings, binary data, fixed header.

Theory of operation: a packet is a fixed header (one byte of type and flags, then the Remaining
Length as a Variable Byte Integer) followed by exactly Remaining Length bytes (§2.1). Once the
whole packet is buffered its body is parsed by a :class:`Reader` bounded by the packet's end, so
a field that runs past the end is a Malformed Packet, never a wait for more data: "incomplete"
exists only at the framing level (:func:`read_fixed_header`). Readers work on ``bytes`` or
``bytearray`` with an offset and never slice the buffer except to copy out a field's value.
Writers return ``bytes`` that the packet encoders join once.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Final

from .errors import LocalProtocolError, malformed, protocol_error

U16: Final = struct.Struct("!H")
U32: Final = struct.Struct("!I")

MQTT_3_1_1: Final = 4  # the Protocol Level byte of MQTT 3.1.1 (3.1.1 §3.1.2.2)
MQTT_5: Final = 5  # the Protocol Version byte of MQTT 5.0 (§3.1.2.2)
PROTOCOL_LEVELS: Final = frozenset({MQTT_3_1_1, MQTT_5})

# §1.5.5: a Variable Byte Integer has at most four bytes of seven bits each.
MAX_VARINT: Final = 268_435_455
# The largest packet MQTT can frame: type byte, four length bytes, 256 MiB of body (§2.1.4).
MAX_PACKET_SIZE: Final = 1 + 4 + MAX_VARINT
# The default ceiling on one packet, fixed header included (the measure of §3.1.2.11.4). MQTT
# frames packets up to 256 MiB, and a decoder buffers a whole packet before parsing it, so a
# peer could make us hold 256 MiB per connection just by announcing it. 1 MiB (EMQX's default)
# fits any control packet and ordinary IoT payloads; raise it per decoder for bulk transfers.
DEFAULT_MAX_PACKET_SIZE: Final = 1024 * 1024

MAX_UINT16: Final = 0xFFFF
MAX_UINT32: Final = 0xFFFF_FFFF

Buffer = bytes | bytearray

# CONNECT's variable header up to the properties: "MQTT" with its length, level, flags, keep alive.
CONNECT_HEAD: Final = struct.Struct("!H4sBBH")
PROTOCOL_NAME: Final = b"MQTT"


class PacketType(IntEnum):
    """MQTT Control Packet types (§2.1.2); 0 is reserved, AUTH exists only in MQTT 5.0."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15


PACKET_TYPES: Final[tuple[PacketType | None, ...]] = (None, *PacketType)


def check_level(protocol_level: int) -> None:
    if protocol_level not in PROTOCOL_LEVELS:
        raise LocalProtocolError(f"protocol level must be 4 (MQTT 3.1.1) or 5, not {protocol_level!r}")


def read_varint(buf: Buffer, pos: int, end: int) -> tuple[int, int] | None:
    """Decode the Variable Byte Integer at ``buf[pos:end]``: ``(value, next pos)``.

    Returns None when ``end`` comes before the last byte (the caller decides whether that means
    "wait for more" or "malformed"). Raises RemoteProtocolError (0x81) for a fifth byte or a
    non-minimal encoding: "The encoded value MUST use the minimum number of bytes necessary to
    represent the value" [MQTT-1.5.5-1]. MQTT 3.1.1 §2.2.3 states no such MUST but its encoding
    algorithm never produces one; we reject it for both levels so that every length has one
    spelling and a re-encoded packet frames identically.
    """
    # A loop over at most four bytes: the one per-byte loop the codec allows itself.
    value = 0
    shift = 0
    for i in range(pos, min(end, pos + 4)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and i != pos:
                raise malformed("non-minimal Variable Byte Integer [MQTT-1.5.5-1]")
            return value, i + 1
        shift += 7
    if end - pos >= 4:
        raise malformed("Variable Byte Integer longer than four bytes (§1.5.5)")
    return None


_SMALL_VARINTS: Final = tuple(bytes((i,)) for i in range(128))


def encode_varint(value: int) -> bytes:
    """The minimal Variable Byte Integer for ``value``; LocalProtocolError outside 0..268,435,455."""
    if 0 <= value < 128:
        return _SMALL_VARINTS[value]
    if not 0 <= value <= MAX_VARINT:
        raise LocalProtocolError(f"{value} does not fit a Variable Byte Integer (§1.5.5)")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_fixed_header(buf: Buffer, pos: int = 0) -> tuple[int, int, int] | None:
    """Parse the fixed header at ``buf[pos:]``: ``(first byte, Remaining Length, body offset)``.

    None while the header itself is incomplete. The first byte is returned unchecked.
    """
    n = len(buf)
    if n - pos < 2:
        return None
    length = buf[pos + 1]
    if length < 0x80:  # the common case: a body shorter than 128 bytes
        return buf[pos], length, pos + 2
    if n - pos > 2 and 0 < buf[pos + 2] < 0x80:  # the next: shorter than 16 KiB (0: non-minimal)
        return buf[pos], (length & 0x7F) | (buf[pos + 2] << 7), pos + 3
    got = read_varint(buf, pos + 1, n)
    if got is None:
        return None
    return buf[pos], got[0], got[1]


def copy_out(buf: Buffer, start: int, end: int) -> bytes:
    """``bytes(buf[start:end])`` with one copy whether ``buf`` is bytes or bytearray."""
    if type(buf) is bytes:
        return buf[start:end]
    return bytes(memoryview(buf)[start:end])


class Reader:
    """Reads the fields of one packet body, ``buf[pos:end]``; running past ``end`` is malformed."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: Buffer, pos: int, end: int) -> None:
        self.buf = buf
        self.pos = pos
        self.end = end

    def remaining(self) -> int:
        return self.end - self.pos

    def _advance(self, n: int) -> int:
        pos = self.pos
        if pos + n > self.end:
            raise malformed("packet shorter than its fields (Remaining Length too small)")
        self.pos = pos + n
        return pos

    def u8(self) -> int:
        return self.buf[self._advance(1)]

    def u16(self) -> int:
        return int(U16.unpack_from(self.buf, self._advance(2))[0])

    def u32(self) -> int:
        return int(U32.unpack_from(self.buf, self._advance(4))[0])

    def varint(self) -> int:
        got = read_varint(self.buf, self.pos, self.end)
        if got is None:
            raise malformed("Variable Byte Integer runs past the end of the packet")
        self.pos = got[1]
        return got[0]

    def utf8(self) -> str:
        """A UTF-8 Encoded String (§1.5.4): two length bytes, then well-formed UTF-8 without U+0000."""
        n = self.u16()
        start = self._advance(n)
        buf = self.buf
        if buf.find(b"\x00", start, start + n) >= 0:
            raise malformed("UTF-8 string contains U+0000 [MQTT-1.5.4-2]")
        try:
            # Python's strict decoder rejects overlong forms and the surrogates U+D800..U+DFFF
            # that [MQTT-1.5.4-1] forbids, and keeps a BOM as U+FEFF as [MQTT-1.5.4-3] requires.
            return str(buf[start:start + n], "utf-8")
        except UnicodeDecodeError as exc:
            raise malformed(f"UTF-8 string is not well-formed UTF-8 [MQTT-1.5.4-1]: {exc.reason}") from None

    def binary(self) -> bytes:
        """Binary Data (§1.5.6): two length bytes, then that many bytes."""
        n = self.u16()
        start = self._advance(n)
        return copy_out(self.buf, start, start + n)

    def rest(self) -> bytes:
        """All bytes up to the end of the packet (a PUBLISH payload, SUBACK codes)."""
        start = self.pos
        self.pos = self.end
        return copy_out(self.buf, start, self.end)

    def finish(self, what: str) -> None:
        """Raise unless every byte of the body was consumed."""
        if self.pos != self.end:
            raise malformed(f"{self.end - self.pos} unexpected bytes at the end of {what}")


def encode_utf8(value: str) -> bytes:
    """Length-prefixed UTF-8 (§1.5.4); LocalProtocolError for U+0000, lone surrogates, > 65,535 bytes."""
    if "\x00" in value:
        raise LocalProtocolError("UTF-8 string contains U+0000 [MQTT-1.5.4-2]")
    try:
        data = value.encode()  # strict UTF-8
    except UnicodeEncodeError:
        raise LocalProtocolError("string holds a lone surrogate [MQTT-1.5.4-1]") from None
    n = len(data)
    if n > MAX_UINT16:
        raise LocalProtocolError(f"UTF-8 string of {n} bytes exceeds 65,535 (§1.5.4)")
    return U16.pack(n) + data


def encode_binary(value: bytes) -> bytes:
    """Length-prefixed Binary Data (§1.5.6); LocalProtocolError over 65,535 bytes."""
    n = len(value)
    if n > MAX_UINT16:
        raise LocalProtocolError(f"binary data of {n} bytes exceeds 65,535 (§1.5.6)")
    return U16.pack(n) + (value if type(value) is bytes else bytes(value))


def read_packet_id(r: Reader) -> int:
    """A Packet Identifier: two bytes, never 0 [MQTT-2.2.1-3]."""
    value = r.u16()
    if value == 0:
        raise protocol_error("Packet Identifier is 0 [MQTT-2.2.1-3]")
    return value


def check_packet_id(value: int | None) -> int:
    """Return a valid Packet Identifier (1..65535) to encode, or raise LocalProtocolError."""
    if value is None or not 0 < value <= MAX_UINT16:
        raise LocalProtocolError(f"Packet Identifier must be 1..65535, not {value!r} [MQTT-2.2.1-3]")
    return value
