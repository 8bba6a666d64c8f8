"""The WebSocket codec's one error family and the close codes it carries.

Theory of operation: every failure the codec detects is a :class:`WebSocketError`. Bytes or
headers from the peer that break RFC 6455 or RFC 7692 raise :class:`RemoteProtocolError` (the
peer's fault: flush what :meth:`Connection.data_to_send` offers — the Close frame that tells the
peer why — then close the TCP connection); a frame, event or header we were asked to produce that
the protocol forbids raises :class:`LocalProtocolError` (our own misuse: a bug in the caller,
nothing was written). Each error carries the close code (RFC 6455 7.4.1) that names it on the
wire — 1002 Protocol Error, 1007 Invalid Payload Data, 1009 Message Too Big, 1006 for a stream
cut short — and, for a failed opening handshake, the HTTP status a server answers with.

Which close codes may travel in a Close frame is decided here too (:func:`close_code_error`), as
both the decoder (the peer's Close) and the encoder (ours) ask the same question.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class CloseCode(IntEnum):
    """Close status codes: RFC 6455 7.4.1, and 1012-1014 from the IANA registry (RFC 6455 11.7)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005  # never on the wire: a Close frame without a body (7.1.5)
    ABNORMAL_CLOSURE = 1006  # never on the wire: the stream ended without a Close frame (7.1.5)
    INVALID_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # never on the wire (7.4.1)


# The codes a Close frame may carry. 7.4.1 says of 1004, 1005, 1006 and 1015 that each "MUST NOT
# be set as a status code in a Close control frame by an endpoint"; 7.4.2 reserves 0-999 (unused)
# and the rest of 1000-2999 for future revisions of the protocol, so a peer using one speaks a
# protocol we do not; 3000-3999 are registered with IANA and 4000-4999 are private use, both
# legal. Autobahn's test suite (case 7.9.x) and the `websockets` library draw the same line.
_SENDABLE: Final = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
CODE_BY_VALUE: Final[dict[int, CloseCode]] = {int(m): m for m in CloseCode}


def close_code_error(code: int) -> str | None:
    """Why ``code`` may not appear in a Close frame (RFC 6455 7.4), or None when it may."""
    if code in _SENDABLE or 3000 <= code <= 4999:
        return None
    if code in (1004, 1005, 1006, 1015):
        return f"close code {code} MUST NOT be set in a Close frame (RFC 6455 7.4.1)"
    return f"close code {code} is reserved or undefined (RFC 6455 7.4.2)"


class WebSocketError(Exception):
    """Base of the codec's errors; never raised itself.

    Attributes:
        close_code: the close code that describes the failure on the wire (RFC 6455 7.4.1):
            1002 Protocol Error unless a more precise code applies; 1006 when the stream ended
            inside a frame or message (no Close frame can say so).
        http_status: for an opening handshake the peer got wrong, the status a server answers
            with (400, or 426 for an unsupported version, RFC 6455 4.2.2); None for frames.
    """

    close_code: CloseCode
    http_status: int | None

    def __init__(self, msg: str, close_code: CloseCode = CloseCode.PROTOCOL_ERROR, *,
                 http_status: int | None = None) -> None:
        if type(self) is WebSocketError:
            raise TypeError("WebSocketError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)
        self.close_code = close_code
        self.http_status = http_status

    def __repr__(self) -> str:
        status = f", http_status={self.http_status}" if self.http_status is not None else ""
        return f"{type(self).__name__}({self.args[0]!r}, {self.close_code.name}{status})"


class LocalProtocolError(WebSocketError):
    """We were asked to do something WebSocket forbids: an oversized control frame, a reserved
    close code, data after our Close. Nothing was written; it is a bug in the caller."""


class RemoteProtocolError(WebSocketError):
    """The peer broke the protocol. Send what :meth:`Connection.data_to_send` returns (our Close
    with :attr:`close_code`), then close the connection: RFC 6455 7.1.7 "_Fail the WebSocket
    Connection_"."""


def protocol_error(msg: str) -> RemoteProtocolError:
    """1002: the peer's frames break a rule of RFC 6455 or of a negotiated extension."""
    return RemoteProtocolError(msg, CloseCode.PROTOCOL_ERROR)


def invalid_data(msg: str) -> RemoteProtocolError:
    """1007: a payload that is not what its frame says it is (text that is not UTF-8, 8.1)."""
    return RemoteProtocolError(msg, CloseCode.INVALID_PAYLOAD_DATA)


def too_big(msg: str) -> RemoteProtocolError:
    """1009: a frame or message larger than we agreed to hold (7.4.1)."""
    return RemoteProtocolError(msg, CloseCode.MESSAGE_TOO_BIG)


def bad_handshake(msg: str, http_status: int = 400) -> RemoteProtocolError:
    """The peer's opening handshake is invalid (RFC 6455 4.1, 4.2.1); no frame was exchanged."""
    return RemoteProtocolError(msg, CloseCode.PROTOCOL_ERROR, http_status=http_status)
