"""WebSocket frames (RFC 6455 5): the base framing, masking and the Close frame's body.

Theory of operation: a frame is two header bytes (FIN, RSV1-3, opcode; MASK bit, a 7-bit length),
an extended length of 2 or 8 bytes when the 7-bit one says 126 or 127, a 4-byte masking key when
MASK is set, then the payload (5.2). :func:`decode_frame` reads one frame at an offset of a buffer
and returns it with the bytes it used, or None while the frame is incomplete. Everything that can
be judged from the header is judged as soon as the header is in — a reserved opcode, RSV bits no
extension defined, a fragmented or oversized control frame, a mask on the wrong side, a length
not minimally encoded or over the limit — so a hostile length never makes us buffer its payload.
:func:`encode_frame` is the inverse: the header from a class-level ``struct.Struct`` and the
payload, masked when a key is given, joined once.

Masking (5.3) XORs the payload with the key repeated; it runs once over the whole payload as one
big-integer XOR, in C (:func:`mask`). What a frame *means* in the sequence of a connection (fragments, message
size across frames, compression, which side may send what) is the :class:`Connection`'s job; this
module sees one frame at a time. Payloads hold the unmasked application bytes.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from .errors import (
    CODE_BY_VALUE,
    CloseCode,
    LocalProtocolError,
    close_code_error,
    invalid_data,
    protocol_error,
    too_big,
)


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 5.2, 11.8); 0x3-0x7 and 0xB-0xF are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """Close, Ping and Pong: "identified by opcodes where the most significant bit of the
        opcode is 1" (5.5)."""
        return self.value >= 0x8


# Opcode by its four bits; None for the reserved values (faster than ``Opcode(value)``).
_OPCODES: Final[tuple[Opcode | None, ...]] = tuple(
    Opcode(i) if i in Opcode._value2member_map_ else None for i in range(16))

FIN: Final = 0x80
RSV1: Final = 0x40  # permessage-deflate's "Per-Message Compressed" bit (RFC 7692 6)
RSV2: Final = 0x20
RSV3: Final = 0x10
_RSV_BITS: Final = RSV1 | RSV2 | RSV3
_MASK_BIT: Final = 0x80

# "All control frames MUST have a payload length of 125 bytes or less" (5.5).
MAX_CONTROL_PAYLOAD: Final = 125
# The Close body holds a two-byte code, leaving 123 bytes for the UTF-8 reason (5.5.1).
MAX_CLOSE_REASON: Final = MAX_CONTROL_PAYLOAD - 2
# The default ceiling on one message (and so on one frame), in application bytes after
# decompression. RFC 6455 frames payloads up to 2**63 bytes and the codec buffers a frame whole
# and a message until its last fragment, so without a limit one peer could make us hold any amount
# just by announcing it. 1 MiB is the `websockets` library's default too; chat, RPC and telemetry
# messages fit with room to spare. Raise it per connection for bulk transfers.
DEFAULT_MAX_MESSAGE_SIZE: Final = 1 << 20

_H2: Final = struct.Struct("!BB")
_H4: Final = struct.Struct("!BBH")
_H10: Final = struct.Struct("!BBQ")
_U16: Final = struct.Struct("!H")
_U64: Final = struct.Struct("!Q")

Buffer = bytes | bytearray | memoryview


@dataclass(slots=True)
class Frame:
    """One frame. ``payload`` is unmasked; ``rsv1`` on a data frame means "compressed" when
    permessage-deflate was negotiated. Mutable and unhashable, like events."""

    opcode: Opcode
    payload: bytes = b""
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False


