"""The TLS ClientHello codec's one error family.

Theory of operation: the codec reads a ClientHello on behalf of a proxy that does not terminate
TLS, so it never negotiates anything; but what it refuses, a TLS server would refuse too, and the
error says how that server would answer: each error carries the fatal :class:`Alert` of RFC 8446
6.2 (``decode_error`` for lengths that do not add up, ``record_overflow`` for a record over
2^14 bytes, ``unexpected_message`` for another record or message where the ClientHello should
be...). The caller may send that alert (:func:`~pipework.codec.tls.encode_alert`) to a peer
that spoke TLS, then closes.

- :class:`RemoteProtocolError`: the bytes received are not a ClientHello we accept.
- :class:`LocalProtocolError`: the caller misused the codec (data after EOF, after the hello).
"""

from __future__ import annotations

from enum import IntEnum


class Alert(IntEnum):
    """AlertDescription values (RFC 8446 6) that a refusal of a ClientHello can carry."""

    UNEXPECTED_MESSAGE = 10
    RECORD_OVERFLOW = 22
    HANDSHAKE_FAILURE = 40
    ILLEGAL_PARAMETER = 47
    DECODE_ERROR = 50
    PROTOCOL_VERSION = 70
    INTERNAL_ERROR = 80


class TLSError(Exception):
    """Base class of the codec's errors; never raised itself.

    Attributes:
        alert: the fatal alert a TLS server would send for this failure.
    """

    alert: Alert

    def __init__(self, msg: str, alert: Alert = Alert.DECODE_ERROR) -> None:
        if type(self) is TLSError:
            raise TypeError("TLSError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)
        self.alert = alert

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r}, {self.alert.name})"


class LocalProtocolError(TLSError):
    """The caller used the codec wrongly; the connection's bytes are not at fault."""


class RemoteProtocolError(TLSError):
    """The bytes received are not an acceptable ClientHello: refuse the connection."""
