"""The SOCKS messages as slotted dataclasses, and the protocol's numbers as enums.

Theory of operation: one class per message of SOCKS4/4a (the "SOCKS 4" and "SOCKS 4A" protocol
documents), SOCKS5 (RFC 1928) and its username/password authentication (RFC 1929). A message holds
its meaning, not its bytes: version fields, reserved octets and lengths are written by the
encoder, and SOCKS4a's ``0.0.0.x`` trick is just a domain name in :class:`Address`. Which side
sends which message is fixed by the protocol:

=====================  ============  ==========================================================
message                sent by       wire (RFC 1928 unless said otherwise)
=====================  ============  ==========================================================
Greeting               client        ``VER=5 NMETHODS METHODS``                    (3)
MethodSelection        server        ``VER=5 METHOD``                              (3)
UserPassRequest        client        ``VER=1 ULEN UNAME PLEN PASSWD``              (RFC 1929 2)
UserPassReply          server        ``VER=1 STATUS``                              (RFC 1929 2)
Request                client        ``VER=5 CMD RSV=0 ATYP DST.ADDR DST.PORT``    (4)
Reply                  server        ``VER=5 REP RSV=0 ATYP BND.ADDR BND.PORT``    (6)
Socks4Request          client        ``VN=4 CD DSTPORT DSTIP USERID NUL [HOST NUL]`` (SOCKS4/4a)
Socks4Reply            server        ``VN=0 CD DSTPORT DSTIP``                     (SOCKS4)
Data                   either        bytes relayed once the tunnel is up
=====================  ============  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final, Self, TypeAlias

SOCKS4: Final = 4
SOCKS5: Final = 5
#: RFC 1929 2: "The VER field contains the current version of the subnegotiation, which is X'01'".
USERPASS_VERSION: Final = 1
#: RFC 1928 5: the domain name's length is one octet; RFC 1929 2: ULEN and PLEN are one octet each.
MAX_NAME_LENGTH: Final = 255


class AuthMethod(IntEnum):
    """METHOD values (RFC 1928 3); 0x03-0x7F are IANA assigned, 0x80-0xFE private."""

    NO_AUTHENTICATION = 0x00
    GSSAPI = 0x01
    USERNAME_PASSWORD = 0x02
    NO_ACCEPTABLE_METHODS = 0xFF


class Command(IntEnum):
    """CMD (RFC 1928 4); SOCKS4 has CONNECT and BIND with the same numbers."""

    CONNECT = 0x01
    BIND = 0x02
    UDP_ASSOCIATE = 0x03


class AddressType(IntEnum):
    """ATYP (RFC 1928 5)."""

    IPV4 = 0x01
    DOMAIN = 0x03
    IPV6 = 0x04


class ReplyCode(IntEnum):
    """REP, the SOCKS5 reply field (RFC 1928 6); X'09' to X'FF' are unassigned."""

    SUCCEEDED = 0x00
    GENERAL_FAILURE = 0x01
    CONNECTION_NOT_ALLOWED = 0x02
    NETWORK_UNREACHABLE = 0x03
    HOST_UNREACHABLE = 0x04
    CONNECTION_REFUSED = 0x05
    TTL_EXPIRED = 0x06
    COMMAND_NOT_SUPPORTED = 0x07
    ADDRESS_TYPE_NOT_SUPPORTED = 0x08


class Socks4Code(IntEnum):
    """CD of a SOCKS4 reply (SOCKS4 protocol document, "1) CONNECT")."""

    GRANTED = 90
    REJECTED = 91  # "request rejected or failed"
    NO_IDENTD = 92  # "rejected because SOCKS server cannot connect to identd on the client"
    IDENTD_MISMATCH = 93  # "rejected because the client program and identd report different user-ids"


@dataclass(slots=True, frozen=True)
class Address:
    """A host and a port: an IPv4 or IPv6 address, or a domain name (``str``; its octets on the
    wire are its UTF-8 encoding, read back losslessly with ``surrogateescape``; a caller that wants
    IDNA encodes it first). ``Address.of`` builds one from text."""

    host: IPv4Address | IPv6Address | str
    port: int

    @classmethod
    def of(cls, host: str, port: int) -> Self:
        """An address from text: an IP literal becomes an address, anything else a domain name."""
        try:
            return cls(ip_address(host.strip("[]")), port)
        except ValueError:
            return cls(host, port)

    @property
    def type(self) -> AddressType:
        if isinstance(self.host, IPv4Address):
            return AddressType.IPV4
        return AddressType.IPV6 if isinstance(self.host, IPv6Address) else AddressType.DOMAIN

    def __str__(self) -> str:
        host = f"[{self.host}]" if isinstance(self.host, IPv6Address) else str(self.host)
        return f"{host}:{self.port}"


#: RFC 1928 6: a server that has no address to tell still sends the fields; zeros are customary.
UNSPECIFIED: Final = Address(IPv4Address(0), 0)


@dataclass(slots=True, frozen=True)
class Greeting:
    """The client's version identifier/method selection message: the METHODS it supports."""

    methods: tuple[int, ...] = (AuthMethod.NO_AUTHENTICATION,)


@dataclass(slots=True, frozen=True)
class MethodSelection:
    """The server's METHOD selection; ``X'FF'`` refuses every offered method."""

    method: int

    @property
    def ok(self) -> bool:
        return self.method != AuthMethod.NO_ACCEPTABLE_METHODS


@dataclass(slots=True, frozen=True)
class UserPassRequest:
    """RFC 1929 username/password, each 0-255 octets (the RFC's diagram says 1-255; real clients
    send empty passwords, so the codec accepts zero)."""

    username: bytes
    password: bytes

    def __repr__(self) -> str:
        return f"UserPassRequest(username={self.username!r}, password=<{len(self.password)} octets>)"


@dataclass(slots=True, frozen=True)
class UserPassReply:
    """RFC 1929 STATUS: "A STATUS field of X'00' indicates success"."""

    status: int = 0

    @property
    def ok(self) -> bool:
        return self.status == 0


@dataclass(slots=True, frozen=True)
class Request:
    """A SOCKS5 request: CONNECT, BIND or UDP ASSOCIATE to ``address``."""

    command: int
    address: Address


@dataclass(slots=True, frozen=True)
class Reply:
    """A SOCKS5 reply: REP and the BND.ADDR/BND.PORT the server used (for UDP ASSOCIATE, where to
    send datagrams; for BIND, the listening and then the connecting address)."""

    code: int = ReplyCode.SUCCEEDED
    address: Address = UNSPECIFIED

    @property
    def ok(self) -> bool:
        return self.code == ReplyCode.SUCCEEDED


@dataclass(slots=True, frozen=True)
class Socks4Request:
    """A SOCKS4 request (CONNECT or BIND). An IPv4 ``address.host`` is SOCKS4; a domain name is
    SOCKS4a, sent as DSTIP ``0.0.0.1`` with the name after USERID."""

    command: int
    address: Address
    userid: bytes = b""


@dataclass(slots=True, frozen=True)
class Socks4Reply:
    """A SOCKS4 reply: CD and, for BIND, the address the server listens on (else ignored)."""

    code: int = Socks4Code.GRANTED
    address: Address = UNSPECIFIED

    @property
    def ok(self) -> bool:
        return self.code == Socks4Code.GRANTED


@dataclass(slots=True, frozen=True)
class Data:
    """Bytes of the tunnel, once the handshake is done."""

    data: bytes


Message: TypeAlias = (
    Greeting | MethodSelection | UserPassRequest | UserPassReply | Request | Reply | Socks4Request
    | Socks4Reply
)
Event: TypeAlias = Message | Data