def mask(data: Buffer, key: Buffer) -> bytes:
    """``data`` XOR ``key`` repeated (RFC 6455 5.3); masking and unmasking are the same operation.

    Not a per-byte loop, which is 20-50 times slower (about 100-250 µs for a 1 KiB frame): read
    as two little-endian integers, the payload and the repeated key are XORed in C, and the
    conversions to and from ``int`` are C loops too (about 5 µs for 1 KiB, ~200-350 MB/s).
    """
    n = len(data)
    if n == 0:
        return b""
    keys = (bytes(key) * ((n >> 2) + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(keys, "little")).to_bytes(n, "little")


# How many masking keys one os.urandom call fetches: a getrandom syscall per frame would cost
# more than masking a small frame. 5.3 asks for keys "derived from a strong source of entropy"
# and unpredictable; batching keeps both.
_KEYS_PER_BATCH: Final = 256


class RandomMaskKeys:
    """A source of masking keys: ``keys()`` is 4 bytes from os.urandom, fetched in batches."""

    __slots__ = ("_pool", "_pos")

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def __call__(self) -> bytes:
        pos = self._pos
        if pos >= len(self._pool):
            self._pool = os.urandom(4 * _KEYS_PER_BATCH)
            pos = 0
        self._pos = pos + 4
        return self._pool[pos:pos + 4]


def _copy(buf: Buffer, start: int, end: int) -> bytes:
    """``bytes(buf[start:end])`` with one copy whether ``buf`` is bytes, bytearray or memoryview."""
    if type(buf) is bytes:
        return buf[start:end]
    return bytes(memoryview(buf)[start:end])


def decode_frame(buf: Buffer, pos: int = 0, *, mask_required: bool | None = None,
                 max_size: int = DEFAULT_MAX_MESSAGE_SIZE, rsv_allowed: int = 0) -> tuple[Frame, int] | None:
    """Decode the frame at ``buf[pos:]``: ``(frame, bytes consumed)``, or None while incomplete.

    ``mask_required``: True when the peer is a client (its frames MUST be masked), False when
    it is a server (they MUST NOT be), None to accept either (a tap). ``max_size``: the largest
    payload accepted. ``rsv_allowed``: the RSV bits (:data:`RSV1` …) a negotiated extension
    defines; others MUST be 0 (5.2).

    Raises RemoteProtocolError with close code 1002 for a frame RFC 6455 forbids, 1009 for one
    over ``max_size`` — both as soon as the header shows it, before the payload is in.
    """
    n = len(buf)
    if n - pos < 2:
        return None
    b0 = buf[pos]
    b1 = buf[pos + 1]
    opcode = _OPCODES[b0 & 0x0F]
    if opcode is None:
        raise protocol_error(f"reserved opcode {b0 & 0x0F:#x} (RFC 6455 5.2)")
    if b0 & _RSV_BITS & ~rsv_allowed:
        raise protocol_error(f"RSV bits {b0 & _RSV_BITS:#04x} set, but no negotiated extension defines "
                             "them (RFC 6455 5.2)")
    length = b1 & 0x7F
    if opcode >= 0x8:
        if not b0 & FIN:
            raise protocol_error(f"fragmented {opcode.name} frame: "
                                 "\"Control frames themselves MUST NOT be fragmented\" (5.5)")
        if length > MAX_CONTROL_PAYLOAD:
            raise protocol_error(f"{opcode.name} frame longer than 125 bytes (5.5)")
    masked = b1 & _MASK_BIT
    if mask_required is not None and bool(masked) is not mask_required:
        if mask_required:
            raise protocol_error("unmasked frame from a client: \"a client MUST mask all frames that "
                                 "it sends to the server\" (5.1)")
        raise protocol_error("masked frame from a server: \"A server MUST NOT mask any frames that it "
                             "sends to the client\" (5.1)")
    start = pos + 2
    if length == 126:
        if n - start < 2:
            return None
        length = _U16.unpack_from(buf, start)[0]
        start += 2
        if length < 126:
            raise protocol_error(f"length {length} in a 16-bit field: \"the minimal number of bytes "
                                 "MUST be used to encode the length\" (5.2)")
    elif length == 127:
        if n - start < 8:
            return None
        length = _U64.unpack_from(buf, start)[0]
        start += 8
        if length >> 63:
            raise protocol_error("64-bit length with its most significant bit set (5.2)")
        if length <= 0xFFFF:
            raise protocol_error(f"length {length} in a 64-bit field: \"the minimal number of bytes "
                                 "MUST be used to encode the length\" (5.2)")
    if length > max_size:
        raise too_big(f"frame payload of {length} bytes exceeds the limit of {max_size}")
    if masked:
        key_at = start
        start += 4
        end = start + length
        if end > n:
            return None
        payload = mask(memoryview(buf)[start:end], buf[key_at:start]) if length else b""
    else:
        end = start + length
        if end > n:
            return None
        payload = _copy(buf, start, end)
    frame = Frame(opcode, payload, bool(b0 & FIN), bool(b0 & RSV1), bool(b0 & RSV2), bool(b0 & RSV3))
    return frame, end - pos


def encode_frame(frame: Frame, mask_key: bytes | None = None) -> bytes:
    """The bytes of ``frame``, masked with the 4-byte ``mask_key`` when given (a client's frame).

    Raises LocalProtocolError for what RFC 6455 forbids a sender: an unknown opcode, a control
    frame over 125 bytes or fragmented (5.5), a key that is not 4 bytes (5.3). The length is
    always minimally encoded (5.2). Which RSV bits are legal is the caller's business.
    """
    opcode = frame.opcode
    payload = frame.payload
    n = len(payload)
    if opcode not in Opcode._value2member_map_:
        raise LocalProtocolError(f"no such opcode: {opcode!r} (RFC 6455 5.2)")
    b0 = int(opcode)
    if frame.fin:
        b0 |= FIN
    elif opcode >= 0x8:
        raise LocalProtocolError(f"a {Opcode(opcode).name} frame cannot be fragmented (5.5)")
    if opcode >= 0x8 and n > MAX_CONTROL_PAYLOAD:
        raise LocalProtocolError(f"{Opcode(opcode).name} payload of {n} bytes exceeds 125 (5.5)")
    if frame.rsv1:
        b0 |= RSV1
    if frame.rsv2:
        b0 |= RSV2
    if frame.rsv3:
        b0 |= RSV3
    if mask_key is not None and len(mask_key) != 4:
        raise LocalProtocolError(f"masking key of {len(mask_key)} bytes; it is 32 bits (5.3)")
    return pack_frame(b0, payload, mask_key)


def pack_frame(first_byte: int, payload: bytes, mask_key: bytes | None) -> bytes:
    """A frame's bytes from its first byte (FIN, RSV, opcode), payload and 4-byte key, unchecked.

    The common core of :func:`encode_frame`, for a :class:`Connection` that builds only valid data
    frames and would otherwise pay for checks and a :class:`Frame` per message.
    """
    n = len(payload)
    if mask_key is None:
        if n < 126:
            return _H2.pack(first_byte, n) + payload
        if n <= 0xFFFF:
            return _H4.pack(first_byte, 126, n) + payload
        return _H10.pack(first_byte, 127, n) + payload
    if n < 126:
        head = _H2.pack(first_byte, _MASK_BIT | n)
    elif n <= 0xFFFF:
        head = _H4.pack(first_byte, _MASK_BIT | 126, n)
    else:
        head = _H10.pack(first_byte, _MASK_BIT | 127, n)
    return b"".join((head, mask_key, mask(payload, mask_key)))


def parse_close(payload: bytes) -> tuple[int, str]:
    """The (code, reason) of a Close frame's body (RFC 6455 5.5.1).

    An empty body means 1005 No Status Received and reason "" (7.1.5). The code is a
    :class:`CloseCode` when it has a name, else the int (3000-4999). Raises RemoteProtocolError:
    1002 for a one-byte body or a code no endpoint may send (7.4), 1007 for a reason that is not
    the "UTF-8-encoded data" 5.5.1 says follows the code (8.1).
    """
    if not payload:
        return CloseCode.NO_STATUS_RCVD, ""
    if len(payload) == 1:
        raise protocol_error("Close body of one byte: it starts with a two-byte status code (5.5.1)")
    code: int = _U16.unpack_from(payload)[0]
    why = close_code_error(code)
    if why is not None:
        raise protocol_error(why)
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_data(f"Close reason is not valid UTF-8 (5.5.1): {exc.reason}") from None
    return CODE_BY_VALUE.get(code, code), reason


def build_close(code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> bytes:
    """The body of a Close frame: the 2-byte code and the UTF-8 reason; empty for 1005.

    Raises LocalProtocolError for a code an endpoint may not send (7.4), a reason with code
    1005 (a reason needs a code, 5.5.1), one holding a lone surrogate, or over 123 bytes.
    """
    if code == CloseCode.NO_STATUS_RCVD:
        if reason:
            raise LocalProtocolError("a Close reason needs a status code before it (5.5.1)")
        return b""
    why = close_code_error(code)
    if why is not None:
        raise LocalProtocolError(why)
    try:
        data = reason.encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError("Close reason holds a lone surrogate: not UTF-8 (5.5.1)") from None
    if len(data) > MAX_CLOSE_REASON:
        raise LocalProtocolError(f"Close reason of {len(data)} UTF-8 bytes exceeds 123 (5.5)")
    return _U16.pack(code) + data
