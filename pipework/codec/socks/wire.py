"""SOCKS messages to bytes and back, one function per message.

Theory of operation: every ``parse_*(buf, pos)`` reads one message at ``buf[pos:]`` and returns
``(message, end)``, or None while ``buf`` holds only a prefix of it, so that the connection can
call it again when more bytes arrive (SOCKS messages are small and never re-parsed more than a
few times). A parser raises RemoteProtocolError as soon as the bytes it has cannot start a valid
message, with the ``reply_code`` that refuses it (see :mod:`.errors`). :func:`encode` writes any
message and raises LocalProtocolError for values the wire cannot carry. Fixed headers are
class-level ``struct.Struct`` objects.

The rules enforced, beside the field layouts, with the spec's words:

* RFC 1928 3: NMETHODS counts the METHODS that follow and is "1 to 255".
* RFC 1928 4 and 6: "Fields marked RESERVED (RSV) must be set to X'00'."
* RFC 1928 5: for a domain name, "The first octet of the address field contains the number of
  octets of name that follow, there is no terminating NUL octet." An empty name, or one holding
  a NUL (which would cut it short in any C resolver), is refused.
* RFC 1929 2: "The VER field contains the current version of the subnegotiation, which is X'01'".
* SOCKS4: the reply's "VN is the version of the reply code and should be 0". SOCKS4a: "if the
  client cannot resolve the destination host's domain name ... it should set the first three
  bytes of DSTIP to NULL and the last byte to a non-zero value", and "Following the NULL byte
  terminating USERID, the client must send the destination domain name and terminate it with
  another NULL byte."
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address
from typing import Final

from .errors import LocalProtocolError, RemoteProtocolError
from .messages import (
    MAX_NAME_LENGTH,
    SOCKS4,
    SOCKS5,
    USERPASS_VERSION,
    Address,
    AddressType,
    AuthMethod,
    Command,
    Greeting,
    Message,
    MethodSelection,
    Reply,
    ReplyCode,
    Request,
    Socks4Code,
    Socks4Reply,
    Socks4Request,
    UserPassReply,
    UserPassRequest,
)

Buffer = bytes | bytearray

#: The SOCKS4 documents set no bound on USERID or on the SOCKS4a host name, which end at a NUL;
#: without one a peer could make us buffer until it sends a NUL. 255 octets is the longest
#: domain name (RFC 1035) and more than any identd user name.
MAX_SOCKS4_FIELD: Final = 255

_HEAD: Final = struct.Struct("!BBBB")  # VER CMD|REP RSV ATYP
_PORT: Final = struct.Struct("!H")
_SOCKS4: Final = struct.Struct("!BBH4s")  # VN CD DSTPORT DSTIP
_ADDRESS_SIZES: Final[dict[int, int]] = {AddressType.IPV4: 4, AddressType.IPV6: 16}
_GENERAL: Final = ReplyCode.GENERAL_FAILURE
_REJECTED: Final = Socks4Code.REJECTED


def _remote(msg: str, code: int | None, version: int | None = SOCKS5) -> RemoteProtocolError:
    return RemoteProtocolError(msg, code, version)


def read_address(buf: Buffer, pos: int, code: int | None) -> tuple[Address, int] | None:
    """ATYP, DST.ADDR and DST.PORT at ``pos`` (RFC 1928 4, 5); ``code`` is the refusal to raise with."""
    if pos >= len(buf):
        return None
    atyp = buf[pos]
    size = _ADDRESS_SIZES.get(atyp)
    if size is not None:
        end = pos + 1 + size
        if end + 2 > len(buf):
            return None
        raw = bytes(buf[pos + 1 : end])
        host: IPv4Address | IPv6Address | str = IPv4Address(raw) if size == 4 else IPv6Address(raw)
    elif atyp == AddressType.DOMAIN:
        if pos + 1 >= len(buf):
            return None
        end = pos + 2 + buf[pos + 1]
        if end + 2 > len(buf):
            return None
        host = _domain(bytes(buf[pos + 2 : end]), code, SOCKS5)
    else:
        raise _remote(f"address type {atyp:#04x} is not IPv4, domain or IPv6 (RFC 1928 5)",
                      ReplyCode.ADDRESS_TYPE_NOT_SUPPORTED if code is not None else None)
    return Address(host, _PORT.unpack_from(buf, end)[0]), end + 2


def _domain(name: bytes, code: int | None, version: int) -> str:
    if not name or b"\x00" in name:
        raise _remote(f"domain name {name!r} is empty or holds a NUL", code, version)
    return name.decode("utf-8", "surrogateescape")


def parse_greeting(buf: Buffer, pos: int) -> tuple[Greeting, int] | None:
    if len(buf) - pos < 2:
        return None
    ver, count = buf[pos], buf[pos + 1]
    refuse = AuthMethod.NO_ACCEPTABLE_METHODS
    if ver != SOCKS5:
        raise _remote(f"greeting of version {ver}, not 5 (RFC 1928 3)", refuse)
    if count == 0:
        raise _remote("greeting offers no method: NMETHODS is 1 to 255 (RFC 1928 3)", refuse)
    end = pos + 2 + count
    if end > len(buf):
        return None
    return Greeting(tuple(buf[pos + 2 : end])), end


def parse_method_selection(buf: Buffer, pos: int) -> tuple[MethodSelection, int] | None:
    if len(buf) - pos < 2:
        return None
    if buf[pos] != SOCKS5:
        raise _remote(f"method selection of version {buf[pos]}, not 5 (RFC 1928 3)", None)
    return MethodSelection(buf[pos + 1]), pos + 2


def parse_userpass_request(buf: Buffer, pos: int) -> tuple[UserPassRequest, int] | None:
    if len(buf) - pos < 2:
        return None
    if buf[pos] != USERPASS_VERSION:
        raise _remote(f"username/password version {buf[pos]}, not 1 (RFC 1929 2)", 0x01)
    ulen_at = pos + 1
    plen_at = ulen_at + 1 + buf[ulen_at]
    if plen_at >= len(buf):
        return None
    end = plen_at + 1 + buf[plen_at]
    if end > len(buf):
        return None
    return UserPassRequest(bytes(buf[ulen_at + 1 : plen_at]), bytes(buf[plen_at + 1 : end])), end


def parse_userpass_reply(buf: Buffer, pos: int) -> tuple[UserPassReply, int] | None:
    if len(buf) - pos < 2:
        return None
    if buf[pos] != USERPASS_VERSION:
        raise _remote(f"username/password reply of version {buf[pos]}, not 1 (RFC 1929 2)", None)
    return UserPassReply(buf[pos + 1]), pos + 2


def parse_request(buf: Buffer, pos: int) -> tuple[Request, int] | None:
    if len(buf) - pos < _HEAD.size:
        return None
    ver, cmd, rsv, _ = _HEAD.unpack_from(buf, pos)
    if ver != SOCKS5:
        raise _remote(f"request of version {ver}, not 5 (RFC 1928 4)", _GENERAL)
    if cmd not in (Command.CONNECT, Command.BIND, Command.UDP_ASSOCIATE):
        raise _remote(f"command {cmd:#04x} is not CONNECT, BIND or UDP ASSOCIATE (RFC 1928 4)",
                      ReplyCode.COMMAND_NOT_SUPPORTED)
    if rsv != 0:
        raise _remote(f"RSV is {rsv:#04x}: it must be set to X'00' (RFC 1928 4)", _GENERAL)
    address = read_address(buf, pos + 3, _GENERAL)
    if address is None:
        return None
    return Request(Command(cmd), address[0]), address[1]


def parse_reply(buf: Buffer, pos: int) -> tuple[Reply, int] | None:
    if len(buf) - pos < _HEAD.size:
        return None
    ver, rep, rsv, _ = _HEAD.unpack_from(buf, pos)
    if ver != SOCKS5:
        raise _remote(f"reply of version {ver}, not 5 (RFC 1928 6)", None)
    if rsv != 0:
        raise _remote(f"RSV is {rsv:#04x}: it must be set to X'00' (RFC 1928 6)", None)
    address = read_address(buf, pos + 3, None)
    if address is None:
        return None
    return Reply(rep, address[0]), address[1]


def parse_socks4_request(buf: Buffer, pos: int) -> tuple[Socks4Request, int] | None:
    if len(buf) - pos < _SOCKS4.size:
        return None
    vn, cd, port, dstip = _SOCKS4.unpack_from(buf, pos)
    if vn != SOCKS4:
        raise _remote(f"SOCKS4 request of version {vn}", _REJECTED, SOCKS4)
    if cd not in (Command.CONNECT, Command.BIND):
        raise _remote(f"SOCKS4 command {cd} is not CONNECT (1) or BIND (2)", _REJECTED, SOCKS4)
    field = _nul_terminated(buf, pos + _SOCKS4.size, "USERID")
    if field is None:
        return None
    userid, end = field
    host: IPv4Address | str = IPv4Address(dstip)
    if dstip[:3] == b"\x00\x00\x00" and dstip[3]:  # SOCKS4a: 0.0.0.x, x nonzero, then the name
        name = _nul_terminated(buf, end, "SOCKS4a host name")
        if name is None:
            return None
        host = _domain(name[0], _REJECTED, SOCKS4)
        end = name[1]
    return Socks4Request(Command(cd), Address(host, port), userid), end


def _nul_terminated(buf: Buffer, start: int, what: str) -> tuple[bytes, int] | None:
    nul = buf.find(b"\x00", start, start + MAX_SOCKS4_FIELD + 1)
    if nul < 0:
        if len(buf) - start > MAX_SOCKS4_FIELD:
            raise _remote(f"{what} longer than {MAX_SOCKS4_FIELD} octets", _REJECTED, SOCKS4)
        return None
    return bytes(buf[start:nul]), nul + 1


def parse_socks4_reply(buf: Buffer, pos: int) -> tuple[Socks4Reply, int] | None:
    if len(buf) - pos < _SOCKS4.size:
        return None
    vn, cd, port, dstip = _SOCKS4.unpack_from(buf, pos)
    if vn != 0:
        raise _remote(f"SOCKS4 reply of version {vn}: 'VN ... should be 0'", None, SOCKS4)
    return Socks4Reply(cd, Address(IPv4Address(dstip), port)), pos + _SOCKS4.size


def _byte(value: int, what: str) -> int:
    if not 0 <= value <= 0xFF:
        raise LocalProtocolError(f"{what} {value!r} does not fit one octet")
    return value


def _short(blob: bytes, what: str, least: int = 0) -> bytes:
    if not least <= len(blob) <= MAX_NAME_LENGTH:
        raise LocalProtocolError(f"{what} of {len(blob)} octets: it must be {least} to {MAX_NAME_LENGTH}")
    return bytes((len(blob),)) + blob


def encode_address(address: Address) -> bytes:
    """ATYP, the address and the port (RFC 1928 5)."""
    if not 0 <= address.port <= 0xFFFF:
        raise LocalProtocolError(f"port {address.port!r} is not 0-65535")
    host = address.host
    if isinstance(host, (IPv4Address, IPv6Address)):
        head = bytes((AddressType.IPV4 if host.version == 4 else AddressType.IPV6,)) + host.packed
    else:
        name = host.encode("utf-8", "surrogateescape")
        if b"\x00" in name:
            raise LocalProtocolError(f"domain name {host!r} holds a NUL")
        head = bytes((AddressType.DOMAIN,)) + _short(name, "domain name", 1)
    return head + _PORT.pack(address.port)


def _socks4_address(address: Address, userid: bytes | None) -> tuple[bytes, bytes]:
    """DSTPORT+DSTIP and, for SOCKS4a, the name to put after USERID."""
    if not 0 <= address.port <= 0xFFFF:
        raise LocalProtocolError(f"port {address.port!r} is not 0-65535")
    host = address.host
    if isinstance(host, IPv4Address):
        if userid is not None and host.packed[:3] == b"\x00\x00\x00" and host.packed[3]:
            raise LocalProtocolError(f"{host} in a SOCKS4 request would read as SOCKS4a's 0.0.0.x")
        return _PORT.pack(address.port) + host.packed, b""
    if isinstance(host, IPv6Address) or userid is None:
        raise LocalProtocolError(f"SOCKS4 cannot carry {host!r}: an IPv4 address (or a name in a 4a request)")
    name = host.encode("utf-8", "surrogateescape")
    if not name or b"\x00" in name or len(name) > MAX_SOCKS4_FIELD:
        raise LocalProtocolError(f"SOCKS4a host name {host!r} is empty, holds a NUL or is too long")
    return _PORT.pack(address.port) + b"\x00\x00\x00\x01", name + b"\x00"


def encode(message: Message) -> bytes:
    """The wire form of ``message``. Raises LocalProtocolError for what SOCKS cannot carry."""
    if isinstance(message, Greeting):
        if not message.methods:
            raise LocalProtocolError("a greeting offers 1 to 255 methods (RFC 1928 3)")
        return bytes((SOCKS5,)) + _short(bytes(_byte(m, "method") for m in message.methods), "methods", 1)
    if isinstance(message, MethodSelection):
        return bytes((SOCKS5, _byte(message.method, "method")))
    if isinstance(message, UserPassRequest):
        return (bytes((USERPASS_VERSION,)) + _short(message.username, "username")
                + _short(message.password, "password"))
    if isinstance(message, UserPassReply):
        return bytes((USERPASS_VERSION, _byte(message.status, "status")))
    if isinstance(message, Request):
        if message.command not in (Command.CONNECT, Command.BIND, Command.UDP_ASSOCIATE):
            raise LocalProtocolError(f"command {message.command!r} is not CONNECT, BIND or UDP ASSOCIATE")
        return bytes((SOCKS5, message.command, 0)) + encode_address(message.address)
    if isinstance(message, Reply):
        return bytes((SOCKS5, _byte(message.code, "reply code"), 0)) + encode_address(message.address)
    if isinstance(message, Socks4Request):
        if message.command not in (Command.CONNECT, Command.BIND):
            raise LocalProtocolError(f"SOCKS4 command {message.command!r} is not CONNECT or BIND")
        if b"\x00" in message.userid or len(message.userid) > MAX_SOCKS4_FIELD:
            raise LocalProtocolError("USERID holds a NUL or is longer than 255 octets")
        fields, name = _socks4_address(message.address, message.userid)
        return bytes((SOCKS4, message.command)) + fields + message.userid + b"\x00" + name
    if isinstance(message, Socks4Reply):
        return bytes((0, _byte(message.code, "reply code"))) + _socks4_address(message.address, None)[0]
    raise TypeError(f"not a SOCKS message: {message!r}")
