"""OPEN's optional parameters and the capabilities they advertise (RFC 5492).

Theory of operation: an OPEN ends with Optional Parameters, each ``(type, length, value)``; the
only type in use is 2, Capabilities, whose value is a run of ``(code, length, value)`` capability
TLVs (RFC 5492 4). A speaker may spread its capabilities over several such parameters; decoding
flattens them into one tuple in wire order, and encoding packs them into as few parameters as
their 255-octet length allows. Capabilities the codec knows become dataclasses:

====  ===============================  ====================================================
code  class                            meaning
====  ===============================  ====================================================
1     :class:`Multiprotocol`           one AFI/SAFI the speaker can exchange (RFC 4760 8)
2     :class:`RouteRefreshCapability`  the speaker accepts ROUTE-REFRESH (RFC 2918 2)
64    :class:`GracefulRestart`         restart time, flags and forwarding state (RFC 4724 3)
65    :class:`FourOctetAS`             the speaker's 4-octet AS number (RFC 6793 3)
====  ===============================  ====================================================

Any other code is kept as :class:`UnknownCapability` with its raw value, so a proxy passes it on
untouched (RFC 5492 3: a speaker "MUST ignore" a capability it does not understand).

A parameter of another type is refused, as RFC 4271 6.2 asks: "If one of the Optional Parameters
in the OPEN message is not recognized, then the Error Subcode MUST be set to Unsupported Optional
Parameters." A known capability with a length its layout forbids is an OPEN Message Error with
no more specific subcode (what BIRD and FRR send).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final

from .errors import ErrorCode, LocalProtocolError, OpenSubcode, RemoteProtocolError, open_error
from .wire import MAX_AS4, U16, U32, Buffer, afi_name, safi_name

CAPABILITIES_PARAMETER: Final = 2  # the Optional Parameter type of Capabilities (RFC 5492 4)
_MP: Final = U16  # AFI; a reserved octet and the SAFI follow
_GR_FAMILY_SIZE: Final = 4  # AFI (2), SAFI (1), flags (1)
_MAX_PARAMETER: Final = 255


class CapabilityCode(IntEnum):
    """Capability codes this codec decodes (IANA "Capability Codes")."""

    MULTIPROTOCOL = 1
    ROUTE_REFRESH = 2
    GRACEFUL_RESTART = 64
    FOUR_OCTET_AS = 65


@dataclass(frozen=True, slots=True)
class Multiprotocol:
    """Multiprotocol Extensions (RFC 4760 8): the speaker exchanges routes of ``(afi, safi)``."""

    CODE: ClassVar[int] = CapabilityCode.MULTIPROTOCOL
    afi: int
    safi: int

    @property
    def family(self) -> tuple[int, int]:
        return self.afi, self.safi


@dataclass(frozen=True, slots=True)
class RouteRefreshCapability:
    """Route Refresh (RFC 2918 2): the speaker accepts ROUTE-REFRESH messages. No value."""

    CODE: ClassVar[int] = CapabilityCode.ROUTE_REFRESH


@dataclass(frozen=True, slots=True)
class GracefulRestartFamily:
    """One ``(afi, safi)`` of a Graceful Restart capability; ``forwarding_state`` is the F bit."""

    afi: int
    safi: int
    forwarding_state: bool = False


@dataclass(frozen=True, slots=True)
class GracefulRestart:
    """Graceful Restart (RFC 4724 3). ``restarting`` is the R bit, ``notification`` the N bit of
    RFC 8538; ``restart_time`` is 12 bits of seconds."""

    CODE: ClassVar[int] = CapabilityCode.GRACEFUL_RESTART
    restart_time: int = 120
    restarting: bool = False
    notification: bool = False
    families: tuple[GracefulRestartFamily, ...] = ()


@dataclass(frozen=True, slots=True)
class FourOctetAS:
    """Support for 4-octet AS numbers (RFC 6793 3); ``asn`` is the speaker's own AS."""

    CODE: ClassVar[int] = CapabilityCode.FOUR_OCTET_AS
    asn: int


@dataclass(frozen=True, slots=True)
class UnknownCapability:
    """A capability this codec does not interpret, kept as ``(code, value)``."""

    code: int
    value: bytes = b""


Capability = Multiprotocol | RouteRefreshCapability | GracefulRestart | FourOctetAS | UnknownCapability


def _bad(msg: str) -> RemoteProtocolError:
    return open_error(msg + " (RFC 5492 4)", OpenSubcode.UNSPECIFIC)


