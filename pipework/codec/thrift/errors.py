"""The Thrift codec's one error family, and the two exception-type tables of the Thrift libraries.

Theory of operation: everything the codec refuses raises a ``ThriftError``. The subclass says whose
fault it is; two attributes say what it means on the wire, in the vocabulary every Thrift library
shares, so the caller never parses messages:

- ``protocol_type`` is a ``ProtocolErrorType``: the ``TProtocolException`` type the reference
  libraries raise for the same bytes (INVALID_DATA, NEGATIVE_SIZE, SIZE_LIMIT, BAD_VERSION,
  DEPTH_LIMIT), e.g. for a metric or a log line.
- ``application_type`` is an ``ApplicationErrorType``: the ``TApplicationException`` type a server
  answers such a call with, PROTOCOL_ERROR unless said otherwise (INVALID_MESSAGE_TYPE for a
  message type outside CALL..ONEWAY), as Apache Thrift's processors do when a call's arguments
  cannot be read.

``RemoteProtocolError`` is the peer's fault (its bytes break the protocol); ``LocalProtocolError``
is ours (a value the caller asked to send that the wire cannot carry, or misuse of the stream
decoder). Neither lets ``IndexError``, ``struct.error``, ``UnicodeError`` or ``ValueError`` escape:
the property tests fuzz that contract.
"""

from __future__ import annotations

from enum import IntEnum


class ProtocolErrorType(IntEnum):
    """``TProtocolException`` types (Apache Thrift lib/java ``TProtocolException``, lib/py too)."""

    UNKNOWN = 0
    INVALID_DATA = 1  # a value, a type id or a field that cannot be what the protocol lays out
    NEGATIVE_SIZE = 2  # a length or count below zero
    SIZE_LIMIT = 3  # a length, count or frame above the configured limit
    BAD_VERSION = 4  # a message header of another protocol or version
    NOT_IMPLEMENTED = 5
    DEPTH_LIMIT = 6  # structs and containers nested deeper than the limit


class ApplicationErrorType(IntEnum):
    """``TApplicationException`` types: field 2 (i32 ``type``) of the struct an EXCEPTION carries."""

    UNKNOWN = 0
    UNKNOWN_METHOD = 1
    INVALID_MESSAGE_TYPE = 2
    WRONG_METHOD_NAME = 3
    BAD_SEQUENCE_ID = 4
    MISSING_RESULT = 5
    INTERNAL_ERROR = 6
    PROTOCOL_ERROR = 7
    INVALID_TRANSFORM = 8
    INVALID_PROTOCOL = 9
    UNSUPPORTED_CLIENT_TYPE = 10


class ThriftError(Exception):
    """Base class of the codec's errors; never raised itself.

    Attributes:
        protocol_type: the ``TProtocolException`` type that names the failure (INVALID_DATA unless
            said otherwise).
        application_type: the ``TApplicationException`` type a server answers with (PROTOCOL_ERROR
            unless said otherwise).
        reply: bytes the codec already prepared for the peer, or None. ``StreamDecoder`` sets it,
            when the failing message is a CALL whose header could be read, to the EXCEPTION reply
            (framed when the transport is) that a server sends before reading on or closing.
    """

    protocol_type: ProtocolErrorType
    application_type: ApplicationErrorType
    reply: bytes | None

    def __init__(
        self,
        msg: str,
        protocol_type: ProtocolErrorType = ProtocolErrorType.INVALID_DATA,
        application_type: ApplicationErrorType = ApplicationErrorType.PROTOCOL_ERROR,
    ) -> None:
        if type(self) is ThriftError:
            raise TypeError("ThriftError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)
        self.protocol_type = protocol_type
        self.application_type = application_type
        self.reply = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r}, {self.protocol_type.name})"


class LocalProtocolError(ThriftError):
    """We (the caller of the codec) asked to send something Thrift cannot carry, or misused a decoder.

    Nothing was written; it is a bug in the caller.
    """


class RemoteProtocolError(ThriftError):
    """The peer sent bytes that are not a valid Thrift message (or stream of messages)."""


def invalid(msg: str) -> RemoteProtocolError:
    """An INVALID_DATA error: the bytes cannot be laid out as the protocol says."""
    return RemoteProtocolError(msg, ProtocolErrorType.INVALID_DATA)


def truncated(what: str = "value") -> RemoteProtocolError:
    """The message ends inside a ``what``: the reference libraries see an end of file there."""
    return RemoteProtocolError(f"the message ends inside a {what}", ProtocolErrorType.INVALID_DATA)


def negative(what: str, size: int) -> RemoteProtocolError:
    return RemoteProtocolError(f"{what} of negative size {size}", ProtocolErrorType.NEGATIVE_SIZE)


def too_large(what: str, size: int, limit: int) -> RemoteProtocolError:
    return RemoteProtocolError(f"{what} of {size} exceeds the limit of {limit}", ProtocolErrorType.SIZE_LIMIT)


def too_deep(limit: int) -> RemoteProtocolError:
    return RemoteProtocolError(f"structs and containers nested deeper than {limit}",
                               ProtocolErrorType.DEPTH_LIMIT)
