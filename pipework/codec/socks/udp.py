"""The SOCKS5 UDP request header (RFC 1928 7): what a UDP ASSOCIATE relay reads and writes.

Theory of operation: once a UDP ASSOCIATE request is granted, the client sends each datagram to
the relay's BND.ADDR:BND.PORT with this header in front, and the relay answers with the same
header naming the source:

    +----+------+------+----------+----------+----------+
    |RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
    +----+------+------+----------+----------+----------+
    | 2  |  1   |  1   | Variable |    2     | Variable |
    +----+------+------+----------+----------+----------+

Datagrams are whole messages, so there is no state and no "incomplete": :func:`decode_udp` reads
one datagram or raises RemoteProtocolError (``reply_code`` None: UDP has no way to refuse), and
the relay drops it. Fragments are refused unless asked for: "Implementation of fragmentation is
optional; an implementation that does not support fragmentation MUST drop any datagram whose FRAG
field is other than X'00'" (RFC 1928 7). With ``fragments=True`` the FRAG value is returned for a
caller that reassembles ("The high-order bit of FRAG indicates end-of-fragment sequence").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .errors import LocalProtocolError, RemoteProtocolError
from .messages import Address
from .wire import encode_address, read_address

#: Set in FRAG on the last datagram of a fragment sequence (RFC 1928 7).
END_OF_FRAGMENTS: Final = 0x80


@dataclass(slots=True, frozen=True)
class UDPDatagram:
    """One relayed datagram: its destination (from the client) or source (to the client)."""

    address: Address
    data: bytes
    frag: int = 0


def decode_udp(datagram: bytes | bytearray | memoryview, *, fragments: bool = False) -> UDPDatagram:
    """The header and payload of one datagram received by (or from) a UDP relay.

    Raises RemoteProtocolError for a truncated header, a non-zero RSV, an unknown ATYP, or a
    FRAG other than 0 when ``fragments`` is False: the caller drops the datagram.
    """
    buf = bytes(datagram)
    if len(buf) < 4:
        raise RemoteProtocolError(f"UDP datagram of {len(buf)} octets has no room for its header")
    if buf[0] or buf[1]:
        raise RemoteProtocolError("UDP header RSV is not X'0000' (RFC 1928 7)")
    frag = buf[2]
    if frag and not fragments:
        raise RemoteProtocolError(f"fragment {frag:#04x}: an implementation that does not support "
                                  "fragmentation MUST drop it (RFC 1928 7)")
    try:
        address = read_address(buf, 3, None)
    except RemoteProtocolError as exc:
        raise RemoteProtocolError(f"UDP header: {exc}") from None
    if address is None:
        raise RemoteProtocolError("UDP datagram ends inside its header")
    return UDPDatagram(address[0], buf[address[1] :], frag)


def encode_udp(message: UDPDatagram) -> bytes:
    """The datagram with its header. Raises LocalProtocolError for a FRAG outside 0-255 or an
    address SOCKS cannot carry."""
    if not 0 <= message.frag <= 0xFF:
        raise LocalProtocolError(f"FRAG {message.frag!r} does not fit one octet")
    return b"\x00\x00" + bytes((message.frag,)) + encode_address(message.address) + message.data
