"""ExaBGP as the independent peer: what its message classes write decodes right here, and its parser
reads what we encode to the same routes, attributes and capabilities.

ExaBGP's encoders need a negotiated session, built here from its own Neighbor and OPEN classes as
its reactor does; no process, no socket.
"""

from __future__ import annotations

import os
import struct
from ipaddress import IPv4Address, IPv6Address, ip_network
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.codec.bgp import (
    AFI,
    IPV4_UNICAST,
    IPV6_UNICAST,
    NO_EXPORT,
    SAFI,
    Aggregator,
    As4Path,
    AsPath,
    AsPathSegment,
    Communities,
    FourOctetAS,
    GracefulRestart,
    Keepalive,
    LocalPref,
    MpReachNlri,
    MpUnreachNlri,
    MultiExitDisc,
    NextHop,
    Notification,
    Open,
    Origin,
    OriginValue,
    RouteRefresh,
    RouteRefreshCapability,
    SegmentType,
    UnknownAttribute,
    UnknownCapability,
    Update,
    community,
    decode,
    encode,
    make_open,
)

try:
    from exabgp.bgp.message import KeepAlive, Message, Notify
    from exabgp.bgp.message import Open as XOpen
    from exabgp.bgp.message import Update as XUpdate
    from exabgp.bgp.message.action import Action
    from exabgp.bgp.message.direction import Direction
    from exabgp.bgp.message.open import ASN, HoldTime, RouterID, Version
    from exabgp.bgp.message.open.capability import Capabilities
    from exabgp.bgp.message.open.capability.negotiated import Negotiated as XNegotiated
    from exabgp.bgp.message.refresh import RouteRefresh as XRouteRefresh
    from exabgp.bgp.message.update.attribute import (
        Aggregator as XAggregator,
    )
    from exabgp.bgp.message.update.attribute import (
        ASPath,
        Attributes,
        LocalPreference,
    )
    from exabgp.bgp.message.update.attribute import (
        Communities as XCommunities,
    )
    from exabgp.bgp.message.update.attribute import (
        NextHop as XNextHop,
    )
    from exabgp.bgp.message.update.attribute import (
        Origin as XOrigin,
    )
    from exabgp.bgp.message.update.attribute.aspath import SEQUENCE, SET
    from exabgp.bgp.message.update.attribute.community.initial.community import Community
    from exabgp.bgp.message.update.nlri.cidr import CIDR
    from exabgp.bgp.message.update.nlri.inet import INET
    from exabgp.bgp.neighbor import Neighbor
    from exabgp.logger import log
    from exabgp.protocol.family import AFI as XAFI
    from exabgp.protocol.family import SAFI as XSAFI
    from exabgp.protocol.ip import IP
except ModuleNotFoundError:
    if os.environ.get("PIPEWORK_REQUIRE_ALL") == "1":  # CI installs every peer: a missing one fails
        raise
    pytest.skip("ExaBGP is the independent peer: pip install exabgp", allow_module_level=True)

log.disable()  # ExaBGP logs through a logger its daemon sets up; there is none here

N = ip_network
HOP = IPv4Address("192.0.2.1")


def exabgp_session(asn4: bool = True, local_as: int = 4200000001) -> tuple[Any, Any]:
    """ExaBGP's OPEN for ``local_as`` and a Negotiated of that OPEN with itself."""
    neighbor = Neighbor()
    neighbor["local-as"] = ASN(local_as)
    neighbor["peer-as"] = ASN(65002)
    neighbor["capability"]["asn4"] = asn4
    neighbor["capability"]["route-refresh"] = True
    neighbor["capability"]["graceful-restart"] = 120
    neighbor["host-name"], neighbor["domain-name"] = "exa", "example"
    neighbor.add_family((XAFI.ipv4, XSAFI.unicast))
    neighbor.add_family((XAFI.ipv6, XSAFI.unicast))
    message = XOpen(Version(4), ASN(local_as), HoldTime(90), RouterID("192.0.2.9"),
                    Capabilities().new(neighbor, False))
    negotiated = XNegotiated(neighbor)
    negotiated.sent(message)
    negotiated.received(message)
    return message, negotiated


def exabgp_parse(wire: bytes, negotiated: Any) -> Any:
    assert wire[:16] == b"\xff" * 16
    return Message.unpack(wire[18], wire[19:], Direction.IN, negotiated)


def inet(net: Any, hop: str) -> Any:
    afi = XAFI.ipv4 if net.version == 4 else XAFI.ipv6
    nlri = INET(afi, XSAFI.unicast, Action.ANNOUNCE)
    nlri.cidr = CIDR(net.network_address.packed, net.prefixlen)
    nlri.nexthop = IP.create(hop)
    return nlri


def exabgp_attributes(path: list[Any], *extra: Any) -> Any:
    attributes = Attributes()
    attributes.add(XOrigin(XOrigin.IGP))
    attributes.add(ASPath(path))
    for attribute in extra:
        attributes.add(attribute)
    return attributes


