"""UPDATE path attributes as values (RFC 4271 4.3, 5; RFC 1997; RFC 4760; RFC 6793).

Theory of operation: each attribute the codec understands is a frozen, slotted dataclass with a
``CODE`` (its Attribute Type Code) and the flags RFC 4271 fixes for it (:data:`EXPECTED_FLAGS`):
well-known attributes are transitive and never partial; optional transitive ones may arrive with
the Partial bit set by a speaker that did not understand them, and keep it in ``partial``. An
attribute the codec does not know is an :class:`UnknownAttribute` with its flags and raw value,
so a proxy can pass it on; :func:`propagate` applies RFC 4271 5's rules for a speaker that
re-advertises such a route. Attributes hold meaning, not layout: no lengths, no Extended Length
bit (the encoder sets it when a value exceeds 255 octets, RFC 4271 4.3).

AS numbers are plain ints whatever the session's AS size; the 2- or 4-octet wire form is the
encoder's business (the ``four_octet_as`` argument of :func:`~.codec.decode` and ``encode``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum
from ipaddress import IPv4Address
from typing import ClassVar, Final

from .wire import Address, Network


class AttributeFlag(IntEnum):
    """The high-order bits of the Attribute Flags octet (RFC 4271 4.3)."""

    OPTIONAL = 0x80
    TRANSITIVE = 0x40
    PARTIAL = 0x20
    EXTENDED_LENGTH = 0x10


class AttributeType(IntEnum):
    """Attribute Type Codes this codec decodes (IANA "BGP Path Attributes")."""

    ORIGIN = 1
    AS_PATH = 2
    NEXT_HOP = 3
    MULTI_EXIT_DISC = 4
    LOCAL_PREF = 5
    ATOMIC_AGGREGATE = 6
    AGGREGATOR = 7
    COMMUNITIES = 8
    MP_REACH_NLRI = 14
    MP_UNREACH_NLRI = 15
    AS4_PATH = 17
    AS4_AGGREGATOR = 18


_WELL_KNOWN: Final = AttributeFlag.TRANSITIVE
_OPTIONAL: Final = AttributeFlag.OPTIONAL
_OPTIONAL_TRANSITIVE: Final = AttributeFlag.OPTIONAL | AttributeFlag.TRANSITIVE
# The Optional and Transitive bits each known attribute MUST carry (RFC 4271 5, 4760 3-4, 1997,
# 6793 3); anything else is an Attribute Flags Error (RFC 4271 6.3).
EXPECTED_FLAGS: Final[dict[int, int]] = {
    AttributeType.ORIGIN: _WELL_KNOWN,
    AttributeType.AS_PATH: _WELL_KNOWN,
    AttributeType.NEXT_HOP: _WELL_KNOWN,
    AttributeType.MULTI_EXIT_DISC: _OPTIONAL,
    AttributeType.LOCAL_PREF: _WELL_KNOWN,
    AttributeType.ATOMIC_AGGREGATE: _WELL_KNOWN,
    AttributeType.AGGREGATOR: _OPTIONAL_TRANSITIVE,
    AttributeType.COMMUNITIES: _OPTIONAL_TRANSITIVE,
    AttributeType.MP_REACH_NLRI: _OPTIONAL,
    AttributeType.MP_UNREACH_NLRI: _OPTIONAL,
    AttributeType.AS4_PATH: _OPTIONAL_TRANSITIVE,
    AttributeType.AS4_AGGREGATOR: _OPTIONAL_TRANSITIVE,
}


class OriginValue(IntEnum):
    """ORIGIN's values (RFC 4271 4.3 a)."""

    IGP = 0
    EGP = 1
    INCOMPLETE = 2


class SegmentType(IntEnum):
    """AS_PATH segment types (RFC 4271 4.3 b; 3 and 4 from RFC 5065 confederations)."""

    AS_SET = 1
    AS_SEQUENCE = 2
    AS_CONFED_SEQUENCE = 3
    AS_CONFED_SET = 4


# RFC 1997: communities with a meaning of their own.
NO_EXPORT: Final = 0xFFFFFF01
NO_ADVERTISE: Final = 0xFFFFFF02
NO_EXPORT_SUBCONFED: Final = 0xFFFFFF03


def community(asn: int, value: int) -> int:
    """The community ``asn:value`` (RFC 1997: "the first two octets ... contain the AS number")."""
    return (asn << 16) | value


@dataclass(frozen=True, slots=True)
class Origin:
    """ORIGIN (type 1, well-known mandatory): how the route entered BGP."""

    CODE: ClassVar[int] = AttributeType.ORIGIN
    value: OriginValue = OriginValue.IGP


@dataclass(frozen=True, slots=True)
class AsPathSegment:
    """One AS_PATH segment: a type and 1..255 AS numbers (RFC 4271 4.3 b)."""

    type: SegmentType
    asns: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AsPath:
    """AS_PATH (type 2, well-known mandatory): the ASes the route crossed, nearest first."""

    CODE: ClassVar[int] = AttributeType.AS_PATH
    segments: tuple[AsPathSegment, ...] = ()

    @classmethod
    def sequence(cls, *asns: int) -> AsPath:
        """An AS_PATH of one AS_SEQUENCE (the common case); empty with no ASes."""
        return cls((AsPathSegment(SegmentType.AS_SEQUENCE, asns),) if asns else ())

    @property
    def length(self) -> int:
        """The path length of RFC 4271 9.1.2.2 a: "an AS_SET counts as 1, no matter how many
        ASes are in the set"; confederation segments do not count (RFC 5065 5.3)."""
        total = 0
        for seg in self.segments:
            if seg.type == SegmentType.AS_SEQUENCE:
                total += len(seg.asns)
            elif seg.type == SegmentType.AS_SET:
                total += 1
        return total


