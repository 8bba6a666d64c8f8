"""UPDATE bodies and path attributes on the wire (RFC 4271 4.3, 6.3; RFC 4760; RFC 6793).

Theory of operation: an UPDATE body is three length-delimited runs: withdrawn IPv4 routes, path
attributes, IPv4 NLRI (RFC 4271 4.3). :func:`read_update` checks the two length fields against
the body, walks the attributes one header at a time (flags, type code, a 1- or 2-octet length
chosen by the Extended Length bit), checks each known attribute's flags and length before
decoding its value with a per-type function, and then checks that the well-known mandatory
attributes are there. Every failure raises RemoteProtocolError with the UPDATE Message Error
subcode RFC 4271 6.3 names and, where it asks for one, the offending attribute (flags, type,
length and value) as the NOTIFICATION data. RFC 7606's "treat-as-withdraw" is not applied:
every error resets the session, as RFC 4271 has it; a caller wanting RFC 7606 can catch the
error on subcodes 3-11 and drop the routes instead.

AS numbers in AS_PATH and AGGREGATOR are 2 or 4 octets as the session negotiated
(``four_octet_as``, RFC 6793 3); AS4_PATH and AS4_AGGREGATOR are always 4. MP_REACH_NLRI and
MP_UNREACH_NLRI are decoded for the prefix families (IPv4/IPv6 unicast and multicast); for any
other family they stay :class:`~.attributes.UnknownAttribute` so that they pass through whole.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from typing import Final

from .attributes import (
    EXPECTED_FLAGS,
    Aggregator,
    As4Aggregator,
    As4Path,
    AsPath,
    AsPathSegment,
    AtomicAggregate,
    AttributeFlag,
    AttributeType,
    Communities,
    LocalPref,
    MpReachNlri,
    MpUnreachNlri,
    MultiExitDisc,
    NextHop,
    Origin,
    OriginValue,
    PathAttribute,
    SegmentType,
    UnknownAttribute,
    type_code,
)
from .errors import BGPError, ErrorCode, LocalProtocolError, RemoteProtocolError, UpdateSubcode, update_error
from .messages import Update
from .wire import (
    AFI,
    MAX_AS2,
    MAX_AS4,
    PREFIX_FAMILIES,
    U16,
    U32,
    Address,
    Buffer,
    afi_name,
    prefixes_to_wire,
    read_prefixes,
    safi_name,
)

_U = UpdateSubcode
_T = AttributeType
_OPT_TRANS: Final = AttributeFlag.OPTIONAL | AttributeFlag.TRANSITIVE
_FLAG_BITS: Final = int(AttributeFlag.OPTIONAL | AttributeFlag.TRANSITIVE | AttributeFlag.PARTIAL)
# The bits again as plain ints: reading an enum member costs a lookup through the enum machinery
# on every use, which the per-attribute loop below does not pay.
_EXTENDED: Final = int(AttributeFlag.EXTENDED_LENGTH)
_OPTIONAL_BIT: Final = int(AttributeFlag.OPTIONAL)
_PARTIAL_BIT: Final = int(AttributeFlag.PARTIAL)
_SEGMENT_TYPES: Final = {int(t): t for t in SegmentType}
_ORIGINS: Final = {int(o): o for o in OriginValue}
_MAX_SEGMENT: Final = 255  # the segment length is one octet (RFC 4271 4.3 b)
# The lengths a known attribute's value must have (RFC 4271 6.3 "Attribute Length Error");
# AGGREGATOR depends on the AS size and is checked in its decoder.
_FIXED_LENGTH: Final[dict[int, int]] = {_T.ORIGIN: 1, _T.NEXT_HOP: 4, _T.MULTI_EXIT_DISC: 4, _T.LOCAL_PREF: 4,
                        _T.ATOMIC_AGGREGATE: 0, _T.AS4_AGGREGATOR: 8}
# The flags (Optional, Transitive, Partial) each known attribute may arrive with. "for well-known
# attributes and for optional non-transitive attributes, the Partial bit MUST be set to 0"
# (RFC 4271 4.3); an optional transitive one may carry it.
_ALLOWED_FLAGS: Final = {
    code: frozenset({flags, flags | AttributeFlag.PARTIAL}) if flags == _OPT_TRANS else frozenset({flags})
    for code, flags in EXPECTED_FLAGS.items()
}


class _Attr:
    """The attribute being decoded: where its value lies, and its whole wire form for errors."""

    __slots__ = ("buf", "end", "flags", "start", "whole")

    def __init__(self, buf: Buffer, flags: int, whole: int, start: int, end: int) -> None:
        self.buf, self.flags, self.whole, self.start, self.end = buf, flags, whole, start, end

    @property
    def raw(self) -> bytes:
        """Flags, type, length and value: the NOTIFICATION data RFC 4271 6.3 asks for."""
        return bytes(self.buf[self.whole:self.end])

    def fail(self, msg: str, subcode: UpdateSubcode) -> RemoteProtocolError:
        return update_error(msg + " (RFC 4271 6.3)", subcode, self.raw)


def _segments(a: _Attr, asn: int, subcode: UpdateSubcode, data: bool) -> tuple[AsPathSegment, ...]:
    buf, pos, end = a.buf, a.start, a.end
    unpack = (U32 if asn == 4 else U16).unpack_from
    out: list[AsPathSegment] = []
    while pos < end:  # one iteration per segment
        if end - pos < 2:
            raise update_error("AS path segment header runs past the attribute", subcode,
                               a.raw if data else b"")
        stype, count = _SEGMENT_TYPES.get(buf[pos]), buf[pos + 1]
        pos += 2
        if stype is None or count == 0 or pos + count * asn > end:
            raise update_error(f"bad AS path segment (type {buf[pos - 2]}, {count} ASes)", subcode,
                               a.raw if data else b"")
        out.append(AsPathSegment(stype, tuple(unpack(buf, pos + i * asn)[0] for i in range(count))))
        pos += count * asn
    return tuple(out)


def _mp_family(a: _Attr, need: int) -> tuple[int, int] | None:
    if a.end - a.start < need:
        raise a.fail("MP attribute shorter than its fixed fields (RFC 4760 7)", _U.OPTIONAL_ATTRIBUTE_ERROR)
    afi, safi = U16.unpack_from(a.buf, a.start)[0], a.buf[a.start + 2]
    return (afi, safi) if (afi, safi) in PREFIX_FAMILIES else None


def _mp_reach(a: _Attr, _: int) -> PathAttribute:
    family = _mp_family(a, 5)
    if family is None:
        return UnknownAttribute(_T.MP_REACH_NLRI, a.flags, bytes(a.buf[a.start:a.end]))
    buf, pos = a.buf, a.start + 4
    nh_len = buf[a.start + 3]
    if pos + nh_len + 1 > a.end or nh_len not in (4, 16, 32):
        raise a.fail(f"MP_REACH_NLRI next hop of {nh_len} octets (RFC 4760 3)", _U.OPTIONAL_ATTRIBUTE_ERROR)
    hops: tuple[Address, ...]
    if nh_len == 4:
        hops = (IPv4Address(bytes(buf[pos:pos + 4])),)
    else:
        hops = tuple(IPv6Address(bytes(buf[i:i + 16])) for i in range(pos, pos + nh_len, 16))
    pos += nh_len + 1  # one reserved octet, "MUST be ignored upon receipt" (RFC 4760 3)
    nlri = read_prefixes(buf, pos, a.end, family[0], lambda m: a.fail(m, _U.OPTIONAL_ATTRIBUTE_ERROR))
    return MpReachNlri(afi_name(family[0]), safi_name(family[1]), hops, tuple(nlri))


def _mp_unreach(a: _Attr, _: int) -> PathAttribute:
    family = _mp_family(a, 3)
    if family is None:
        return UnknownAttribute(_T.MP_UNREACH_NLRI, a.flags, bytes(a.buf[a.start:a.end]))
    gone = read_prefixes(a.buf, a.start + 3, a.end, family[0],
                         lambda m: a.fail(m, _U.OPTIONAL_ATTRIBUTE_ERROR))
    return MpUnreachNlri(afi_name(family[0]), safi_name(family[1]), tuple(gone))


def _origin(a: _Attr, _: int) -> PathAttribute:
    value = _ORIGINS.get(a.buf[a.start])
    if value is None:
        raise a.fail(f"ORIGIN value {a.buf[a.start]} is undefined", _U.INVALID_ORIGIN_ATTRIBUTE)
    return Origin(value)


def _next_hop(a: _Attr, _: int) -> PathAttribute:
    address = IPv4Address(bytes(a.buf[a.start:a.end]))
    # "Syntactic correctness means that the NEXT_HOP attribute represents a valid IP host address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        raise a.fail(f"NEXT_HOP {address} is not a host address", _U.INVALID_NEXT_HOP_ATTRIBUTE)
    return NextHop(address)


def _aggregator(a: _Attr, asn: int) -> PathAttribute:
    if a.end - a.start != asn + 4:
        raise a.fail(f"AGGREGATOR of {a.end - a.start} octets, not {asn + 4}", _U.ATTRIBUTE_LENGTH_ERROR)
    value = (U32 if asn == 4 else U16).unpack_from(a.buf, a.start)[0]
    address = IPv4Address(bytes(a.buf[a.start + asn:a.end]))
    return Aggregator(value, address, bool(a.flags & _PARTIAL_BIT))


def _communities(a: _Attr, _: int) -> PathAttribute:
    n = a.end - a.start
    if n == 0 or n % 4:
        # RFC 1997 fixes 4-octet values; RFC 7606 7.8: malformed unless "a non-zero multiple of 4".
        raise a.fail(f"COMMUNITIES of {n} octets", _U.OPTIONAL_ATTRIBUTE_ERROR)
    values = tuple(U32.unpack_from(a.buf, i)[0] for i in range(a.start, a.end, 4))
    return Communities(values, bool(a.flags & _PARTIAL_BIT))


_DECODERS: Final[dict[int, Callable[[_Attr, int], PathAttribute]]] = {
    _T.ORIGIN: _origin,
    _T.AS_PATH: lambda a, asn: AsPath(_segments(a, asn, _U.MALFORMED_AS_PATH, False)),
    _T.NEXT_HOP: _next_hop,
    _T.MULTI_EXIT_DISC: lambda a, _: MultiExitDisc(U32.unpack_from(a.buf, a.start)[0]),
    _T.LOCAL_PREF: lambda a, _: LocalPref(U32.unpack_from(a.buf, a.start)[0]),
    _T.ATOMIC_AGGREGATE: lambda a, _: AtomicAggregate(),
    _T.AGGREGATOR: _aggregator,
    _T.COMMUNITIES: _communities,
    _T.MP_REACH_NLRI: _mp_reach,
    _T.MP_UNREACH_NLRI: _mp_unreach,
    _T.AS4_PATH: lambda a, _: As4Path(_segments(a, 4, _U.OPTIONAL_ATTRIBUTE_ERROR, True),
                                       bool(a.flags & _PARTIAL_BIT)),
    _T.AS4_AGGREGATOR: lambda a, _: As4Aggregator(U32.unpack_from(a.buf, a.start)[0],
                                                   IPv4Address(bytes(a.buf[a.start + 4:a.end])),
                                                   bool(a.flags & _PARTIAL_BIT)),
}


def read_attributes(buf: Buffer, pos: int, end: int, four_octet_as: bool) -> tuple[PathAttribute, ...]:
    """The path attributes in ``buf[pos:end]``, in wire order; RemoteProtocolError as RFC 4271 6.3."""
    asn = 4 if four_octet_as else 2
    seen: set[int] = set()
    out: list[PathAttribute] = []
    while pos < end:
        if end - pos < 3:
            raise update_error("attribute header runs past the path attributes (RFC 4271 6.3)",
                               _U.MALFORMED_ATTRIBUTE_LIST)
        flags, code = buf[pos], buf[pos + 1]
        if flags & _EXTENDED:
            if end - pos < 4:
                raise update_error("attribute header runs past the path attributes (RFC 4271 6.3)",
                                   _U.MALFORMED_ATTRIBUTE_LIST)
            start = pos + 4
            length = U16.unpack_from(buf, pos + 2)[0]
        else:
            start = pos + 3
            length = buf[pos + 2]
        a = _Attr(buf, flags & _FLAG_BITS, pos, start, min(start + length, end))
        if start + length > end:
            raise a.fail(f"attribute {code} of {length} octets runs past the path attributes",
                         _U.ATTRIBUTE_LENGTH_ERROR)
        if code in seen:
            raise a.fail(f"attribute {code} appears twice", _U.MALFORMED_ATTRIBUTE_LIST)
        seen.add(code)
        allowed = _ALLOWED_FLAGS.get(code)
        if allowed is None:
            if not flags & _OPTIONAL_BIT:
                raise a.fail(f"unrecognized well-known attribute {code}",
                             _U.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE)
            out.append(UnknownAttribute(code, flags & _FLAG_BITS, bytes(buf[start:a.end])))
        else:
            if flags & _FLAG_BITS not in allowed:
                raise a.fail(f"attribute {code} with flags 0x{flags:02x}", _U.ATTRIBUTE_FLAGS_ERROR)
            fixed = _FIXED_LENGTH.get(code)
            if fixed is not None and length != fixed:
                raise a.fail(f"attribute {code} of {length} octets, not {fixed}", _U.ATTRIBUTE_LENGTH_ERROR)
            out.append(_DECODERS[code](a, asn))
        pos = a.end
    return tuple(out)


def read_update(buf: Buffer, pos: int, end: int, four_octet_as: bool) -> Update:
    """The UPDATE whose body is ``buf[pos:end]``; RemoteProtocolError as RFC 4271 6.3 says."""
    wlen = U16.unpack_from(buf, pos)[0]
    wend = pos + 2 + wlen
    # RFC 4271 6.3: "If the Withdrawn Routes Length or Total Attribute Length is too large (i.e., if
    # Withdrawn Routes Length + Total Attribute Length + 23 exceeds the message Length), then the
    # Error Subcode MUST be set to Malformed Attribute List."
    if wend + 2 > end:
        raise update_error(f"withdrawn routes length {wlen} exceeds the message", _U.MALFORMED_ATTRIBUTE_LIST)
    alen = U16.unpack_from(buf, wend)[0]
    aend = wend + 2 + alen
    if aend > end:
        raise update_error(f"total path attribute length {alen} exceeds the message",
                           _U.MALFORMED_ATTRIBUTE_LIST)

    def bad_network(msg: str) -> RemoteProtocolError:
        return update_error(msg + " (RFC 4271 6.3)", _U.INVALID_NETWORK_FIELD)

    withdrawn = read_prefixes(buf, pos + 2, wend, AFI.IPV4, bad_network)
    attributes = read_attributes(buf, wend + 2, aend, four_octet_as)
    nlri = read_prefixes(buf, aend, end, AFI.IPV4, bad_network)
    _check_mandatory(attributes, bool(nlri), update_error)
    return Update(tuple(withdrawn), attributes, tuple(nlri))


# RFC 4271 6.3: "If any of the well-known mandatory attributes are not present, then the Error
# Subcode MUST be set to Missing Well-known Attribute. The Data field MUST contain the Attribute
# Type Code of the missing, well-known attribute." NEXT_HOP only with IPv4 NLRI (RFC 4760 3).
_REQUIRED_WITH_NLRI: Final = (_T.ORIGIN, _T.AS_PATH, _T.NEXT_HOP)
_REQUIRED_WITH_MP_REACH: Final = (_T.ORIGIN, _T.AS_PATH)
_MP_REACH: Final = int(_T.MP_REACH_NLRI)


def _check_mandatory(attributes: tuple[PathAttribute, ...], has_nlri: bool,
                     error: Callable[[str, UpdateSubcode, bytes], BGPError]) -> None:
    codes = {type_code(a) for a in attributes}
    if not has_nlri and _MP_REACH not in codes:
        return  # withdrawals only: "the UPDATE message MAY carry attributes", none required
    for code in _REQUIRED_WITH_NLRI if has_nlri else _REQUIRED_WITH_MP_REACH:
        if code not in codes:
            raise error(f"{code.name} is missing (RFC 4271 6.3)", _U.MISSING_WELL_KNOWN_ATTRIBUTE,
                        bytes((code,)))


# -- encoding -----------------------------------------------------------------------------------


def _local(msg: str, subcode: UpdateSubcode, data: bytes = b"") -> LocalProtocolError:
    return LocalProtocolError(msg, ErrorCode.UPDATE_MESSAGE_ERROR, subcode, data)


def _u32(value: int, what: str) -> bytes:
    if not 0 <= value <= MAX_AS4:
        raise _local(f"{what} {value} does not fit 4 octets", _U.OPTIONAL_ATTRIBUTE_ERROR)
    return U32.pack(value)


def _asn(value: int, asn: int) -> bytes:
    if asn == 2:
        if not 0 <= value <= MAX_AS2:
            raise _local(f"AS {value} needs 4 octets but the session is 2-octet: send AS_TRANS and the "
                         "AS in AS4_PATH/AS4_AGGREGATOR (RFC 6793 4.2.2)", _U.MALFORMED_AS_PATH)
        return U16.pack(value)
    if not 0 <= value <= MAX_AS4:
        raise _local(f"AS {value} does not fit 4 octets", _U.MALFORMED_AS_PATH)
    return U32.pack(value)


def _segments_to_wire(segments: tuple[AsPathSegment, ...], asn: int) -> bytes:
    out = bytearray()
    for seg in segments:
        if seg.type not in _SEGMENT_TYPES or not 0 < len(seg.asns) <= _MAX_SEGMENT:
            raise _local(f"AS path segment of type {seg.type} with {len(seg.asns)} ASes: 1..255 allowed "
                         "(RFC 4271 4.3 b)", _U.MALFORMED_AS_PATH)
        out += bytes((seg.type, len(seg.asns)))
        out += b"".join(_asn(a, asn) for a in seg.asns)
    return bytes(out)


def _mp_head(afi: int, safi: int) -> bytes:
    if (afi, safi) not in PREFIX_FAMILIES:
        raise _local(f"no prefix encoding for AFI {afi} SAFI {safi}: send an UnknownAttribute",
                     _U.OPTIONAL_ATTRIBUTE_ERROR)
    return U16.pack(afi) + bytes((safi,))


def _value(attr: PathAttribute, asn: int) -> bytes:
    if isinstance(attr, Origin):
        if attr.value not in _ORIGINS:
            raise _local(f"ORIGIN value {attr.value} is undefined", _U.INVALID_ORIGIN_ATTRIBUTE)
        return bytes((attr.value,))
    if isinstance(attr, AsPath):
        return _segments_to_wire(attr.segments, asn)
    if isinstance(attr, As4Path):
        return _segments_to_wire(attr.segments, 4)
    if isinstance(attr, NextHop):
        if attr.address.is_unspecified or attr.address.is_multicast or attr.address.is_reserved:
            raise _local(f"NEXT_HOP {attr.address} is not a host address", _U.INVALID_NEXT_HOP_ATTRIBUTE)
        return attr.address.packed
    if isinstance(attr, MultiExitDisc | LocalPref):
        return _u32(attr.value, type(attr).__name__)
    if isinstance(attr, AtomicAggregate):
        return b""
    if isinstance(attr, Aggregator):
        return _asn(attr.asn, asn) + attr.address.packed
    if isinstance(attr, As4Aggregator):
        return _asn(attr.asn, 4) + attr.address.packed
    if isinstance(attr, Communities):
        if not attr.values:
            raise _local("COMMUNITIES without values (RFC 7606 7.8)", _U.OPTIONAL_ATTRIBUTE_ERROR)
        return b"".join(_u32(v, "community") for v in attr.values)
    if isinstance(attr, MpReachNlri):
        hops = attr.next_hops
        v6 = all(isinstance(h, IPv6Address) for h in hops)
        if not (len(hops) == 1 or (len(hops) == 2 and v6)):
            raise _local("MP_REACH_NLRI needs one next hop, or two IPv6 ones (RFC 2545 3)",
                         _U.OPTIONAL_ATTRIBUTE_ERROR)
        nh = b"".join(h.packed for h in hops)
        nlri = prefixes_to_wire(attr.nlri, attr.afi)
        return _mp_head(attr.afi, attr.safi) + bytes((len(nh),)) + nh + b"\x00" + nlri
    if isinstance(attr, MpUnreachNlri):
        return _mp_head(attr.afi, attr.safi) + prefixes_to_wire(attr.withdrawn, attr.afi)
    return attr.value


def attribute_to_wire(attr: PathAttribute, four_octet_as: bool) -> bytes:
    """One path attribute: flags, type, length (extended when over 255 octets) and value."""
    value = _value(attr, 4 if four_octet_as else 2)
    if isinstance(attr, UnknownAttribute):
        code, flags = attr.type_code, attr.flags & _FLAG_BITS
        if not 0 <= code <= 0xFF:
            raise _local(f"attribute type code {code} does not fit one octet", _U.MALFORMED_ATTRIBUTE_LIST)
    else:
        code = attr.CODE
        flags = EXPECTED_FLAGS[code] | (AttributeFlag.PARTIAL if getattr(attr, "partial", False) else 0)
    n = len(value)
    if n <= 0xFF:
        return bytes((flags, code, n)) + value
    if n > 0xFFFF:
        raise _local(f"attribute {code} of {n} octets does not fit", _U.ATTRIBUTE_LENGTH_ERROR)
    return bytes((flags | AttributeFlag.EXTENDED_LENGTH, code)) + U16.pack(n) + value


def update_to_wire(update: Update, four_octet_as: bool) -> bytes:
    """The body of ``update``: LocalProtocolError for what :func:`read_update` would refuse."""
    codes = [type_code(a) for a in update.attributes]
    if len(set(codes)) != len(codes):
        raise _local("an attribute appears twice (RFC 4271 6.3)", _U.MALFORMED_ATTRIBUTE_LIST)
    _check_mandatory(update.attributes, bool(update.nlri), _local)
    withdrawn = prefixes_to_wire(update.withdrawn, AFI.IPV4)
    attributes = b"".join(attribute_to_wire(a, four_octet_as) for a in update.attributes)
    if len(withdrawn) > 0xFFFF or len(attributes) > 0xFFFF:
        raise _local("withdrawn routes or path attributes exceed 65535 octets", _U.MALFORMED_ATTRIBUTE_LIST)
    return b"".join((U16.pack(len(withdrawn)), withdrawn, U16.pack(len(attributes)), attributes,
                     prefixes_to_wire(update.nlri, AFI.IPV4)))
