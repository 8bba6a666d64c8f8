"""Fast looks at a message without decoding it: the ID, the header, the first question; a new ID.

Theory of operation: on a proxy's hot path a DNS message is usually forwarded, not rewritten. The
proxy gives the upstream query a fresh ID (so two clients' IDs cannot collide, and to resist
spoofing, RFC 5452 9.2), routes or caches on the question, and maps the response's ID back. These
helpers read those fields in place with one ``struct`` call and a name read, and copy the message
once to change its ID; they never look at the records, so a message they accept may still fail a
full ``decode`` later. ``error_reply`` answers a query that ``decode`` refused, from the little
that can be trusted in it.
"""

from __future__ import annotations

import struct

from .constants import HEADER_SIZE, Rcode
from .errors import LocalProtocolError, RemoteProtocolError
from .message import Header
from .names import Name, name_to_wire, read_name

_ID = struct.Struct("!H")
_ID_FLAGS = struct.Struct("!HH")
_QDCOUNT = struct.Struct("!H")
_QUESTION = struct.Struct("!HH")
_REPLY_HEADER = struct.Struct("!HHHHHH")

_QR, _OPCODE, _RD, _CD = 0x8000, 0x7800, 0x0100, 0x0010


def _need_header(buf: bytes | bytearray | memoryview) -> None:
    if len(buf) < HEADER_SIZE:
        n = len(buf)
        raise RemoteProtocolError(f"{n} octets, less than a {HEADER_SIZE}-octet header (RFC 1035 4.1.1)")


def peek_id(buf: bytes | bytearray | memoryview) -> int:
    """The message ID. Raises ``RemoteProtocolError`` if ``buf`` is shorter than a header."""
    _need_header(buf)
    return int(_ID.unpack_from(buf)[0])


def peek_header(buf: bytes | bytearray | memoryview) -> Header:
    """The header, without counts; ``rcode`` holds only the 4 header bits (the OPT record is not
    read). Raises ``RemoteProtocolError`` if ``buf`` is shorter than a header."""
    _need_header(buf)
    return Header.from_wire(*_ID_FLAGS.unpack_from(buf))


def peek_question(buf: bytes | bytearray | memoryview) -> tuple[Name, int, int]:
    """The first question as ``(name, qtype, qclass)``.

    Raises ``RemoteProtocolError`` (FORMERR) if there is no question or it is malformed.
    """
    _need_header(buf)
    if _QDCOUNT.unpack_from(buf, 4)[0] == 0:
        raise RemoteProtocolError("the message has no question")
    data = buf if type(buf) is bytes else bytes(buf)
    name, pos = read_name(data, HEADER_SIZE)
    if pos + _QUESTION.size > len(data):
        raise RemoteProtocolError("question runs past the end of the message")
    qtype, qclass = _QUESTION.unpack_from(data, pos)
    return name, qtype, qclass


def set_id(buf: bytes | bytearray | memoryview, new_id: int) -> bytes:
    """A copy of the message with its ID replaced by ``new_id``.

    Raises ``RemoteProtocolError`` if ``buf`` is shorter than a header, ``LocalProtocolError`` if
    ``new_id`` does not fit 16 bits.
    """
    _need_header(buf)
    if not 0 <= new_id <= 0xFFFF:
        raise LocalProtocolError(f"message ID {new_id} does not fit 16 bits (RFC 1035 4.1.1)")
    out = bytearray(buf)
    _ID.pack_into(out, 0, new_id)
    return bytes(out)


def error_reply(buf: bytes | bytearray | memoryview, rcode: int = Rcode.FORMERR) -> bytes | None:
    """A minimal response to the query ``buf`` carrying ``rcode``, e.g. FORMERR for one that
    ``decode`` refused: same ID and opcode, RD and CD copied, QR set, the first question when it can
    be read. No OPT record: the query's may be what was malformed.

    Returns None when there is nothing to answer: fewer octets than a header, or ``buf`` is itself
    a response (answering responses lets two servers bounce errors at each other forever). Raises
    ``LocalProtocolError`` for an rcode above 15 (it would need EDNS).
    """
    if not 0 <= rcode <= 0xF:
        raise LocalProtocolError(f"rcode {rcode} needs EDNS (RFC 6891 6.1.3); error_reply sends none")
    if len(buf) < HEADER_SIZE:
        return None
    ident, flags = _ID_FLAGS.unpack_from(buf)
    if flags & _QR:
        return None
    question = b""
    try:
        name, qtype, qclass = peek_question(buf)
    except RemoteProtocolError:
        pass
    else:
        # Rebuilt rather than copied: a crafted QNAME may be compressed.
        question = name_to_wire(name) + _QUESTION.pack(qtype, qclass)
    reply_flags = _QR | (flags & (_OPCODE | _RD | _CD)) | rcode
    return _REPLY_HEADER.pack(ident, reply_flags, 1 if question else 0, 0, 0, 0) + question