def _decode_one(code: int, buf: Buffer, pos: int, end: int) -> Capability:
    n = end - pos
    if code == CapabilityCode.MULTIPROTOCOL:
        if n != 4:
            raise _bad(f"Multiprotocol capability of {n} octets, not 4")
        return Multiprotocol(afi_name(U16.unpack_from(buf, pos)[0]), safi_name(buf[pos + 3]))
    if code == CapabilityCode.ROUTE_REFRESH:
        if n != 0:
            raise _bad(f"Route Refresh capability of {n} octets, not 0")
        return RouteRefreshCapability()
    if code == CapabilityCode.FOUR_OCTET_AS:
        if n != 4:
            raise _bad(f"4-octet AS capability of {n} octets, not 4")
        return FourOctetAS(U32.unpack_from(buf, pos)[0])
    if code == CapabilityCode.GRACEFUL_RESTART:
        if n < 2 or (n - 2) % _GR_FAMILY_SIZE:
            raise _bad(f"Graceful Restart capability of {n} octets")
        head = U16.unpack_from(buf, pos)[0]
        families = tuple(
            GracefulRestartFamily(afi_name(U16.unpack_from(buf, i)[0]), safi_name(buf[i + 2]),
                                  bool(buf[i + 3] & 0x80))
            for i in range(pos + 2, end, _GR_FAMILY_SIZE)
        )
        return GracefulRestart(head & 0x0FFF, bool(head & 0x8000), bool(head & 0x4000), families)
    return UnknownCapability(code, bytes(buf[pos:end]))


def read_parameters(buf: Buffer, pos: int, end: int) -> tuple[Capability, ...]:
    """The capabilities in the Optional Parameters at ``buf[pos:end]``, in wire order.

    Raises RemoteProtocolError (OPEN Message Error): Unsupported Optional Parameters for a
    parameter type other than 2; unspecific for a parameter or capability that overruns its
    container, or a known capability of the wrong length.
    """
    caps: list[Capability] = []
    while pos < end:
        if end - pos < 2:
            raise _bad("optional parameter header runs past the parameters")
        ptype, plen = buf[pos], buf[pos + 1]
        pos += 2
        pend = pos + plen
        if pend > end:
            raise _bad(f"optional parameter of {plen} octets runs past the parameters")
        if ptype != CAPABILITIES_PARAMETER:
            raise open_error(f"optional parameter type {ptype} (RFC 4271 6.2)",
                             OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER)
        while pos < pend:
            if pend - pos < 2:
                raise _bad("capability header runs past its parameter")
            code, clen = buf[pos], buf[pos + 1]
            start = pos + 2
            pos = start + clen
            if pos > pend:
                raise _bad(f"capability {code} of {clen} octets runs past its parameter")
            caps.append(_decode_one(code, buf, start, pos))
    return tuple(caps)


def capability_to_wire(cap: Capability) -> bytes:
    """One capability TLV; LocalProtocolError for a value the layout cannot hold."""
    if isinstance(cap, Multiprotocol):
        value = U16.pack(cap.afi) + bytes((0, cap.safi))
    elif isinstance(cap, RouteRefreshCapability):
        value = b""
    elif isinstance(cap, FourOctetAS):
        if not 0 <= cap.asn <= MAX_AS4:
            raise _local(f"AS {cap.asn} does not fit 4 octets")
        value = U32.pack(cap.asn)
    elif isinstance(cap, GracefulRestart):
        if not 0 <= cap.restart_time <= 0x0FFF:
            raise _local(f"restart time {cap.restart_time} does not fit 12 bits (RFC 4724 3)")
        head = cap.restart_time | (0x8000 if cap.restarting else 0) | (0x4000 if cap.notification else 0)
        value = U16.pack(head) + b"".join(
            U16.pack(f.afi) + bytes((f.safi, 0x80 if f.forwarding_state else 0)) for f in cap.families
        )
    else:
        value = cap.value
    code = cap.CODE if not isinstance(cap, UnknownCapability) else cap.code
    if len(value) > _MAX_PARAMETER - 2:
        raise _local(f"capability {code} of {len(value)} octets does not fit a parameter")
    return bytes((code, len(value))) + value


def parameters_to_wire(caps: tuple[Capability, ...]) -> bytes:
    """The Optional Parameters holding ``caps``: one Capabilities parameter, or more when they
    do not fit 255 octets (RFC 5492 4: "MAY include more than one Capabilities Optional Parameter")."""
    out = bytearray()
    chunk = bytearray()
    for cap in caps:
        tlv = capability_to_wire(cap)
        if len(chunk) + len(tlv) > _MAX_PARAMETER:
            out += bytes((CAPABILITIES_PARAMETER, len(chunk))) + chunk
            chunk = bytearray()
        chunk += tlv
    if chunk:
        out += bytes((CAPABILITIES_PARAMETER, len(chunk))) + chunk
    return bytes(out)


def _local(msg: str) -> LocalProtocolError:
    return LocalProtocolError(msg, ErrorCode.OPEN_MESSAGE_ERROR, OpenSubcode.UNSPECIFIC)
