"""The PROXY protocol header as a frozen dataclass, with its numbers as enums.

Theory of operation: one :class:`ProxyHeader` describes both versions. Version 1 is a subset:
PROXY command, TCP over IPv4 or IPv6, or UNKNOWN (family and transport UNSPEC, no addresses), and
no TLVs. Version 2 adds LOCAL, UDP, UNIX sockets and TLVs. Addresses are ``(ip, port)`` tuples
for INET and INET6 and ``bytes`` paths for UNIX. TLVs are kept in wire order as :class:`TLV`
pairs, so that a proxy can pass a header on unchanged; the properties (``alpn``, ``authority``,
``ssl``...) read the registered types (spec 2.2). The decoder has already checked every TLV
of a registered type, so the properties do not raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final, Self, TypeAlias

from .errors import LocalProtocolError, Reason

#: Spec 2.2.5: "an opaque byte sequence of up to 128 bytes".
MAX_UNIQUE_ID_LENGTH: Final = 128
#: Spec 2.2: "AF_UNIX ... The addresses are exactly 108 bytes each".
UNIX_ADDRESS_SIZE: Final = 108


class Command(IntEnum):
    """The low nibble of v2's 13th byte (spec 2.2)."""

    LOCAL = 0x0  # "established on purpose by the proxy without being relayed" (health checks)
    PROXY = 0x1  # "established on behalf of another node"


class Family(IntEnum):
    """The high nibble of v2's 14th byte: the address family."""

    UNSPEC = 0x0
    INET = 0x1
    INET6 = 0x2
    UNIX = 0x3


class Transport(IntEnum):
    """The low nibble of v2's 14th byte: the transport protocol."""

    UNSPEC = 0x0
    STREAM = 0x1
    DGRAM = 0x2


class TLVType(IntEnum):
    """Registered TLV types (spec 2.2); 0xE0-0xEF custom, 0xF0-0xF7 experimental, 0xF8-0xFF future."""

    ALPN = 0x01
    AUTHORITY = 0x02
    CRC32C = 0x03
    NOOP = 0x04
    UNIQUE_ID = 0x05
    SSL = 0x20
    SSL_VERSION = 0x21
    SSL_CN = 0x22
    SSL_CIPHER = 0x23
    SSL_SIG_ALG = 0x24
    SSL_KEY_ALG = 0x25
    NETNS = 0x30


class SSLClient(IntFlag):
    """The ``client`` bit field of PP2_TYPE_SSL (spec 2.2.6)."""

    SSL = 0x01  # "the client connected over SSL/TLS"
    CERT_CONN = 0x02  # "the client provided a certificate over the current connection"
    CERT_SESS = 0x04  # "... at least once over the TLS session this connection belongs to"


InetAddress: TypeAlias = tuple[IPv4Address | IPv6Address, int]
Address: TypeAlias = InetAddress | bytes


def inet_pair(address: object, family: Family, version: int) -> InetAddress:
    """``address`` checked to be an (IPv4Address, port) pair for INET, (IPv6Address, port) for
    INET6; raises LocalProtocolError otherwise (for the encoders)."""
    kind = IPv4Address if family is Family.INET else IPv6Address
    if (isinstance(address, tuple) and len(address) == 2 and isinstance(address[0], kind)
            and type(address[1]) is int and 0 <= address[1] <= 0xFFFF):
        return address
    raise LocalProtocolError(f"{address!r} is not an ({kind.__name__}, port) pair for {family.name}",
                             Reason.ADDRESS, version)


@dataclass(slots=True, frozen=True)
class TLV:
    """One Type-Length-Value vector: ``type`` is one octet, ``value`` at most 65535 octets."""

    type: int
    value: bytes = b""