def test_exabgp_open_decodes() -> None:
    message, _ = exabgp_session()
    wire = message.message()
    got, used = decode(wire) or (None, 0)
    assert used == len(wire)
    assert isinstance(got, Open)
    assert (got.asn, got.my_as, got.hold_time) == (4200000001, 23456, 90)
    assert got.bgp_id == IPv4Address("192.0.2.9")
    assert got.families == {IPV4_UNICAST, IPV6_UNICAST}
    assert got.capability(FourOctetAS) == FourOctetAS(4200000001)
    assert got.capability(RouteRefreshCapability) is not None
    restart = got.capability(GracefulRestart)
    assert restart is not None
    assert restart.restart_time == 120
    assert {(f.afi, f.safi) for f in restart.families} == {IPV4_UNICAST, IPV6_UNICAST}
    unknown = {c.code: c.value for c in got.capabilities if isinstance(c, UnknownCapability)}
    assert unknown[73] == b"\x03exa\x07example"  # the hostname capability, kept raw
    assert 70 in unknown  # enhanced route refresh
    again = encode(got)  # regrouped into one parameter, same meaning
    assert str(exabgp_parse(again, exabgp_session()[1]).capabilities) == str(message.capabilities)


def test_our_open_parses_in_exabgp() -> None:
    ours = make_open(4200000001, "192.0.2.1", 30, families=(IPV4_UNICAST, IPV6_UNICAST), graceful_restart=90,
                     extra=(UnknownCapability(73, b"\x02pw\x00"),))
    _, negotiated = exabgp_session()
    parsed = exabgp_parse(encode(ours), negotiated)
    assert (int(parsed.asn), int(parsed.hold_time), str(parsed.router_id)) == (23456, 30, "192.0.2.1")
    capabilities = dict(parsed.capabilities)
    assert int(capabilities[65]) == 4200000001
    assert set(capabilities[1]) == {(XAFI.ipv4, XSAFI.unicast), (XAFI.ipv6, XSAFI.unicast)}
    assert capabilities[64].restart_time == 90
    assert 2 in capabilities
    assert 73 in capabilities


def test_exabgp_update_decodes() -> None:
    _, negotiated = exabgp_session()
    path = [SEQUENCE([ASN(65001), ASN(4200000001)]), SET([ASN(1), ASN(2)])]
    attributes = exabgp_attributes(path, XNextHop("192.0.2.1", IP.pton("192.0.2.1")), LocalPreference(150),
                                   XCommunities([Community(struct.pack("!L", community(65001, 7))),
                                                 Community(Community.NO_EXPORT)]),
                                   XAggregator(ASN(65001), IP.create("192.0.2.1")))
    nlri = [inet(N("203.0.113.0/24"), "192.0.2.1"), inet(N("10.0.0.0/8"), "192.0.2.1")]
    (wire,) = list(XUpdate(nlri, attributes).messages(negotiated))
    got, _ = decode(wire) or (None, 0)
    assert isinstance(got, Update)
    assert set(got.nlri) == {N("203.0.113.0/24"), N("10.0.0.0/8")}
    assert got.attribute(AsPath) == AsPath((AsPathSegment(SegmentType.AS_SEQUENCE, (65001, 4200000001)),
                                            AsPathSegment(SegmentType.AS_SET, (1, 2))))
    assert got.next_hop == HOP
    assert got.attribute(LocalPref) == LocalPref(150)
    assert set(got.communities) == {community(65001, 7), NO_EXPORT}
    assert got.attribute(Aggregator) == Aggregator(65001, HOP)
    assert got.attribute(Origin) == Origin(OriginValue.IGP)


def test_exabgp_ipv6_update_decodes() -> None:
    _, negotiated = exabgp_session()
    nets = [N("2001:db8:1::/48"), N("2001:db8:ff::/64")]
    update = XUpdate([inet(n, "2001:db8::1") for n in nets], exabgp_attributes([SEQUENCE([ASN(65001)])]))
    (wire,) = list(update.messages(negotiated))
    got, _ = decode(wire) or (None, 0)
    assert isinstance(got, Update)
    reach = got.attribute(MpReachNlri)
    assert reach is not None
    assert (reach.afi, reach.safi, reach.next_hops) == (AFI.IPV6, SAFI.UNICAST, (IPv6Address("2001:db8::1"),))
    assert set(reach.nlri) == set(nets)
    assert got.nlri == ()


def test_exabgp_two_octet_session_sends_as4_path() -> None:
    """RFC 6793 4.2.2: to a 2-octet peer, AS_TRANS in AS_PATH and the real path in AS4_PATH."""
    _, negotiated = exabgp_session(asn4=False, local_as=65001)
    assert not negotiated.asn4
    attributes = exabgp_attributes([SEQUENCE([ASN(65001), ASN(4200000001)])],
                                   XNextHop("192.0.2.1", IP.pton("192.0.2.1")))
    (wire,) = list(XUpdate([inet(N("198.51.100.0/24"), "192.0.2.1")], attributes).messages(negotiated))
    got, _ = decode(wire, four_octet_as=False) or (None, 0)
    assert isinstance(got, Update)
    assert got.attribute(AsPath) == AsPath.sequence(65001, 23456)
    assert got.attribute(As4Path) == As4Path((AsPathSegment(SegmentType.AS_SEQUENCE, (65001, 4200000001)),))


