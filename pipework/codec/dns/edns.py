"""EDNS(0) (RFC 6891): the OPT pseudo-record as an ``Edns`` value, and the Client Subnet option.

Theory of operation: the OPT record is not data but message metadata squeezed into the shape of a
record: its CLASS is the sender's UDP payload size and its TTL packs the upper 8 bits of the rcode,
the EDNS version, the DO bit and 15 reserved flag bits (RFC 6891 6.1.3). The message codec lifts it
out of the additional section into ``Message.edns`` and calls ``decode_opt``/``encode_opt`` here;
the extended rcode bits are merged into ``Header.rcode`` there, so users see one 12-bit rcode.

Options are a list in wire order (an option code may repeat). Client Subnet (RFC 7871) is decoded
into a ``ClientSubnet`` holding an ``ipaddress`` network; every other option stays an ``Option`` of
code and octets and is written back verbatim.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import ClassVar, Self

from .constants import EdnsOptionCode, RRType
from .errors import LocalProtocolError, RemoteProtocolError

_OPTION = struct.Struct("!HH")
_ECS = struct.Struct("!HBB")
# The OPT record after its root owner name: TYPE, CLASS (payload size), TTL (flags), RDLENGTH.
_OPT_FIXED = struct.Struct("!HHIH")

#: The payload size we advertise by default: DNS Flag Day 2020's choice, which fits in one
#: unfragmented packet on nearly every path (1280-octet IPv6 minimum MTU minus headers).
DEFAULT_PAYLOAD = 1232
#: The DO bit in the 16 flag bits of the OPT TTL (RFC 3225 3).
_DO = 0x8000

_FAMILY_IPV4 = 1  # IANA Address Family Numbers, as RFC 7871 6 requires
_FAMILY_IPV6 = 2


@dataclass(slots=True, frozen=True)
class ClientSubnet:
    """The EDNS Client Subnet option (RFC 7871 6).

    ``network`` is the client's address truncated to SOURCE PREFIX-LENGTH (its ``prefixlen``);
    ``scope_prefix`` is SCOPE PREFIX-LENGTH (0 in queries, RFC 7871 6).
    """

    code: ClassVar[int] = EdnsOptionCode.CLIENT_SUBNET
    network: IPv4Network | IPv6Network
    scope_prefix: int = 0

    @classmethod
    def from_wire(cls, data: bytes) -> Self:
        """Decode the option data; ``RemoteProtocolError`` (FORMERR) when malformed (RFC 7871 6)."""
        if len(data) < _ECS.size:
            raise RemoteProtocolError("Client Subnet option shorter than 4 octets (RFC 7871 6)")
        family, source, scope = _ECS.unpack_from(data)
        address = data[_ECS.size :]
        if family == _FAMILY_IPV4:
            width = 32
        elif family == _FAMILY_IPV6:
            width = 128
        else:
            raise RemoteProtocolError(f"Client Subnet family {family} is neither IPv4 nor IPv6 (RFC 7871 6)")
        if source > width or scope > width:
            raise RemoteProtocolError(f"Client Subnet prefix longer than {width} bits (RFC 7871 6)")
        # RFC 7871 6: ADDRESS "MUST be truncated to the number of bits indicated by the SOURCE
        # PREFIX-LENGTH field"; too many octets or bits set past the prefix "SHOULD return FORMERR".
        if len(address) != (source + 7) // 8:
            raise RemoteProtocolError("Client Subnet ADDRESS is not SOURCE PREFIX-LENGTH long (RFC 7871 6)")
        padded = address + bytes(width // 8 - len(address))
        network: IPv4Network | IPv6Network
        try:
            if width == 32:
                network = IPv4Network((IPv4Address(padded), source))
            else:
                network = IPv6Network((IPv6Address(padded), source))
        except ValueError:
            raise RemoteProtocolError("Client Subnet ADDRESS bits set past the prefix (RFC 7871 6)") from None
        return cls(network, scope)

    def to_wire(self) -> bytes:
        """The option data (without code and length); ``LocalProtocolError`` for a bad scope."""
        source = self.network.prefixlen
        width = self.network.max_prefixlen
        if not 0 <= self.scope_prefix <= width:
            raise LocalProtocolError(f"Client Subnet scope must be 0 to {width} (RFC 7871 6)")
        family = _FAMILY_IPV4 if width == 32 else _FAMILY_IPV6
        address = self.network.network_address.packed[: (source + 7) // 8]
        return _ECS.pack(family, source, self.scope_prefix) + address


@dataclass(slots=True, frozen=True)
class Option:
    """An EDNS option the codec keeps as code and octets (RFC 6891 6.1.2)."""

    code: int
    data: bytes


EdnsOption = ClientSubnet | Option


@dataclass(slots=True)
class Edns:
    """The EDNS(0) parameters of a message (the OPT pseudo-record, RFC 6891 6.1).

    Attributes:
        payload: the sender's UDP payload size (the OPT CLASS); RFC 6891 6.2.5 reads values
            below 512 as 512.
        version: the EDNS version; a server that does not implement it answers BADVERS (6.1.3).
        dnssec_ok: the DO bit (RFC 3225).
        z: the other 15 flag bits, reserved: senders MUST set them to zero and receivers MUST
            ignore them (RFC 6891 6.1.4); kept so that a proxy forwards exactly what it got.
        options: the options in wire order.
    """

    payload: int = DEFAULT_PAYLOAD
    version: int = 0
    dnssec_ok: bool = False
    z: int = 0
    options: list[EdnsOption] = field(default_factory=list)

    @property
    def client_subnet(self) -> ClientSubnet | None:
        """The first Client Subnet option, or None."""
        for option in self.options:
            if type(option) is ClientSubnet:
                return option
        return None


def decode_opt(buf: bytes, start: int, end: int, rclass: int, ttl: int) -> tuple[Edns, int]:
    """Decode an OPT record's fields; return the ``Edns`` and the upper 8 bits of the rcode.

    ``buf[start:end]`` is the RDATA. Raises ``RemoteProtocolError`` (FORMERR) for an option that
    overruns the RDATA or a malformed Client Subnet.
    """
    options: list[EdnsOption] = []
    pos = start
    while pos < end:
        if pos + _OPTION.size > end:
            raise RemoteProtocolError("EDNS option header runs past RDLENGTH (RFC 6891 6.1.2)")
        code, size = _OPTION.unpack_from(buf, pos)
        pos += _OPTION.size
        if pos + size > end:
            raise RemoteProtocolError("EDNS option data runs past RDLENGTH (RFC 6891 6.1.2)")
        data = buf[pos : pos + size]
        pos += size
        if code == EdnsOptionCode.CLIENT_SUBNET:
            options.append(ClientSubnet.from_wire(data))
        else:
            options.append(Option(code, data))
    flags = ttl & 0xFFFF
    edns = Edns(rclass, (ttl >> 16) & 0xFF, bool(flags & _DO), flags & ~_DO, options)
    return edns, ttl >> 24


def encode_opt(edns: Edns, ext_rcode: int) -> bytes:
    """The whole OPT record (root owner name included) for ``edns`` and the rcode's upper 8 bits.

    Raises ``LocalProtocolError`` for fields that do not fit their wire widths.
    """
    if not 0 <= edns.version <= 0xFF or not 0 <= edns.z <= 0x7FFF or not 0 <= ext_rcode <= 0xFF:
        raise LocalProtocolError("EDNS version, Z bits or extended rcode out of range (RFC 6891 6.1.3)")
    parts = []
    for option in edns.options:
        if isinstance(option, ClientSubnet):
            code, data = option.code, option.to_wire()
        else:
            code, data = option.code, option.data
        if len(data) > 0xFFFF:
            raise LocalProtocolError(f"EDNS option {code} longer than 65535 octets")
        parts.append(_OPTION.pack(code, len(data)))
        parts.append(data)
    rdata = b"".join(parts)
    if len(rdata) > 0xFFFF:
        raise LocalProtocolError("EDNS options longer than 65535 octets")
    ttl = (ext_rcode << 24) | (edns.version << 16) | (_DO if edns.dnssec_ok else 0) | edns.z
    return b"\x00" + _OPT_FIXED.pack(RRType.OPT, edns.payload, ttl, len(rdata)) + rdata