@dataclass(frozen=True, slots=True)
class As4Path:
    """AS4_PATH (type 17, optional transitive): the 4-octet path an RFC 6793 speaker sends beside
    an AS_PATH of AS_TRANS to a 2-octet peer. Kept as is; merging it is left to the caller."""

    CODE: ClassVar[int] = AttributeType.AS4_PATH
    segments: tuple[AsPathSegment, ...] = ()
    partial: bool = False


@dataclass(frozen=True, slots=True)
class NextHop:
    """NEXT_HOP (type 3, well-known mandatory with IPv4 NLRI): the IPv4 next hop."""

    CODE: ClassVar[int] = AttributeType.NEXT_HOP
    address: IPv4Address


@dataclass(frozen=True, slots=True)
class MultiExitDisc:
    """MULTI_EXIT_DISC (type 4, optional non-transitive): the MED, lower is preferred."""

    CODE: ClassVar[int] = AttributeType.MULTI_EXIT_DISC
    value: int


@dataclass(frozen=True, slots=True)
class LocalPref:
    """LOCAL_PREF (type 5, well-known, sent to internal peers only): higher is preferred."""

    CODE: ClassVar[int] = AttributeType.LOCAL_PREF
    value: int


@dataclass(frozen=True, slots=True)
class AtomicAggregate:
    """ATOMIC_AGGREGATE (type 6, well-known discretionary): no value."""

    CODE: ClassVar[int] = AttributeType.ATOMIC_AGGREGATE


@dataclass(frozen=True, slots=True)
class Aggregator:
    """AGGREGATOR (type 7, optional transitive): who aggregated the route. Its AS is 2 or 4
    octets on the wire as the session negotiated (RFC 6793 3)."""

    CODE: ClassVar[int] = AttributeType.AGGREGATOR
    asn: int
    address: IPv4Address
    partial: bool = False


@dataclass(frozen=True, slots=True)
class As4Aggregator:
    """AS4_AGGREGATOR (type 18, optional transitive): the 4-octet AGGREGATOR of RFC 6793 3."""

    CODE: ClassVar[int] = AttributeType.AS4_AGGREGATOR
    asn: int
    address: IPv4Address
    partial: bool = False


@dataclass(frozen=True, slots=True)
class Communities:
    """COMMUNITIES (type 8, optional transitive, RFC 1997): 32-bit values, see :func:`community`."""

    CODE: ClassVar[int] = AttributeType.COMMUNITIES
    values: tuple[int, ...]
    partial: bool = False


@dataclass(frozen=True, slots=True)
class MpReachNlri:
    """MP_REACH_NLRI (type 14, optional non-transitive, RFC 4760 3): reachable prefixes of
    ``(afi, safi)`` and their next hop(s): one address, or an IPv6 global and link-local pair."""

    CODE: ClassVar[int] = AttributeType.MP_REACH_NLRI
    afi: int
    safi: int
    next_hops: tuple[Address, ...]
    nlri: tuple[Network, ...] = ()


@dataclass(frozen=True, slots=True)
class MpUnreachNlri:
    """MP_UNREACH_NLRI (type 15, optional non-transitive, RFC 4760 4): withdrawn prefixes of
    ``(afi, safi)``. With no prefixes it is that family's End-of-RIB marker (RFC 4724 2)."""

    CODE: ClassVar[int] = AttributeType.MP_UNREACH_NLRI
    afi: int
    safi: int
    withdrawn: tuple[Network, ...] = ()


@dataclass(frozen=True, slots=True)
class UnknownAttribute:
    """An attribute the codec does not interpret (or an MP attribute of a family whose NLRI it
    does not parse): ``flags`` holds the Optional, Transitive and Partial bits as received."""

    type_code: int
    flags: int
    value: bytes = b""

    @property
    def transitive(self) -> bool:
        return bool(self.flags & AttributeFlag.TRANSITIVE)


PathAttribute = (
    Origin | AsPath | NextHop | MultiExitDisc | LocalPref | AtomicAggregate | Aggregator | Communities
    | MpReachNlri | MpUnreachNlri | As4Path | As4Aggregator | UnknownAttribute
)


def type_code(attr: PathAttribute) -> int:
    """The Attribute Type Code of ``attr``."""
    return attr.type_code if isinstance(attr, UnknownAttribute) else attr.CODE


def propagate(attributes: tuple[PathAttribute, ...]) -> tuple[PathAttribute, ...]:
    """``attributes`` as a speaker re-advertises them to another peer (RFC 4271 5): "If an optional
    non-transitive attribute is unrecognized, it is quietly ignored"; an unrecognized optional
    transitive one is "passed along to other BGP peers" with the Partial bit set to 1."""
    out: list[PathAttribute] = []
    for attr in attributes:
        if isinstance(attr, UnknownAttribute):
            if not attr.transitive:
                continue
            attr = replace(attr, flags=attr.flags | AttributeFlag.PARTIAL)
        out.append(attr)
    return tuple(out)