def test_our_update_parses_in_exabgp() -> None:
    _, negotiated = exabgp_session()
    ours = Update(
        (N("10.9.0.0/16"),),
        (Origin(OriginValue.EGP), AsPath.sequence(65001, 4200000001), NextHop(HOP), MultiExitDisc(42),
         LocalPref(300), Communities((community(65001, 100), NO_EXPORT)), Aggregator(4200000001, HOP),
         UnknownAttribute(0x63, 0xC0, b"xyz")),
        (N("203.0.113.0/24"), N("198.51.100.128/25")),
    )
    parsed = exabgp_parse(encode(ours), negotiated)
    announced = {str(n.cidr) for n in parsed.nlris if n.action == Action.ANNOUNCE}
    withdrawn = {str(n.cidr) for n in parsed.nlris if n.action == Action.WITHDRAW}
    assert (announced, withdrawn) == ({"203.0.113.0/24", "198.51.100.128/25"}, {"10.9.0.0/16"})
    text = str(parsed.attributes)
    for piece in ("origin egp", "as-path ( 65001 4200000001 )", "med 42", "local-preference 300",
                  "community [ 65001:100 no-export ]", "aggregator ( 4200000001:192.0.2.1 )",
                  "attribute [ 0x63 0xE0 0x78797a ]"):
        assert piece in text, text


def test_our_ipv6_update_parses_in_exabgp() -> None:
    _, negotiated = exabgp_session()
    ours = Update(attributes=(Origin(OriginValue.IGP), AsPath.sequence(65001),
                              MpReachNlri(AFI.IPV6, SAFI.UNICAST, (IPv6Address("2001:db8::1"),),
                                          (N("2001:db8:1::/48"), N("2001:db8:2::/56"))),
                              MpUnreachNlri(AFI.IPV6, SAFI.UNICAST, (N("2001:db8:9::/48"),))))
    parsed = exabgp_parse(encode(ours), negotiated)
    got = {(str(n.cidr), n.action) for n in parsed.nlris}
    assert got == {("2001:db8:1::/48", Action.ANNOUNCE), ("2001:db8:2::/56", Action.ANNOUNCE),
                   ("2001:db8:9::/48", Action.WITHDRAW)}
    assert {str(n.nexthop) for n in parsed.nlris if n.action == Action.ANNOUNCE} == {"2001:db8::1"}


def test_small_messages_both_ways() -> None:
    _, negotiated = exabgp_session()
    assert decode(KeepAlive().message()) == (Keepalive(), 19)
    assert decode(Notify(6, 2, b"bye").message())[0] == Notification(6, 2, b"bye")  # type: ignore[index]
    assert decode(XRouteRefresh(XAFI.ipv6, XSAFI.unicast).message())[0] == RouteRefresh(2, 1)  # type: ignore[index]
    parsed = exabgp_parse(encode(Notification(4, 0)), negotiated)
    assert (parsed.code, parsed.subcode) == (4, 0)
    parsed = exabgp_parse(encode(RouteRefresh(AFI.IPV6, SAFI.UNICAST)), negotiated)
    assert (parsed.afi, parsed.safi) == (XAFI.ipv6, XSAFI.unicast)
    assert exabgp_parse(encode(Keepalive()), negotiated).ID == KeepAlive.ID


v4_nets = st.builds(lambda a, n: ip_network((a, n), strict=False), st.integers(0, 2**32 - 1),
                    st.integers(1, 32))


@settings(max_examples=30, deadline=None)
@given(st.lists(v4_nets, min_size=1, max_size=20, unique=True), st.lists(v4_nets, max_size=10, unique=True),
       st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=8), st.integers(0, 2**32 - 1))
def test_generated_updates_agree_with_exabgp(nlri: list[Any], withdrawn: list[Any], path: list[int],
                                              med: int) -> None:
    _, negotiated = exabgp_session()
    ours = Update(tuple(withdrawn), (Origin(OriginValue.IGP), AsPath.sequence(*path), NextHop(HOP),
                                     MultiExitDisc(med)), tuple(nlri))
    parsed = exabgp_parse(encode(ours), negotiated)
    assert {str(n.cidr) for n in parsed.nlris if n.action == Action.ANNOUNCE} == {str(n) for n in nlri}
    assert {str(n.cidr) for n in parsed.nlris if n.action == Action.WITHDRAW} == {str(n) for n in withdrawn}
    text = str(parsed.attributes).replace("(", "[").replace(")", "]")  # one AS or several
    assert f"as-path [ {' '.join(map(str, path))} ]" in text
    assert f"med {med}" in str(parsed.attributes)
