"""Fast looks at a message without decoding its body: the header, its size, a new seqid, the protocol.

Theory of operation: a proxy routes a Thrift call on its method name, maps seqids between the
clients it serves and the upstream connection it shares, and otherwise forwards bytes. These
helpers read or change those few fields in place and never build the body's values: ``peek_header``
reads the header in a few ``struct`` calls, ``skip`` walks a value to find where it ends (see
``skip.Skipper``), ``peek_message_size`` combines both to delimit a message on an unframed stream,
and ``replace_seqid`` copies a message once with another seqid. They share one contract: None
means "not enough bytes yet", ``RemoteProtocolError`` means the bytes cannot be what was asked
for. They check only what they read, so a message they accept may still fail ``decode_message``.
"""

from __future__ import annotations

import struct

from . import compact
from .errors import LocalProtocolError, ProtocolErrorType, RemoteProtocolError, truncated
from .message import Buffer, read_header
from .model import DEFAULT_LIMITS, TTYPE_BY_ID, Header, Limits, Protocol, Transport, TType
from .skip import Skipper

_I32 = struct.Struct("!i")


def peek_header(
    buf: Buffer, protocol: Protocol, offset: int = 0, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> Header | None:
    """The header of the message at ``buf[offset:]`` (after the frame length, if framed), or None
    while ``buf`` ends inside it; its ``body_offset`` is where the body's struct starts in ``buf``.

    ``strict`` refuses the old binary header. Raises ``RemoteProtocolError``: BAD_VERSION for a
    header of another protocol, SIZE_LIMIT for a name over ``limits.max_name_size``,
    INVALID_DATA (application type INVALID_MESSAGE_TYPE) for an unknown message type.
    """
    return read_header(buf, protocol, offset, strict, limits)


def skip(
    buf: Buffer, protocol: Protocol, offset: int = 0, ttype: int = TType.STRUCT, *,
    limits: Limits = DEFAULT_LIMITS,
) -> int | None:
    """Where the value of type ``ttype`` (a struct unless said) starting at ``buf[offset:]`` ends,
    without building it; None if ``buf`` ends first.

    Raises ``RemoteProtocolError`` for an invalid type id, a negative or over-limit length or count,
    nesting beyond ``limits.max_depth``, or a value that would run past ``limits.max_frame_size``
    bytes from ``offset``; ``LocalProtocolError`` if ``ttype`` is not a value type.
    """
    t = TTYPE_BY_ID[ttype] if isinstance(ttype, int) and 0 <= ttype <= 0xFF else None
    if t is None:
        raise LocalProtocolError(f"{ttype!r} is not a value type")
    skipper = Skipper(protocol, offset, limits, offset + limits.max_frame_size, t)
    return skipper.run(buf if isinstance(buf, bytes | bytearray) else bytes(buf))


def peek_message_size(
    buf: Buffer, protocol: Protocol, offset: int = 0, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> int | None:
    """The size of the (unframed) message at ``buf[offset:]``, header and body, or None while
    ``buf`` ends inside it. Raises ``RemoteProtocolError`` as ``peek_header`` and ``skip`` do."""
    header = read_header(buf, protocol, offset, strict, limits)
    if header is None:
        return None
    end = skip(buf, protocol, header.body_offset, limits=limits)
    return None if end is None else end - offset


def replace_seqid(data: Buffer, protocol: Protocol, seqid: int, offset: int = 0) -> bytes:
    """A copy of ``data`` whose message at ``offset`` has ``seqid`` instead of its own; the rest of
    ``data`` (the body, a frame length before ``offset``) is copied as it is.

    In the compact protocol the seqid is a varint, so the message may change size: a frame length
    before it is then wrong, and the caller re-frames (``frame(replace_seqid(payload, ...))``).
    Raises ``RemoteProtocolError`` if the header is invalid or incomplete, ``LocalProtocolError``
    if ``seqid`` does not fit an i32.
    """
    if type(seqid) is not int or not -(1 << 31) <= seqid < 1 << 31:
        raise LocalProtocolError(f"seqid {seqid!r} does not fit an i32")
    header = read_header(data, protocol, offset, False, DEFAULT_LIMITS)
    if header is None:
        raise truncated("message header")
    if protocol is Protocol.BINARY:
        out = bytearray(data)
        # The seqid is the last field of both binary headers.
        _I32.pack_into(out, header.body_offset - 4, seqid)
        return bytes(out)
    _, seqid_end = compact.read_varint(data, offset + 2)
    varint = bytearray()
    compact.write_varint(varint, seqid & 0xFFFF_FFFF)
    return bytes(data[:offset + 2]) + bytes(varint) + bytes(data[seqid_end:])


def detect_protocol(buf: Buffer) -> tuple[Protocol, Transport] | None:
    """The protocol and transport a stream's first bytes speak, or None while fewer than 6 are there.

    Recognises the versioned headers: strict binary (``80 01``) and compact (``82`` and version 1),
    unframed or after a 4-byte frame length. Raises ``RemoteProtocolError`` (BAD_VERSION) for
    anything else, which includes the old binary header: it starts with a bare name length, and
    cannot be told from a frame length by its first bytes alone.
    """
    for at, transport in ((0, Transport.UNFRAMED), (4, Transport.FRAMED)):
        if len(buf) < at + 2:
            return None
        first, second = buf[at], buf[at + 1]
        if first == 0x80 and second == 0x01:
            return Protocol.BINARY, transport
        if first == compact.PROTOCOL_ID and second & 0x1F == compact.VERSION:
            return Protocol.COMPACT, transport
    raise RemoteProtocolError(f"no Thrift header in {bytes(buf[:6]).hex(' ')}", ProtocolErrorType.BAD_VERSION)
