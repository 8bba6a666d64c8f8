"""Whole messages and structs: ``decode_message``/``encode_message``, frames, TApplicationException.

Theory of operation: a Thrift message is a header (name, type, seqid) and one struct: a call's
arguments, a reply's result, or for an EXCEPTION a TApplicationException. These functions pick the
protocol's reader or writer (``binary``, ``compact``) and add what is the same for both: checking
that the struct ends exactly where the buffer does, the framed transport's 4-byte length, and the
TApplicationException struct (field 1: message, string; field 2: type, i32) that servers send when
a call fails before it reaches the handler (unknown method, unreadable arguments).

Buffers may be ``bytes``, ``bytearray`` or ``memoryview``; decoding copies anything but ``bytes``
once, so that the values it returns (STRING fields are slices) never alias the caller's buffer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import binary, compact
from .errors import ApplicationErrorType, LocalProtocolError, invalid, truncated
from .model import (
    DEFAULT_LIMITS,
    MAX_SIZE,
    MESSAGE_TYPE_BY_ID,
    Header,
    Limits,
    Message,
    MessageType,
    Protocol,
    Struct,
    TType,
)
from .wire import encode_name

_FRAME = struct.Struct("!i")
_APPLICATION_TYPES = {int(t): t for t in ApplicationErrorType}

Buffer = bytes | bytearray | memoryview


def read_header(buf: Buffer, protocol: Protocol, offset: int, strict: bool, limits: Limits) -> Header | None:
    """The header at ``buf[offset:]`` in ``protocol``, or None while incomplete (see ``peek_header``)."""
    if protocol is Protocol.BINARY:
        return binary.read_header(buf, offset, strict, limits)
    if protocol is Protocol.COMPACT:
        return compact.read_header(buf, offset, limits)
    raise LocalProtocolError(f"unknown protocol {protocol!r}")


def _bytes(buf: Buffer) -> bytes:
    return buf if type(buf) is bytes else bytes(buf)


def decode_struct_at(buf: bytes, pos: int, protocol: Protocol, limits: Limits) -> tuple[Struct, int]:
    """The struct at ``buf[pos:]`` and the offset after it."""
    if protocol is Protocol.BINARY:
        return binary.decode_struct(buf, pos, limits)
    if protocol is Protocol.COMPACT:
        return compact.decode_struct(buf, pos, limits)
    raise LocalProtocolError(f"unknown protocol {protocol!r}")


def decode_message_prefix(
    buf: Buffer, protocol: Protocol, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> tuple[Message, int]:
    """The message at the front of ``buf`` and how many bytes it took; later bytes are not read.

    ``strict`` refuses the old binary header (a lib/py server with ``strictRead``). Raises
    ``RemoteProtocolError`` for anything that is not one valid message, including a ``buf`` that
    ends inside it.
    """
    data = _bytes(buf)
    header = read_header(data, protocol, 0, strict, limits)
    if header is None:
        raise truncated("message header")
    body, end = decode_struct_at(data, header.body_offset, protocol, limits)
    return Message(header.name, header.type, header.seqid, body), end


def decode_message(
    buf: Buffer, protocol: Protocol, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> Message:
    """The one message ``buf`` holds (a frame's contents, say).

    Raises ``RemoteProtocolError`` as ``decode_message_prefix`` does, and for bytes after the
    message (in a frame they would be read as the start of the next message by some peers).
    """
    message, end = decode_message_prefix(buf, protocol, strict=strict, limits=limits)
    if end != len(buf):
        raise invalid(f"{len(buf) - end} bytes after the end of the message")
    return message


def decode_body(data: bytes, header: Header, protocol: Protocol, limits: Limits) -> Message:
    """The message whose ``header`` was already read from ``data``, which it must fill exactly."""
    body, end = decode_struct_at(data, header.body_offset, protocol, limits)
    if end != len(data):
        raise invalid(f"{len(data) - end} bytes after the end of the message")
    return Message(header.name, header.type, header.seqid, body)


def encode_message(
    message: Message,
    protocol: Protocol,
    *,
    strict: bool = True,
    framed: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """``message`` as bytes in ``protocol``: with the strict binary header unless ``strict`` is
    False (the old header, for peers that only read that), with a frame length if ``framed``.

    Raises ``LocalProtocolError`` for what the wire cannot carry: a message type outside
    CALL..ONEWAY, a seqid beyond an i32, a value that does not match its type or range, a field id
    beyond an i16, nesting deeper than ``limits.max_depth`` (what a peer would refuse).
    """
    mtype = MESSAGE_TYPE_BY_ID.get(message.type)
    if mtype is None:
        raise LocalProtocolError(f"message type {message.type!r} is not CALL, REPLY, EXCEPTION or ONEWAY")
    if type(message.seqid) is not int or not -(1 << 31) <= message.seqid < 1 << 31:
        raise LocalProtocolError(f"seqid {message.seqid!r} does not fit an i32")
    name = encode_name(message.name)
    out = bytearray(b"\0\0\0\0" if framed else b"")
    if protocol is Protocol.BINARY:
        binary.write_header(out, name, mtype, message.seqid, strict)
        binary.encode_struct(out, message.body, limits)
    elif protocol is Protocol.COMPACT:
        compact.write_header(out, name, mtype, message.seqid)
        compact.encode_struct(out, message.body, limits)
    else:
        raise LocalProtocolError(f"unknown protocol {protocol!r}")
    if framed:
        _FRAME.pack_into(out, 0, _frame_size(len(out) - 4))
    return bytes(out)


def decode_struct(buf: Buffer, protocol: Protocol, *, limits: Limits = DEFAULT_LIMITS) -> Struct:
    """The one struct ``buf`` holds; ``RemoteProtocolError`` if it is not exactly one."""
    data = _bytes(buf)
    fields, end = decode_struct_at(data, 0, protocol, limits)
    if end != len(data):
        raise invalid(f"{len(data) - end} bytes after the end of the struct")
    return fields


def encode_struct(fields: Struct, protocol: Protocol, *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """``fields`` as a struct in ``protocol``; ``LocalProtocolError`` as ``encode_message`` says."""
    out = bytearray()
    if protocol is Protocol.BINARY:
        binary.encode_struct(out, fields, limits)
    elif protocol is Protocol.COMPACT:
        compact.encode_struct(out, fields, limits)
    else:
        raise LocalProtocolError(f"unknown protocol {protocol!r}")
    return bytes(out)


def _frame_size(size: int) -> int:
    if size > MAX_SIZE:
        raise LocalProtocolError(f"a message of {size} bytes does not fit a frame's i32 length")
    return size


def frame(data: Buffer) -> bytes:
    """``data`` with the framed transport's 4-byte big-endian length before it (TFramedTransport).

    Raises ``LocalProtocolError`` past 2**31 - 1 bytes.
    """
    return _FRAME.pack(_frame_size(len(data))) + bytes(data)


@dataclass(slots=True)
class ApplicationException:
    """A TApplicationException: what an EXCEPTION message carries.

    ``type`` is an ``ApplicationErrorType`` when the value is one, else the int as received.
    ``message`` is None when the field is absent; text that is not UTF-8 survives a round trip
    (it is decoded with ``surrogateescape``).
    """

    type: int = ApplicationErrorType.UNKNOWN
    message: str | None = None

    def to_struct(self) -> Struct:
        """The struct Apache Thrift writes: field 1 only when there is a message, field 2 always."""
        fields: Struct = {}
        if self.message is not None:
            fields[1] = (TType.STRING, self.message.encode("utf-8", "surrogateescape"))
        fields[2] = (TType.I32, int(self.type))
        return fields

    @classmethod
    def from_struct(cls, fields: Struct) -> ApplicationException:
        """Read it as the Thrift libraries do: a field of another type, or an unknown id, is ignored."""
        result = cls()
        got = fields.get(1)
        if got is not None and got[0] == TType.STRING and isinstance(got[1], bytes):
            result.message = got[1].decode("utf-8", "surrogateescape")
        got = fields.get(2)
        if got is not None and got[0] == TType.I32 and type(got[1]) is int:
            result.type = _APPLICATION_TYPES.get(got[1], got[1])
        return result

    @classmethod
    def from_message(cls, message: Message) -> ApplicationException:
        """The exception an EXCEPTION message carries; ``LocalProtocolError`` for another type."""
        if message.type is not MessageType.EXCEPTION:
            raise LocalProtocolError(f"a {message.type.name} message carries no TApplicationException")
        return cls.from_struct(message.body)


def exception_message(name: str, seqid: int, error_type: int, text: str | None = None) -> Message:
    """The EXCEPTION message a server sends for the call ``name``/``seqid`` that failed."""
    return Message(name, MessageType.EXCEPTION, seqid, ApplicationException(error_type, text).to_struct())
