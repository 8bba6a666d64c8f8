"""The protobuf codec's one error family and the gRPC status codes it carries.

Theory of operation: everything the codec refuses raises a :class:`ProtobufError`. The subclass
says whose fault it is and ``status`` says what that means on the wire, as the gRPC status code a
server or proxy reports for it in the ``grpc-status`` trailer (``trailers()`` builds that
trailer block), so the caller never maps exceptions itself:

- :class:`RemoteProtocolError`: bytes from the peer are not what they claim to be. The status
  follows gRPC's table of library-generated codes (doc/statuscodes.md): INTERNAL for a message
  that does not parse ("Error parsing request proto") or does not decompress; RESOURCE_EXHAUSTED
  for one over a configured limit ("Sent or received message was larger than configured limit",
  also our depth and field-count limits); UNIMPLEMENTED for a compression we do not speak or a
  method the descriptor set does not know ("Method not found at server").
- :class:`LocalProtocolError`: the caller asked for something the wire cannot carry (field number
  0, a varint above 2**64 - 1, a dict that does not fit its message type, data after the end of
  the stream). ``status`` is INVALID_ARGUMENT unless said otherwise.

Decoders raise ``RemoteProtocolError`` and encoders ``LocalProtocolError``; neither lets
``IndexError``, ``struct.error``, ``zlib.error`` or a ``google.protobuf`` exception escape: the
property tests fuzz that contract.
"""

from __future__ import annotations

from enum import IntEnum


class StatusCode(IntEnum):
    """gRPC status codes (grpc/grpc doc/statuscodes.md), the values of the ``grpc-status`` trailer."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# grpc-message is "Percent-Encoded" (PROTOCOL-HTTP2.md, Responses): UTF-8, then every octet
# outside %x20-%x24 / %x26-%x7E written as %XX.
_UNENCODED = frozenset(range(0x20, 0x7F)) - {0x25}


def encode_grpc_message(text: str) -> bytes:
    """``text`` as the value of a ``grpc-message`` trailer (percent-encoded UTF-8)."""
    raw = text.encode("utf-8", "replace")
    if all(b in _UNENCODED for b in raw):
        return raw
    return "".join(chr(b) if b in _UNENCODED else f"%{b:02X}" for b in raw).encode("ascii")


def status_trailers(status: int, message: str = "") -> list[tuple[bytes, bytes]]:
    """The trailer fields that end a gRPC response with ``status`` (and ``message``, if any)."""
    trailers = [(b"grpc-status", str(int(status)).encode("ascii"))]
    if message:
        trailers.append((b"grpc-message", encode_grpc_message(message)))
    return trailers


class ProtobufError(Exception):
    """Base class of the codec's errors; never raised itself.

    Attributes:
        status: the gRPC status code that describes the failure on the wire, e.g. for a server or
            proxy to end the call with (``trailers()``).
    """

    status: StatusCode

    def __init__(self, msg: str, status: StatusCode) -> None:
        if type(self) is ProtobufError:
            raise TypeError("ProtobufError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r}, {self.status.name})"

    def trailers(self) -> list[tuple[bytes, bytes]]:
        """The ``grpc-status`` and ``grpc-message`` trailer fields that report this error."""
        return status_trailers(self.status, str(self))


class LocalProtocolError(ProtobufError):
    """We (the caller of the codec) asked for something protobuf or gRPC cannot carry.

    Nothing was produced; it is a bug in the caller (or in its configuration).
    """

    def __init__(self, msg: str, status: StatusCode = StatusCode.INVALID_ARGUMENT) -> None:
        super().__init__(msg, status)


class RemoteProtocolError(ProtobufError):
    """The peer sent bytes that are not a valid protobuf message or gRPC message stream."""

    def __init__(self, msg: str, status: StatusCode = StatusCode.INTERNAL) -> None:
        super().__init__(msg, status)


def malformed(msg: str) -> RemoteProtocolError:
    """INTERNAL: the bytes do not parse (gRPC: "Error parsing request proto")."""
    return RemoteProtocolError(msg, StatusCode.INTERNAL)


def exhausted(msg: str) -> RemoteProtocolError:
    """RESOURCE_EXHAUSTED: the bytes parse but go past one of our named limits."""
    return RemoteProtocolError(msg, StatusCode.RESOURCE_EXHAUSTED)
