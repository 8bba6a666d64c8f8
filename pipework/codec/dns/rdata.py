"""Typed RDATA: one frozen dataclass per record type, plus ``Unknown`` for everything else.

Theory of operation: each class knows its type code (``rtype``), reads itself from a message with
``from_wire(buf, start, end, cache)`` — ``buf`` is the whole message so that compressed names can be
followed, ``start:end`` is the RDATA — and appends itself to a message being built with
``to_wire(out, compressor)``. ``decode_rdata`` picks the class from the type and class codes:

- A, AAAA, SRV, SVCB and HTTPS are defined for class IN only (RFC 3597 4 calls them class-specific);
  in another class, as every type the codec does not know, the RDATA stays ``Unknown(rtype, data)``
  and is written back octet for octet (RFC 3597 3).
- Empty RDATA is always ``Unknown``: no known type has an empty RDATA, and dynamic update (RFC
  2136 2.5) uses empty RDATA with classes ANY and NONE to delete RRsets.
- Names in RDATA are decompressed wherever they appear; on output only the RFC 1035 types (NS,
  CNAME, SOA, PTR, MX) are compressed (RFC 3597 4: "MUST NOT compress" the others).

An RDATA that does not match its type's format (an A of 5 octets, a name that overruns the RDLENGTH,
trailing octets) raises ``RemoteProtocolError`` (FORMERR).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import ClassVar, Self

from .constants import RRClass, RRType
from .errors import LocalProtocolError, RemoteProtocolError
from .names import Compressor, Name, NameCache, read_name
from .svcb import HTTPS, SVCB

_U16 = struct.Struct("!H")
_SRV = struct.Struct("!HHH")
_SOA_TIMERS = struct.Struct("!IIIII")


def _name_exactly(buf: bytes, start: int, end: int, cache: NameCache, what: str) -> Name:
    name, stop = read_name(buf, start, cache)
    if stop != end:
        raise RemoteProtocolError(f"{what} RDATA: the name does not end where RDLENGTH says")
    return name


def _fixed(buf: bytes, start: int, end: int, size: int, what: str) -> None:
    if end - start < size:
        raise RemoteProtocolError(f"{what} RDATA shorter than its fixed part ({size} octets)")


@dataclass(slots=True, frozen=True)
class A:
    """An IPv4 address (RFC 1035 3.4.1), class IN."""

    rtype: ClassVar[int] = RRType.A
    address: IPv4Address

    @classmethod
    def from_wire(cls, buf: bytes, start: int, end: int, cache: NameCache) -> Self:
        if end - start != 4:
            raise RemoteProtocolError(f"A RDATA is {end - start} octets, not 4 (RFC 1035 3.4.1)")
        return cls(IPv4Address(buf[start:end]))

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        out += self.address.packed


@dataclass(slots=True, frozen=True)
class AAAA:
    """An IPv6 address (RFC 3596 2.2), class IN."""

    rtype: ClassVar[int] = RRType.AAAA
    address: IPv6Address

    @classmethod
    def from_wire(cls, buf: bytes, start: int, end: int, cache: NameCache) -> Self:
        if end - start != 16:
            raise RemoteProtocolError(f"AAAA RDATA is {end - start} octets, not 16 (RFC 3596 2.2)")
        return cls(IPv6Address(buf[start:end]))

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        out += self.address.packed


@dataclass(slots=True, frozen=True)
class CNAME:
    """The canonical name of an alias (RFC 1035 3.3.1)."""

    rtype: ClassVar[int] = RRType.CNAME
    target: Name

    @classmethod
    def from_wire(cls, buf: bytes, start: int, end: int, cache: NameCache) -> Self:
        return cls(_name_exactly(buf, start, end, cache, "CNAME"))

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        compressor.write(out, self.target)


@dataclass(slots=True, frozen=True)
class NS:
    """An authoritative name server (RFC 1035 3.3.11)."""

    rtype: ClassVar[int] = RRType.NS
    target: Name

    @classmethod
    def from_wire(cls, buf: bytes, start: int, end: int, cache: NameCache) -> Self:
        return cls(_name_exactly(buf, start, end, cache, "NS"))

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        compressor.write(out, self.target)


@dataclass(slots=True, frozen=True)
class PTR:
    """A pointer to another name, as in reverse lookups (RFC 1035 3.3.12)."""

    rtype: ClassVar[int] = RRType.PTR
    target: Name

    @classmethod
    def from_wire(cls, buf: bytes, start: int, end: int, cache: NameCache) -> Self:
        return cls(_name_exactly(buf, start, end, cache, "PTR"))

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        compressor.write(out, self.target)


@dataclass(slots=True, frozen=True)
class MX:
    """A mail exchanger and its preference, lower first (RFC 1035 3.3.9)."""

    rtype: ClassVar[int] = RRType.MX
    preference: int
    exchange: Name

    @classmethod
    def from_wire(cls, buf: bytes, start: int, end: int, cache: NameCache) -> Self:
        _fixed(buf, start, end, 3, "MX")
        return cls(_U16.unpack_from(buf, start)[0], _name_exactly(buf, start + 2, end, cache, "MX"))

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        out += _U16.pack(self.preference)
        compressor.write(out, self.exchange)


@dataclass(slots=True, frozen=True)
class TXT:
    """One or more character-strings of up to 255 octets each (RFC 1035 3.3.14)."""

    rtype: ClassVar[int] = RRType.TXT
    strings: tuple[bytes, ...]

    @classmethod
    def from_wire(cls, buf: bytes, start: int, end: int, cache: NameCache) -> Self:
        strings = []
        pos = start
        while pos < end:
            nxt = pos + 1 + buf[pos]
            if nxt > end:
                raise RemoteProtocolError("TXT character-string runs past RDLENGTH")
            strings.append(buf[pos + 1 : nxt])
            pos = nxt
        return cls(tuple(strings))

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        if not self.strings:
            raise LocalProtocolError("TXT needs at least one character-string (RFC 1035 3.3.14)")
        for s in self.strings:
            if len(s) > 255:
                raise LocalProtocolError("TXT character-string longer than 255 octets (RFC 1035 3.3)")
            out.append(len(s))
            out += s


@dataclass(slots=True, frozen=True)
class SRV:
    """A service location (RFC 2782), class IN; the target is never compressed."""

    rtype: ClassVar[int] = RRType.SRV
    priority: int
    weight: int
    port: int
    target: Name

    @classmethod
    def from_wire(cls, buf: bytes, start: int, end: int, cache: NameCache) -> Self:
        _fixed(buf, start, end, 7, "SRV")
        priority, weight, port = _SRV.unpack_from(buf, start)
        return cls(priority, weight, port, _name_exactly(buf, start + 6, end, cache, "SRV"))

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        out += _SRV.pack(self.priority, self.weight, self.port)
        # RFC 2782: "name compression is not to be used for this field".
        compressor.write(out, self.target, compress=False)


@dataclass(slots=True, frozen=True)
class SOA:
    """The start of a zone of authority (RFC 1035 3.3.13); also the negative-caching TTL (RFC 2308)."""

    rtype: ClassVar[int] = RRType.SOA
    mname: Name
    rname: Name
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int

    @classmethod
    def from_wire(cls, buf: bytes, start: int, end: int, cache: NameCache) -> Self:
        mname, pos = read_name(buf, start, cache)
        rname, pos = read_name(buf, pos, cache)
        if end - pos != _SOA_TIMERS.size:
            raise RemoteProtocolError("SOA RDATA: the names and five counters do not fill RDLENGTH")
        return cls(mname, rname, *_SOA_TIMERS.unpack_from(buf, pos))

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        compressor.write(out, self.mname)
        compressor.write(out, self.rname)
        out += _SOA_TIMERS.pack(self.serial, self.refresh, self.retry, self.expire, self.minimum)


@dataclass(slots=True, frozen=True)
class CAA:
    """A certification authority authorization (RFC 8659 4.1): flags, tag (``issue``...), value."""

    rtype: ClassVar[int] = RRType.CAA
    flags: int
    tag: bytes
    value: bytes

    @classmethod
    def from_wire(cls, buf: bytes, start: int, end: int, cache: NameCache) -> Self:
        _fixed(buf, start, end, 3, "CAA")
        flags, size = buf[start], buf[start + 1]
        # RFC 8659 4.1: "The tag length MUST be at least 1".
        if size == 0 or start + 2 + size > end:
            raise RemoteProtocolError("CAA tag is empty or runs past RDLENGTH (RFC 8659 4.1)")
        return cls(flags, buf[start + 2 : start + 2 + size], buf[start + 2 + size : end])

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        if not 0 < len(self.tag) <= 255:
            raise LocalProtocolError("CAA tag must be 1 to 255 octets (RFC 8659 4.1)")
        out.append(self.flags)
        out.append(len(self.tag))
        out += self.tag
        out += self.value


@dataclass(slots=True, frozen=True)
class Unknown:
    """RDATA of a type (or type and class) the codec does not parse, kept verbatim (RFC 3597)."""

    rtype: int
    data: bytes

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        out += self.data


Rdata = A | AAAA | CNAME | NS | PTR | MX | TXT | SRV | SOA | CAA | SVCB | HTTPS | Unknown
"""Every RDATA value the codec produces or accepts."""

_Decoder = Callable[[bytes, int, int, NameCache], Rdata]
_ANY_CLASS: dict[int, _Decoder] = {c.rtype: c.from_wire for c in (CNAME, NS, PTR, MX, TXT, SOA, CAA)}
_IN_CLASS: dict[int, _Decoder] = {**_ANY_CLASS, **{c.rtype: c.from_wire for c in (A, AAAA, SRV, SVCB, HTTPS)}}


def decode_rdata(buf: bytes, start: int, end: int, rtype: int, rclass: int, cache: NameCache) -> Rdata:
    """Decode the RDATA at ``buf[start:end]`` of a record of ``rtype``/``rclass``.

    ``buf`` is the whole message (names may point into it). Raises ``RemoteProtocolError``
    (FORMERR) when the RDATA does not have its type's format.
    """
    if start == end:
        return Unknown(rtype, b"")
    decoder = (_IN_CLASS if rclass == RRClass.IN else _ANY_CLASS).get(rtype)
    if decoder is None:
        return Unknown(rtype, buf[start:end])
    return decoder(buf, start, end, cache)
