"""BGP's wire primitives: the message header, the registries' numbers and NLRI prefixes.

Theory of operation: every BGP message is a 19-octet header (a 16-octet marker of all ones, a
2-octet total length, a 1-octet type, RFC 4271 4.1) followed by ``length - 19`` octets of body.
:func:`read_header` checks the header as soon as its 19 octets are in, before the body is
buffered, so a length that no message can have (RFC 4271 6.1) is refused early and a peer cannot
make us hold more than ``max_size`` octets. Bodies are then parsed with offsets into the
caller's buffer (``bytes`` or ``bytearray``), never by repeated slicing.

NLRI prefixes are ``(length in bits, just enough octets)`` pairs (RFC 4271 4.3, RFC 4760 5):
:func:`read_prefixes` turns a run of them into ``ipaddress`` networks and :func:`prefixes_to_wire`
turns networks back. "the value of trailing bits is irrelevant": they are masked off on decode.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from enum import IntEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Final

from .errors import (
    ErrorCode,
    HeaderSubcode,
    LocalProtocolError,
    RemoteProtocolError,
    UpdateSubcode,
    header_error,
)

Buffer = bytes | bytearray | memoryview
Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

MARKER: Final = b"\xff" * 16
HEADER: Final = struct.Struct("!16sHB")
HEADER_SIZE: Final = HEADER.size  # 19
U8: Final = struct.Struct("!B")
U16: Final = struct.Struct("!H")
U32: Final = struct.Struct("!I")

BGP_VERSION: Final = 4
# RFC 4271 4.1: "The value of the Length field MUST always be at least 19 and no greater than 4096".
# RFC 8654 raises it to 65535 for peers that both announce the Extended Message capability; the
# decoder's ``max_size`` is that knob, and it is also the most one message makes us buffer.
MAX_MESSAGE_SIZE: Final = 4096
MAX_EXTENDED_MESSAGE_SIZE: Final = 65535
# RFC 6793 9: the 2-octet AS a 4-octet speaker puts where an old speaker expects its AS.
AS_TRANS: Final = 23456
MAX_AS2: Final = 0xFFFF
MAX_AS4: Final = 0xFFFF_FFFF


class MessageType(IntEnum):
    """BGP message types (RFC 4271 4.1; 5 is RFC 2918's ROUTE-REFRESH)."""

    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


# The shortest total length of each type (RFC 4271 6.1: "if the Length field of an OPEN message is
# less than the minimum length of the OPEN message, or if the Length field of an UPDATE message is
# less than the minimum length of the UPDATE message, or if the Length field of a KEEPALIVE message
# is not equal to 19, or if the Length field of a NOTIFICATION message is less than the minimum
# length of the NOTIFICATION message, then the Error Subcode MUST be set to Bad Message Length").
MIN_LENGTH: Final[dict[int, int]] = {
    MessageType.OPEN: 29,
    MessageType.UPDATE: 23,
    MessageType.NOTIFICATION: 21,
    MessageType.KEEPALIVE: 19,
    MessageType.ROUTE_REFRESH: 23,
}
_TYPES: Final[dict[int, MessageType]] = {int(t): t for t in MessageType}
_MIN_BY_TYPE: Final[dict[int, int]] = {int(t): n for t, n in MIN_LENGTH.items()}
_KEEPALIVE: Final = MessageType.KEEPALIVE


class AFI(IntEnum):
    """Address Family Identifiers that this codec parses NLRI for (IANA "Address Family Numbers")."""

    IPV4 = 1
    IPV6 = 2


class SAFI(IntEnum):
    """Subsequent Address Family Identifiers with plain prefix NLRI (RFC 4760 6)."""

    UNICAST = 1
    MULTICAST = 2


IPV4_UNICAST: Final = (AFI.IPV4, SAFI.UNICAST)
IPV6_UNICAST: Final = (AFI.IPV6, SAFI.UNICAST)
# The families whose NLRI are plain prefixes; MP_REACH/MP_UNREACH of any other family stay raw.
PREFIX_FAMILIES: Final = frozenset({(a, s) for a in AFI for s in SAFI})
_ADDRESS_BITS: Final = {AFI.IPV4: 32, AFI.IPV6: 128}


def afi_name(afi: int) -> int:
    """``afi`` as an :class:`AFI` member when known (for readable reprs), else the int."""
    try:
        return AFI(afi)
    except ValueError:
        return afi


def safi_name(safi: int) -> int:
    """``safi`` as a :class:`SAFI` member when known, else the int."""
    try:
        return SAFI(safi)
    except ValueError:
        return safi


def read_header(buf: Buffer, pos: int = 0,
                max_size: int = MAX_MESSAGE_SIZE) -> tuple[MessageType, int] | None:
    """Check the header at ``buf[pos:]``: ``(type, total length)``, or None before 19 octets are in.

    Raises RemoteProtocolError (Message Header Error, RFC 4271 6.1) for a marker that is not all
    ones (Connection Not Synchronized), a length under 19, over ``max_size`` or under the minimum
    of the type (Bad Message Length, data: the length field), or an unknown type (Bad Message
    Type, data: the type octet).
    """
    if len(buf) - pos < HEADER_SIZE:
        return None
    marker, length, mtype = HEADER.unpack_from(buf, pos)
    if marker != MARKER:
        # RFC 4271 4.1: the marker "MUST be set to all ones"; 6.1: Connection Not Synchronized.
        raise header_error("marker is not all ones (RFC 4271 6.1)", HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED)
    if length < HEADER_SIZE or length > max_size:
        raise header_error(f"message length {length} outside 19..{max_size} (RFC 4271 6.1)",
                           HeaderSubcode.BAD_MESSAGE_LENGTH, U16.pack(length))
    kind = _TYPES.get(mtype)
    if kind is None:
        raise header_error(f"unknown message type {mtype} (RFC 4271 6.1)", HeaderSubcode.BAD_MESSAGE_TYPE,
                           U8.pack(mtype))
    if length < _MIN_BY_TYPE[mtype] or (kind is _KEEPALIVE and length != HEADER_SIZE):
        raise header_error(f"{kind.name} of {length} octets has a bad length (RFC 4271 6.1)",
                           HeaderSubcode.BAD_MESSAGE_LENGTH, U16.pack(length))
    return kind, length


def frame(kind: MessageType, body: bytes, max_size: int = MAX_MESSAGE_SIZE) -> bytes:
    """``body`` behind its header; LocalProtocolError when the message would exceed ``max_size``."""
    length = HEADER_SIZE + len(body)
    if length > max_size:
        raise LocalProtocolError(f"{kind.name} of {length} octets exceeds {max_size} (RFC 4271 4.1)",
                                 ErrorCode.MESSAGE_HEADER_ERROR, HeaderSubcode.BAD_MESSAGE_LENGTH)
    return HEADER.pack(MARKER, length, kind) + body


def read_prefixes(buf: Buffer, pos: int, end: int, afi: int,
                  fail: Callable[[str], RemoteProtocolError]) -> list[Network]:
    """The prefixes packed in ``buf[pos:end]`` for ``afi`` (RFC 4271 4.3 "Network Layer
    Reachability Information", RFC 4760 5). ``fail(reason)`` builds the error to raise for a
    length over the address size or a prefix that runs past ``end``."""
    bits = _ADDRESS_BITS[AFI(afi)]
    size = bits // 8
    v4 = bits == 32
    out: list[Network] = []
    append = out.append
    while pos < end:  # one iteration per prefix, not per octet
        plen = buf[pos]
        if plen > bits:
            raise fail(f"prefix length {plen} exceeds {bits} bits")
        n = (plen + 7) >> 3
        start = pos + 1
        pos = start + n
        if pos > end:
            raise fail(f"a /{plen} prefix needs {n} octets, {end - start} left")
        value = int.from_bytes(buf[start:pos], "big") << ((size - n) * 8)
        append(IPv4Network((value, plen), strict=False) if v4 else IPv6Network((value, plen), strict=False))
    return out


def prefixes_to_wire(networks: Iterable[Network], afi: int) -> bytes:
    """The wire form of ``networks``, each of which must be of ``afi``'s version."""
    version = 4 if afi == AFI.IPV4 else 6
    out = bytearray()
    for net in networks:
        if net.version != version:
            raise LocalProtocolError(f"{net} is not an IPv{version} prefix", ErrorCode.UPDATE_MESSAGE_ERROR,
                                     UpdateSubcode.INVALID_NETWORK_FIELD)
        plen = net.prefixlen
        n = (plen + 7) >> 3
        out.append(plen)
        out += net.network_address.packed[:n]
    return bytes(out)
