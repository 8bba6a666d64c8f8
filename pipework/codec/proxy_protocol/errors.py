"""The PROXY protocol codec's one error family.

Theory of operation: the PROXY protocol has no replies: a receiver that meets a bad header can
only drop the connection ("Any sequence which does not exactly match the protocol must be
discarded and cause the receiver to abort the connection", spec 2.1; a wrong checksum means "the
receiver MUST treat the TCP connection providing the header as invalid", 2.2.3). So the wire
meaning an error carries is *what* was wrong, as a :class:`Reason` for logs and metrics, and the
``version`` of the header, not a code to send back:

- :class:`RemoteProtocolError`: the bytes received are not a valid header (close the
  connection; never fall back to reading it as application data, spec 5).
- :class:`LocalProtocolError`: we were asked to encode what the protocol cannot carry (a UNIX
  address in version 1, a header longer than 65535 bytes, a 200-byte unique ID).
"""

from __future__ import annotations

from enum import Enum


class Reason(Enum):
    """Which part of a header was wrong."""

    SIGNATURE = "signature"  # neither "PROXY " nor the v2 signature
    VERSION = "version"  # v2 version nibble other than 2
    COMMAND = "command"  # v2 command other than LOCAL or PROXY
    FAMILY = "family"  # unknown address family or transport protocol
    ADDRESS = "address"  # an address or port that does not parse, or no room for them
    LINE = "line"  # v1: no CRLF in 107 bytes, a bare CR or LF, wrong spacing
    TOO_LONG = "too long"  # over the caller's size limit
    TLV = "tlv"  # a TLV that runs past the header or breaks its type's rules
    CHECKSUM = "checksum"  # PP2_TYPE_CRC32C does not match


class ProxyProtocolError(Exception):
    """Base class of the codec's errors; never raised itself.

    Attributes:
        reason: which part of the header is at fault.
        version: 1 or 2, the header version, or None when the bytes are neither.
    """

    reason: Reason
    version: int | None

    def __init__(self, msg: str, reason: Reason, version: int | None = None) -> None:
        if type(self) is ProxyProtocolError:
            raise TypeError("ProxyProtocolError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)
        self.reason = reason
        self.version = version

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r}, {self.reason.name}, version={self.version})"


class LocalProtocolError(ProxyProtocolError):
    """We asked to encode a header the protocol cannot carry; nothing was produced."""


class RemoteProtocolError(ProxyProtocolError):
    """The bytes received are not a valid PROXY protocol header: close the connection."""
