"""The Dubbo codec's one error family and the response status codes it carries.

Theory of operation: everything the codec refuses raises a ``DubboError``. The subclass says whose
fault it is; ``status`` says what that means on the wire, as the status byte of a Dubbo response
(``org.apache.dubbo.remoting.exchange.Response``), so a caller never parses messages:

- ``RemoteProtocolError``: the peer's bytes break the protocol. ``status`` is BAD_REQUEST (40) for
  a request — what a Dubbo server answers a request it cannot decode with — and BAD_RESPONSE (50)
  for a response. When the offending frame is a two-way request whose header could be read,
  ``reply`` already holds the encoded BAD_REQUEST response carrying its request id, so a server
  only sends it (and reads on, when the stream is still usable).
- ``LocalProtocolError``: the caller asked for something Dubbo cannot carry (a body over the
  payload limit, a serialization the codec does not speak, arguments that do not match their
  parameter types). ``status`` is how a peer would have answered had we sent it.

The Hessian codec's errors never escape: they arrive as a Dubbo ``RemoteProtocolError`` (or
``LocalProtocolError``) chained to the Hessian one.
"""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    """Response status codes (the fourth header octet of a response)."""

    OK = 20
    SERIALIZATION_ERROR = 25  # Dubbo 3
    CLIENT_TIMEOUT = 30
    SERVER_TIMEOUT = 31
    CHANNEL_INACTIVE = 35
    BAD_REQUEST = 40
    BAD_RESPONSE = 50
    SERVICE_NOT_FOUND = 60
    SERVICE_ERROR = 70
    SERVER_ERROR = 80
    CLIENT_ERROR = 90
    SERVER_THREADPOOL_EXHAUSTED_ERROR = 100


class DubboError(Exception):
    """Base class of the codec's errors; never raised itself.

    Attributes:
        status: the Dubbo response status that describes the failure (see the module).
        reply: octets the codec prepared for the peer, or None: the BAD_REQUEST response to a
            two-way request that could not be decoded. Send it as is.
    """

    status: int
    reply: bytes | None

    def __init__(self, msg: str, status: int = Status.BAD_REQUEST, reply: bytes | None = None) -> None:
        if type(self) is DubboError:
            raise TypeError("DubboError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)
        self.status = status
        self.reply = reply

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r}, status={self.status})"


class LocalProtocolError(DubboError):
    """We (the caller of the codec) asked to send something Dubbo cannot carry. Nothing was sent."""


class RemoteProtocolError(DubboError):
    """The peer sent bytes that are not a valid Dubbo frame or body."""