@dataclass(slots=True, frozen=True)
class SSLInfo:
    """The value of PP2_TYPE_SSL: ``struct pp2_tlv_ssl { uint8_t client; uint32_t verify;
    struct pp2_tlv sub_tlv[0]; }``. "The <verify> field will be zero if the client presented a
    certificate and it was successfully verified, and non-zero otherwise"."""

    client: int = SSLClient.SSL
    verify: int = 0
    tlvs: tuple[TLV, ...] = ()

    def _string(self, kind: TLVType) -> str | None:
        for tlv in self.tlvs:
            if tlv.type == kind:
                return tlv.value.decode("utf-8" if kind == TLVType.SSL_CN else "ascii")
        return None

    @property
    def version(self) -> str | None:
        """The TLS version, e.g. ``"TLSv1.3"`` (PP2_SUBTYPE_SSL_VERSION, US-ASCII)."""
        return self._string(TLVType.SSL_VERSION)

    @property
    def cn(self) -> str | None:
        """The client certificate's Common Name (PP2_SUBTYPE_SSL_CN, UTF-8)."""
        return self._string(TLVType.SSL_CN)

    @property
    def cipher(self) -> str | None:
        return self._string(TLVType.SSL_CIPHER)

    @property
    def sig_alg(self) -> str | None:
        return self._string(TLVType.SSL_SIG_ALG)

    @property
    def key_alg(self) -> str | None:
        return self._string(TLVType.SSL_KEY_ALG)


@dataclass(slots=True, frozen=True)
class ProxyHeader:
    """A PROXY protocol header of either version.

    ``source`` and ``destination`` are None exactly when ``family`` is UNSPEC (and may be None
    for a LOCAL header, whose addresses the receiver ignores). ``tlvs`` is empty in version 1.
    """

    command: Command = Command.PROXY
    family: Family = Family.UNSPEC
    transport: Transport = Transport.UNSPEC
    source: Address | None = None
    destination: Address | None = None
    tlvs: tuple[TLV, ...] = ()
    version: int = 2

    @classmethod
    def proxy(cls, source: tuple[str, int], destination: tuple[str, int], *,
              transport: Transport = Transport.STREAM, tlvs: tuple[TLV, ...] = (), version: int = 2) -> Self:
        """A PROXY header for a relayed TCP (or UDP) connection between two IP endpoints given as
        text, e.g. ``ProxyHeader.proxy(("192.0.2.1", 56324), ("192.0.2.11", 443))``."""
        src, dst = ip_address(source[0]), ip_address(destination[0])
        family = Family.INET if src.version == 4 else Family.INET6
        return cls(Command.PROXY, family, transport, (src, source[1]), (dst, destination[1]), tlvs, version)

    @classmethod
    def local(cls, *, tlvs: tuple[TLV, ...] = ()) -> Self:
        """A LOCAL header (v2), as a proxy sends on its own connections, e.g. health checks."""
        return cls(Command.LOCAL, tlvs=tlvs)

    def tlv(self, kind: int) -> bytes | None:
        """The value of the first TLV of type ``kind``, or None."""
        for tlv in self.tlvs:
            if tlv.type == kind:
                return tlv.value
        return None

    @property
    def alpn(self) -> bytes | None:
        """PP2_TYPE_ALPN: the upper layer protocol, e.g. ``b"h2"``."""
        return self.tlv(TLVType.ALPN)

    @property
    def authority(self) -> str | None:
        """PP2_TYPE_AUTHORITY: "the host name value passed by the client, as an UTF8-encoded
        string" (the TLS SNI when TLS was used)."""
        value = self.tlv(TLVType.AUTHORITY)
        return None if value is None else value.decode()

    @property
    def crc32c(self) -> int | None:
        """PP2_TYPE_CRC32C's value (the decoder verified it)."""
        value = self.tlv(TLVType.CRC32C)
        return None if value is None else int.from_bytes(value, "big")

    @property
    def unique_id(self) -> bytes | None:
        """PP2_TYPE_UNIQUE_ID: up to 128 opaque bytes identifying the connection."""
        return self.tlv(TLVType.UNIQUE_ID)

    @property
    def netns(self) -> str | None:
        """PP2_TYPE_NETNS: "the US-ASCII string representation of the namespace's name"."""
        value = self.tlv(TLVType.NETNS)
        return None if value is None else value.decode("ascii")

    @property
    def ssl(self) -> SSLInfo | None:
        """PP2_TYPE_SSL, parsed."""
        from .tlv import parse_ssl  # imported here: tlv.py imports this module

        value = self.tlv(TLVType.SSL)
        return None if value is None else parse_ssl(value)
