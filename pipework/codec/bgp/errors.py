"""The BGP codec's one error family and the NOTIFICATION codes it carries.

Theory of operation: every failure the codec or the session FSM detects is a :class:`BGPError`,
and every one of them carries the NOTIFICATION that names it on the wire (RFC 4271 4.5): an
error ``code``, a ``subcode`` and ``data``, laid out as section 6 asks for that error (the bad
length field, the offending attribute, the unsupported version...). The caller never has to
work out what to tell the peer: ``Notification.from_error(err)`` is the message to send.

- :class:`RemoteProtocolError`: the peer's bytes or the peer's behaviour broke BGP (a bad marker,
  a malformed attribute, an UPDATE before the session is up). RFC 4271 6: "When any of the
  conditions described here are detected, a NOTIFICATION message, with the indicated Error Code,
  Error Subcode, and Data fields, is sent, and the BGP connection is closed". The stream decoder
  and the session queue that NOTIFICATION before they raise, so the caller only flushes and closes.
- :class:`LocalProtocolError`: we were asked to send something BGP cannot carry (a hold time of
  two seconds, a 4-octet AS on a 2-octet session, an UPDATE before Established). Nothing was
  written; it is a bug in the caller. The NOTIFICATION it carries is how a peer would answer.

Neither ever lets ``IndexError``, ``struct.error`` or ``ValueError`` escape the codec: the property
tests fuzz that contract.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """NOTIFICATION Error Codes (RFC 4271 4.5; 7 is RFC 7313's ROUTE-REFRESH Message Error)."""

    MESSAGE_HEADER_ERROR = 1
    OPEN_MESSAGE_ERROR = 2
    UPDATE_MESSAGE_ERROR = 3
    HOLD_TIMER_EXPIRED = 4
    FSM_ERROR = 5
    CEASE = 6
    ROUTE_REFRESH_MESSAGE_ERROR = 7


class HeaderSubcode(IntEnum):
    """Message Header Error subcodes (RFC 4271 6.1)."""

    UNSPECIFIC = 0
    CONNECTION_NOT_SYNCHRONIZED = 1
    BAD_MESSAGE_LENGTH = 2
    BAD_MESSAGE_TYPE = 3


class OpenSubcode(IntEnum):
    """OPEN Message Error subcodes (RFC 4271 6.2; 5 is deprecated; 7 from RFC 5492)."""

    UNSPECIFIC = 0
    UNSUPPORTED_VERSION_NUMBER = 1
    BAD_PEER_AS = 2
    BAD_BGP_IDENTIFIER = 3
    UNSUPPORTED_OPTIONAL_PARAMETER = 4
    UNACCEPTABLE_HOLD_TIME = 6
    UNSUPPORTED_CAPABILITY = 7


class UpdateSubcode(IntEnum):
    """UPDATE Message Error subcodes (RFC 4271 6.3; 7 is deprecated)."""

    UNSPECIFIC = 0
    MALFORMED_ATTRIBUTE_LIST = 1
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2
    MISSING_WELL_KNOWN_ATTRIBUTE = 3
    ATTRIBUTE_FLAGS_ERROR = 4
    ATTRIBUTE_LENGTH_ERROR = 5
    INVALID_ORIGIN_ATTRIBUTE = 6
    INVALID_NEXT_HOP_ATTRIBUTE = 8
    OPTIONAL_ATTRIBUTE_ERROR = 9
    INVALID_NETWORK_FIELD = 10
    MALFORMED_AS_PATH = 11


class FsmSubcode(IntEnum):
    """Finite State Machine Error subcodes (RFC 6608 3): which state got the unexpected message."""

    UNSPECIFIED = 0
    UNEXPECTED_MESSAGE_IN_OPENSENT = 1
    UNEXPECTED_MESSAGE_IN_OPENCONFIRM = 2
    UNEXPECTED_MESSAGE_IN_ESTABLISHED = 3


class CeaseSubcode(IntEnum):
    """Cease subcodes (RFC 4486 4, 9 from RFC 8538)."""

    UNSPECIFIC = 0
    MAXIMUM_PREFIXES_REACHED = 1
    ADMINISTRATIVE_SHUTDOWN = 2
    PEER_DECONFIGURED = 3
    ADMINISTRATIVE_RESET = 4
    CONNECTION_REJECTED = 5
    OTHER_CONFIGURATION_CHANGE = 6
    CONNECTION_COLLISION_RESOLUTION = 7
    OUT_OF_RESOURCES = 8
    HARD_RESET = 9


class RouteRefreshSubcode(IntEnum):
    """ROUTE-REFRESH Message Error subcodes (RFC 7313 5)."""

    RESERVED = 0
    INVALID_MESSAGE_LENGTH = 1


_SUBCODES: dict[int, type[IntEnum]] = {
    ErrorCode.MESSAGE_HEADER_ERROR: HeaderSubcode,
    ErrorCode.OPEN_MESSAGE_ERROR: OpenSubcode,
    ErrorCode.UPDATE_MESSAGE_ERROR: UpdateSubcode,
    ErrorCode.FSM_ERROR: FsmSubcode,
    ErrorCode.CEASE: CeaseSubcode,
    ErrorCode.ROUTE_REFRESH_MESSAGE_ERROR: RouteRefreshSubcode,
}


def code_names(code: int, subcode: int) -> tuple[int, int]:
    """``(code, subcode)`` as enum members where the registries know them, plain ints otherwise."""
    try:
        known_code = ErrorCode(code)
    except ValueError:
        return code, subcode
    table = _SUBCODES.get(known_code)
    if table is not None:
        try:
            return known_code, table(subcode)
        except ValueError:
            pass
    return known_code, subcode


class BGPError(Exception):
    """Base class of the codec's errors; never raised itself.

    Attributes:
        code, subcode: the NOTIFICATION Error Code and Error Subcode that describe the failure on
            the wire (RFC 4271 4.5), as :class:`ErrorCode` and subcode enum members where known.
        data: the NOTIFICATION's Data field, as RFC 4271 section 6 lays it out for this error.
    """

    code: int
    subcode: int
    data: bytes

    def __init__(self, msg: str, code: int, subcode: int = 0, data: bytes | bytearray = b"") -> None:
        if type(self) is BGPError:
            raise TypeError("BGPError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)
        self.code, self.subcode = code_names(code, subcode)
        self.data = bytes(data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r}, {self.code!r}, {self.subcode!r}, {self.data!r})"


class LocalProtocolError(BGPError):
    """We (the caller of the codec) asked to send something BGP forbids; nothing was written."""


class RemoteProtocolError(BGPError):
    """The peer broke BGP. Send the NOTIFICATION the codec queued, then close the connection."""


def header_error(msg: str, subcode: HeaderSubcode, data: bytes = b"") -> RemoteProtocolError:
    """A Message Header Error (RFC 4271 6.1) in the peer's bytes."""
    return RemoteProtocolError(msg, ErrorCode.MESSAGE_HEADER_ERROR, subcode, data)


def open_error(msg: str, subcode: OpenSubcode = OpenSubcode.UNSPECIFIC,
               data: bytes = b"") -> RemoteProtocolError:
    """An OPEN Message Error (RFC 4271 6.2) in the peer's bytes."""
    return RemoteProtocolError(msg, ErrorCode.OPEN_MESSAGE_ERROR, subcode, data)


def update_error(msg: str, subcode: UpdateSubcode, data: bytes = b"") -> RemoteProtocolError:
    """An UPDATE Message Error (RFC 4271 6.3) in the peer's bytes."""
    return RemoteProtocolError(msg, ErrorCode.UPDATE_MESSAGE_ERROR, subcode, data)


def local_error(msg: str) -> LocalProtocolError:
    """Our misuse; the code is the one a peer would have answered with (FSM Error, unspecified)."""
    return LocalProtocolError(msg, ErrorCode.FSM_ERROR, FsmSubcode.UNSPECIFIED)
