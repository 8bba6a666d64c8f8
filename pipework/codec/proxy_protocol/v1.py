"""Version 1, the human-readable header: one line of US-ASCII text (spec 2.1).

Theory of operation: ``PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\\r\\n``: the word PROXY, the
protocol (TCP4, TCP6 or UNKNOWN), source and destination addresses, source and destination ports,
"exactly one space" between each, then CRLF. :func:`decode_v1` waits for the CRLF ("The receiver
must wait for the CRLF sequence before starting to decode the addresses") but never past
:data:`MAX_V1_LENGTH` bytes ("If the CRLF sequence is not found in the first 107 characters, the
receiver should declare the line invalid"), and refuses a line ended by a lone CR or LF ("The
receiver must not tolerate a single CR or LF character to end the line").

Fields are matched strictly, since "Any sequence which does not exactly match the protocol must
be discarded": decimal ports and IPv4 numbers without heading zeroes ("in order to avoid any
possible confusion with octal numbers"), IPv6 in hexadecimal and colons (and the embedded IPv4
form; never a zone such as ``%eth0``), and the address family matching the protocol word. After
UNKNOWN "the receiver must ignore anything presented before the CRLF is found".
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address
from typing import Final

from .errors import LocalProtocolError, Reason, RemoteProtocolError
from .header import Command, Family, ProxyHeader, Transport, inet_pair

#: Spec 2.1: the worst case, "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n" is
#: 107 chars, "So a 108-byte buffer is always enough to store all the line".
MAX_V1_LENGTH: Final = 107
V1_PREFIX: Final = b"PROXY "

_PORT: Final = re.compile(rb"0|[1-9][0-9]{0,4}")
_IPV4: Final = re.compile(rb"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_IPV6: Final = re.compile(rb"[0-9A-Fa-f:.]{2,45}")
_FAMILIES: Final = {b"TCP4": Family.INET, b"TCP6": Family.INET6}


def _error(msg: str, reason: Reason = Reason.LINE) -> RemoteProtocolError:
    return RemoteProtocolError(msg, reason, 1)


def decode_v1(buf: bytes | bytearray) -> tuple[ProxyHeader, int] | None:
    """A v1 header at the start of ``buf`` and its length, or None until its CRLF has arrived.

    Raises RemoteProtocolError as soon as the bytes cannot be a v1 header.
    """
    head = bytes(buf[: len(V1_PREFIX)])
    if not V1_PREFIX.startswith(head):
        raise _error(f"{head!r} does not start 'PROXY '", Reason.SIGNATURE)
    window = bytes(buf[:MAX_V1_LENGTH])
    newline = window.find(b"\n")
    cr = window.find(b"\r")
    if newline < 0:
        if 0 <= cr < len(window) - 1:
            raise _error("a CR inside the line: it must end with CRLF, and only there")
        if len(buf) >= MAX_V1_LENGTH:
            raise _error(f"no CRLF in the first {MAX_V1_LENGTH} bytes (spec 2.1)")
        return None
    if cr != newline - 1:
        raise _error("the line ends with a lone LF or holds a CR: the receiver must not tolerate it")
    return _parse_line(window[len(V1_PREFIX) : cr]), newline + 1


def _parse_line(line: bytes) -> ProxyHeader:
    protocol, _, rest = line.partition(b" ")
    if protocol == b"UNKNOWN":
        return ProxyHeader(Command.PROXY, version=1)
    family = _FAMILIES.get(protocol)
    if family is None:
        raise _error(f"protocol {protocol[:16]!r} is not TCP4, TCP6 or UNKNOWN", Reason.FAMILY)
    fields = rest.split(b" ")
    if len(fields) != 4:
        raise _error(f"{len(fields)} fields after {protocol.decode()}: two addresses and two ports, "
                     "separated by exactly one space")
    src, dst = (_address(field, family) for field in fields[:2])
    sport, dport = (_port(field) for field in fields[2:])
    return ProxyHeader(Command.PROXY, family, Transport.STREAM, (src, sport), (dst, dport), version=1)


def _address(text: bytes, family: Family) -> IPv4Address | IPv6Address:
    pattern = _IPV4 if family is Family.INET else _IPV6
    try:
        if not pattern.fullmatch(text):
            raise ValueError(text)
        return IPv4Address(text.decode()) if family is Family.INET else IPv6Address(text.decode())
    except ValueError:
        raise _error(f"{text[:48]!r} is not an {'IPv4' if family is Family.INET else 'IPv6'} address "
                     "in its canonical format", Reason.ADDRESS) from None


def _port(text: bytes) -> int:
    if not _PORT.fullmatch(text) or int(text) > 0xFFFF:
        raise _error(f"port {text[:8]!r} is not a decimal in [0..65535] without heading zeroes",
                     Reason.ADDRESS)
    return int(text)


def encode_v1(header: ProxyHeader) -> bytes:
    """The v1 line of ``header``. Raises LocalProtocolError for what v1 cannot say: LOCAL, UDP,
    UNIX sockets, TLVs (use version 2). A PROXY header with family UNSPEC becomes the short
    ``PROXY UNKNOWN\\r\\n``."""
    if header.command is not Command.PROXY:
        raise LocalProtocolError("version 1 has no LOCAL command: send a real PROXY line or use v2",
                                 Reason.COMMAND, 1)
    if header.tlvs:
        raise LocalProtocolError("version 1 has no TLVs", Reason.TLV, 1)
    if header.family is Family.UNSPEC:
        return b"PROXY UNKNOWN\r\n"
    word = {Family.INET: "TCP4", Family.INET6: "TCP6"}.get(header.family)
    if word is None or header.transport is not Transport.STREAM:
        raise LocalProtocolError(f"version 1 carries TCP over IPv4 or IPv6 only, not {header.family.name}/"
                                 f"{header.transport.name}", Reason.FAMILY, 1)
    src, dst = (inet_pair(a, header.family, 1) for a in (header.source, header.destination))
    return f"PROXY {word} {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()
