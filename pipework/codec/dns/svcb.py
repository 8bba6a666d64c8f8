"""SVCB and HTTPS records (RFC 9460): priority, target name and SvcParams.

Theory of operation: the SvcParams are kept as they travel, a mapping from key number to value
octets, so keys registered after this code was written pass through a proxy untouched. Typed
helpers read the keys a proxy acts on (``alpn()``, ``port()``, ``ipv4hint()``, ``ipv6hint()``,
``mandatory()``, ``no_default_alpn()``, ``ech()``), and ``build()`` makes a record from typed values.

RFC 9460 2.2 makes three checks a MUST for receivers, and the decoder makes them: the RDATA does not
end inside a SvcParam, keys are in strictly increasing order (hence no duplicates), and the value of
every key this module knows has its expected format. The encoder writes keys in increasing order
(the mapping's own order does not matter) and checks the same formats, raising
``LocalProtocolError``. The target name is never compressed on output (RFC 9460 2.2).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address
from itertools import pairwise
from typing import ClassVar, Self

from .constants import RRType
from .errors import LocalProtocolError, RemoteProtocolError
from .names import Compressor, Name, NameCache, read_name

_U16 = struct.Struct("!H")
_PARAM = struct.Struct("!HH")


class SvcParamKey(IntEnum):
    """SvcParamKey numbers (RFC 9460 14.3.2; dohpath RFC 9461, ohttp RFC 9540)."""

    MANDATORY = 0
    ALPN = 1
    NO_DEFAULT_ALPN = 2
    PORT = 3
    IPV4HINT = 4
    ECH = 5
    IPV6HINT = 6
    DOHPATH = 7
    OHTTP = 8


def _split_alpn(value: bytes) -> list[bytes] | None:
    ids, pos = [], 0
    while pos < len(value):
        nxt = pos + 1 + value[pos]
        if value[pos] == 0 or nxt > len(value):
            return None
        ids.append(value[pos + 1 : nxt])
        pos = nxt
    return ids


def _format_error(key: int, value: bytes) -> str | None:
    """Why ``value`` is not a well-formed value of ``key``, or None (also for keys we do not know)."""
    n = len(value)
    if key == SvcParamKey.MANDATORY:
        # RFC 9460 8: one or more keys, in strictly increasing order, never "mandatory" itself.
        if n == 0 or n % 2:
            return "mandatory must list one or more 2-octet keys (RFC 9460 8)"
        keys = [k for (k,) in _U16.iter_unpack(value)]
        if keys[0] == SvcParamKey.MANDATORY or any(a >= b for a, b in pairwise(keys)):
            return "mandatory keys must increase strictly and exclude key 0 (RFC 9460 8)"
    elif key == SvcParamKey.ALPN:
        # RFC 9460 7.1.1: a non-empty list of non-empty, length-prefixed alpn-ids.
        if n == 0 or not _split_alpn(value):
            return "alpn must be one or more non-empty length-prefixed ids (RFC 9460 7.1.1)"
    elif key == SvcParamKey.NO_DEFAULT_ALPN:
        if n:
            return "no-default-alpn must have an empty value (RFC 9460 7.1.1)"
    elif key == SvcParamKey.PORT:
        if n != 2:
            return "port must be 2 octets (RFC 9460 7.2)"
    elif key == SvcParamKey.IPV4HINT:
        if n == 0 or n % 4:
            return "ipv4hint must hold one or more 4-octet addresses (RFC 9460 7.3)"
    elif key == SvcParamKey.IPV6HINT and (n == 0 or n % 16):
        return "ipv6hint must hold one or more 16-octet addresses (RFC 9460 7.3)"
    return None


@dataclass(slots=True, frozen=True)
class SVCB:
    """A service binding (RFC 9460 2): priority 0 is AliasMode, others ServiceMode.

    ``params`` maps SvcParamKey numbers to their wire values. The record is hashable (the hash
    covers the params as a sorted tuple) though the mapping itself is a ``dict``.
    """

    rtype: ClassVar[int] = RRType.SVCB
    priority: int
    target: Name
    params: Mapping[int, bytes] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((type(self), self.priority, self.target, tuple(sorted(self.params.items()))))

    @classmethod
    def from_wire(cls, buf: bytes, start: int, end: int, cache: NameCache) -> Self:
        if end - start < 3:
            raise RemoteProtocolError("SVCB RDATA shorter than priority and target (RFC 9460 2.2)")
        priority = _U16.unpack_from(buf, start)[0]
        target, pos = read_name(buf, start + 2, cache)
        params: dict[int, bytes] = {}
        last = -1
        while pos < end:
            if pos + 4 > end:
                raise RemoteProtocolError("SVCB RDATA ends inside a SvcParam (RFC 9460 2.2)")
            key, size = _PARAM.unpack_from(buf, pos)
            pos += 4
            if pos + size > end:
                raise RemoteProtocolError("SVCB RDATA ends inside a SvcParam (RFC 9460 2.2)")
            if key <= last:
                raise RemoteProtocolError("SvcParamKeys not in strictly increasing order (RFC 9460 2.2)")
            value = buf[pos : pos + size]
            problem = _format_error(key, value)
            if problem is not None:
                raise RemoteProtocolError(problem)
            params[key] = value
            last = key
            pos += size
        if pos != end:
            raise RemoteProtocolError("SVCB target name runs past RDLENGTH")
        return cls(priority, target, params)

    def to_wire(self, out: bytearray, compressor: Compressor) -> None:
        out += _U16.pack(self.priority)
        # RFC 9460 2.2: "the uncompressed, fully qualified TargetName".
        compressor.write(out, self.target, compress=False)
        for key in sorted(self.params):
            value = self.params[key]
            problem = _format_error(key, value)
            if problem is not None:
                raise LocalProtocolError(problem)
            out += _PARAM.pack(key, len(value))
            out += value

    @classmethod
    def build(
        cls,
        priority: int,
        target: Name,
        *,
        mandatory: Iterable[int] | None = None,
        alpn: Iterable[bytes] | None = None,
        no_default_alpn: bool = False,
        port: int | None = None,
        ipv4hint: Iterable[IPv4Address] | None = None,
        ech: bytes | None = None,
        ipv6hint: Iterable[IPv6Address] | None = None,
        other: Mapping[int, bytes] | None = None,
    ) -> Self:
        """A record from typed SvcParams; ``other`` adds raw key → value pairs. Values are checked
        when the record is encoded."""
        params: dict[int, bytes] = dict(other or {})
        if mandatory is not None:
            params[SvcParamKey.MANDATORY] = b"".join(_U16.pack(k) for k in sorted(mandatory))
        if alpn is not None:
            params[SvcParamKey.ALPN] = b"".join(bytes([len(a)]) + a for a in alpn)
        if no_default_alpn:
            params[SvcParamKey.NO_DEFAULT_ALPN] = b""
        if port is not None:
            params[SvcParamKey.PORT] = _U16.pack(port)
        if ipv4hint is not None:
            params[SvcParamKey.IPV4HINT] = b"".join(a.packed for a in ipv4hint)
        if ech is not None:
            params[SvcParamKey.ECH] = ech
        if ipv6hint is not None:
            params[SvcParamKey.IPV6HINT] = b"".join(a.packed for a in ipv6hint)
        return cls(priority, target, params)

    def _value(self, key: int) -> bytes | None:
        value = self.params.get(key)
        if value is not None:
            problem = _format_error(key, value)
            if problem is not None:  # only a locally built record can get here: decode checked
                raise LocalProtocolError(problem)
        return value

    def mandatory(self) -> tuple[int, ...] | None:
        """The keys listed as mandatory (RFC 9460 8), or None without the key."""
        value = self._value(SvcParamKey.MANDATORY)
        return None if value is None else tuple(k for (k,) in _U16.iter_unpack(value))

    def alpn(self) -> tuple[bytes, ...] | None:
        """The ALPN protocol ids (RFC 9460 7.1), or None without the key."""
        value = self._value(SvcParamKey.ALPN)
        return None if value is None else tuple(_split_alpn(value) or ())

    def no_default_alpn(self) -> bool:
        """Whether the no-default-alpn key is present (RFC 9460 7.1)."""
        return self._value(SvcParamKey.NO_DEFAULT_ALPN) is not None

    def port(self) -> int | None:
        """The alternative port (RFC 9460 7.2), or None without the key."""
        value = self._value(SvcParamKey.PORT)
        return None if value is None else int(_U16.unpack(value)[0])

    def ipv4hint(self) -> tuple[IPv4Address, ...] | None:
        """The IPv4 address hints (RFC 9460 7.3), or None without the key."""
        value = self._value(SvcParamKey.IPV4HINT)
        if value is None:
            return None
        return tuple(IPv4Address(value[i : i + 4]) for i in range(0, len(value), 4))

    def ipv6hint(self) -> tuple[IPv6Address, ...] | None:
        """The IPv6 address hints (RFC 9460 7.3), or None without the key."""
        value = self._value(SvcParamKey.IPV6HINT)
        if value is None:
            return None
        return tuple(IPv6Address(value[i : i + 16]) for i in range(0, len(value), 16))

    def ech(self) -> bytes | None:
        """The ECHConfigList (RFC 9460 7.4: TLS Encrypted Client Hello), opaque, or None without the key."""
        return self._value(SvcParamKey.ECH)


@dataclass(slots=True, frozen=True, eq=False)
class HTTPS(SVCB):
    """The HTTPS flavour of SVCB (RFC 9460 9): same format, different type code."""

    rtype: ClassVar[int] = RRType.HTTPS
