"""Byte vectors laid out by hand from the RFCs: fed whole, byte by byte and with trailing bytes.

Each vector is written field by field from the layouts of RFC 4271 4.1-4.5 (header, OPEN, UPDATE,
KEEPALIVE, NOTIFICATION), RFC 5492 4 (capabilities), RFC 4760 3-4 (MP_REACH/MP_UNREACH), RFC 6793
(AS_TRANS, AS4_PATH), RFC 4724 3 (graceful restart), RFC 1997 (communities) and RFC 2918 3
(ROUTE-REFRESH), never produced by the encoder under test.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_network

import pytest

from pipework.codec.bgp import (
    AFI,
    CLOSED,
    NEED_DATA,
    NO_EXPORT,
    SAFI,
    Aggregator,
    As4Aggregator,
    As4Path,
    AsPath,
    AsPathSegment,
    AtomicAggregate,
    CeaseSubcode,
    Communities,
    ErrorCode,
    FourOctetAS,
    GracefulRestart,
    GracefulRestartFamily,
    Keepalive,
    LocalPref,
    Message,
    MpReachNlri,
    MpUnreachNlri,
    MultiExitDisc,
    Multiprotocol,
    NextHop,
    Notification,
    Open,
    Origin,
    OriginValue,
    RouteRefresh,
    RouteRefreshCapability,
    SegmentType,
    StreamDecoder,
    UnknownAttribute,
    UnknownCapability,
    Update,
    community,
    decode,
    encode,
    end_of_rib,
    propagate,
)

M = "ff" * 16  # the marker (RFC 4271 4.1: "This 16-octet field ... MUST be set to all ones")
N = ip_network
SEQ, SET = SegmentType.AS_SEQUENCE, SegmentType.AS_SET
ID = IPv4Address("10.0.0.1")
HOP = IPv4Address("192.0.2.1")

# (name, four_octet_as, hex, message): each message encodes to exactly these octets and decodes
# from them.
VECTORS: list[tuple[str, bool, str, Message]] = [
    ("keepalive", True, f"{M} 00 13 04", Keepalive()),
    # OPEN: version 4, AS 65001, hold time 180, BGP identifier 10.0.0.1, no optional parameters.
    ("open-bare", True, f"{M} 00 1d 01  04 fd e9 00 b4 0a 00 00 01 00", Open(65001, ID, 180)),
    # OPEN with one Capabilities parameter (type 2, 28 octets): MP IPv4 unicast, MP IPv6 unicast,
    # Route Refresh, 4-octet AS 65001, Graceful Restart 120 s with IPv4 unicast forwarding kept.
    ("open-capabilities", True,
     f"{M} 00 3b 01  04 fd e9 00 5a 0a 00 00 01 1e  02 1c"
     "  01 04 00 01 00 01  01 04 00 02 00 01  02 00  41 04 00 00 fd e9  40 06 00 78 00 01 01 80",
     Open(65001, ID, 90, (Multiprotocol(AFI.IPV4, SAFI.UNICAST), Multiprotocol(AFI.IPV6, SAFI.UNICAST),
                          RouteRefreshCapability(), FourOctetAS(65001),
                          GracefulRestart(120, families=(
                              GracefulRestartFamily(AFI.IPV4, SAFI.UNICAST, True),))))),
    # A 4-octet AS: My Autonomous System is AS_TRANS 23456 (0x5ba0), the AS rides in capability 65.
    ("open-as4", True, f"{M} 00 25 01  04 5b a0 00 5a 0a 00 00 01 08  02 06 41 04 fa 56 ea 01",
     Open(4200000001, ID, 90, (FourOctetAS(4200000001),))),
    # Hold time 0 (no keepalives), restarting speaker (R bit, restart time 5), unknown capability 73.
    ("open-restarting", True, f"{M} 00 26 01  04 fd e9 00 00 0a 00 00 01 09  02 07 40 02 80 05 49 01 78",
     Open(65001, ID, 0, (GracefulRestart(5, restarting=True), UnknownCapability(73, b"x")))),
    # UPDATE: 10.1.0.0/16 withdrawn; every well-known and RFC 1997 attribute; three prefixes.
    ("update-ipv4", True,
     f"{M} 00 67 02  00 03 10 0a 01  00 43"
     "  40 01 01 00"
     "  40 02 0e 02 03 00 00 fd e9 00 00 fd ea fa 56 ea 01"
     "  40 03 04 c0 00 02 01"
     "  80 04 04 00 00 00 64"
     "  40 05 04 00 00 00 c8"
     "  40 06 00"
     "  c0 07 08 00 00 fd e9 c0 00 02 01"
     "  c0 08 08 fd e9 00 64 ff ff ff 01"
     "  18 cb 00 71  19 c6 33 64 80  00",
     Update((N("10.1.0.0/16"),),
            (Origin(OriginValue.IGP), AsPath.sequence(65001, 65002, 4200000001), NextHop(HOP),
             MultiExitDisc(100), LocalPref(200), AtomicAggregate(), Aggregator(65001, HOP),
             Communities((community(65001, 100), NO_EXPORT))),
            (N("203.0.113.0/24"), N("198.51.100.128/25"), N("0.0.0.0/0")))),
    # The same kind on a 2-octet AS session: AS_PATH with AS_TRANS and an AS_SET, a 6-octet
    # AGGREGATOR, and the RFC 6793 AS4_PATH/AS4_AGGREGATOR that carry the real AS.
    ("update-as2", False,
     f"{M} 00 54 02  00 00  00 3b"
     "  40 01 01 02"
     "  40 02 0c 02 02 fd e9 5b a0 01 02 00 01 00 02"
     "  40 03 04 c0 00 02 01"
     "  c0 07 06 fd e9 c0 00 02 01"
     "  c0 11 0a 02 02 00 00 fd e9 fa 56 ea 01"
     "  c0 12 08 fa 56 ea 01 c0 00 02 01"
     "  08 0a",
     Update((), (Origin(OriginValue.INCOMPLETE),
                 AsPath((AsPathSegment(SEQ, (65001, 23456)), AsPathSegment(SET, (1, 2)))), NextHop(HOP),
                 Aggregator(65001, HOP), As4Path((AsPathSegment(SEQ, (65001, 4200000001)),)),
                 As4Aggregator(4200000001, HOP)),
            (N("10.0.0.0/8"),))),
    # MP_REACH_NLRI (RFC 4760 3, RFC 2545 3): IPv6 unicast, a global and a link-local next hop (32
    # octets), a reserved octet, 2001:db8:1::/48 and 2001:db8:2::/64.
    ("update-mp-reach-ipv6", True,
     f"{M} 00 5c 02  00 00  00 45"
     "  40 01 01 00"
     "  40 02 06 02 01 00 00 fd e9"
     "  80 0e 35 00 02 01 20"
     "    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01"
     "    fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 01"
     "    00  30 20 01 0d b8 00 01  40 20 01 0d b8 00 02 00 00",
     Update(attributes=(Origin(OriginValue.IGP), AsPath.sequence(65001),
                        MpReachNlri(AFI.IPV6, SAFI.UNICAST,
                                    (IPv6Address("2001:db8::1"), IPv6Address("fe80::1")),
                                    (N("2001:db8:1::/48"), N("2001:db8:2::/64")))))),
    ("update-mp-unreach-ipv6", True, f"{M} 00 24 02  00 00  00 0d  80 0f 0a 00 02 01 30 20 01 0d b8 00 01",
     Update(attributes=(MpUnreachNlri(AFI.IPV6, SAFI.UNICAST, (N("2001:db8:1::/48"),)),))),
    # End-of-RIB markers (RFC 4724 2): an empty UPDATE for IPv4, an empty MP_UNREACH otherwise.
    ("eor-ipv4", True, f"{M} 00 17 02  00 00 00 00", end_of_rib(AFI.IPV4, SAFI.UNICAST)),
    ("eor-ipv6", True, f"{M} 00 1d 02  00 00 00 06 80 0f 03 00 02 01", end_of_rib(AFI.IPV6, SAFI.UNICAST)),
    # An unknown optional transitive attribute already marked Partial, and COMMUNITIES with Partial.
    ("update-partial", True, f"{M} 00 24 02  00 00 00 0d  e0 63 03 61 62 63  e0 08 04 00 01 00 02",
     Update(attributes=(UnknownAttribute(0x63, 0xE0, b"abc"),
                        Communities((community(1, 2),), partial=True)))),
    # NOTIFICATION (RFC 4271 4.5): Hold Timer Expired; Cease/Administrative Shutdown with RFC 9003
    # shutdown communication data; an error code no registry knows.
    ("notification-hold", True, f"{M} 00 15 03 04 00", Notification(ErrorCode.HOLD_TIMER_EXPIRED)),
    ("notification-cease", True, f"{M} 00 1a 03 06 02 04 62 79 65 21",
     Notification(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, b"\x04bye!")),
    ("notification-unknown", True, f"{M} 00 15 03 63 07", Notification(99, 7)),
    # ROUTE-REFRESH (RFC 2918 3): AFI 2, reserved 0, SAFI 1; and RFC 7313's BoRR subtype.
    ("route-refresh", True, f"{M} 00 17 05 00 02 00 01", RouteRefresh(AFI.IPV6, SAFI.UNICAST)),
    ("route-refresh-borr", True, f"{M} 00 17 05 00 01 01 01", RouteRefresh(AFI.IPV4, SAFI.UNICAST, 1)),
]
IDS = [name for name, *_ in VECTORS]


@pytest.mark.parametrize(("name", "four", "hexed", "message"), VECTORS, ids=IDS)
def test_encode_gives_the_vector(name: str, four: bool, hexed: str, message: Message) -> None:
    assert encode(message, four_octet_as=four) == bytes.fromhex(hexed)


@pytest.mark.parametrize(("name", "four", "hexed", "message"), VECTORS, ids=IDS)
def test_decode_whole(name: str, four: bool, hexed: str, message: Message) -> None:
    data = bytes.fromhex(hexed)
    assert decode(data, four_octet_as=four) == (message, len(data))
    assert decode(bytearray(data), four_octet_as=four) == (message, len(data))
    assert decode(memoryview(data), four_octet_as=four) == (message, len(data))


@pytest.mark.parametrize(("name", "four", "hexed", "message"), VECTORS, ids=IDS)
def test_decode_with_trailing_bytes(name: str, four: bool, hexed: str, message: Message) -> None:
    data = bytes.fromhex(hexed)
    assert decode(data + bytes.fromhex(f"{M} 00 13 04 ff"), four_octet_as=four) == (message, len(data))


@pytest.mark.parametrize(("name", "four", "hexed", "message"), VECTORS, ids=IDS)
def test_every_truncation_needs_more_data(name: str, four: bool, hexed: str, message: Message) -> None:
    data = bytes.fromhex(hexed)
    for n in range(len(data)):
        assert decode(data[:n], four_octet_as=four) is None


@pytest.mark.parametrize(("name", "four", "hexed", "message"), VECTORS, ids=IDS)
def test_stream_byte_by_byte(name: str, four: bool, hexed: str, message: Message) -> None:
    data = bytes.fromhex(hexed)
    decoder = StreamDecoder(four_octet_as=four)
    for i in range(len(data) - 1):
        decoder.receive_data(data[i:i + 1])
        assert decoder.next_event() is NEED_DATA
    decoder.receive_data(data[-1:])
    assert decoder.next_event() == message
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(b"")
    assert decoder.next_event() is CLOSED
    assert decoder.data_to_send() == b""


@pytest.mark.parametrize(("name", "four", "hexed", "message"), VECTORS, ids=IDS)
def test_stream_whole_with_trailing_bytes(name: str, four: bool, hexed: str, message: Message) -> None:
    data = bytes.fromhex(hexed)
    decoder = StreamDecoder(four_octet_as=four)
    decoder.receive_data(data + data + b"\xff\xff")
    assert decoder.next_event() == message
    assert decoder.next_event() == message
    assert decoder.next_event() is NEED_DATA
    assert decoder.trailing_data == (b"\xff\xff", False)
    decoder.receive_data(bytes.fromhex(M)[2:] + bytes.fromhex("00 13 04"))
    assert decoder.next_event() == Keepalive()


def test_all_vectors_as_one_stream_in_odd_chunks() -> None:
    stream = b"".join(bytes.fromhex(h) for _, four, h, _ in VECTORS if four)
    expected = [m for _, four, _, m in VECTORS if four]
    decoder = StreamDecoder()
    got: list[object] = []
    for i in range(0, len(stream), 7):
        decoder.receive_data(stream[i:i + 7])
        while (event := decoder.next_event()) is not NEED_DATA:
            got.append(event)
    assert got == expected
    assert decoder.buffered == 0


# Wire forms the encoder does not produce but every decoder must read (RFC 4271 4.3, RFC 5492 4).
DECODE_ONLY: list[tuple[str, str, Message]] = [
    # An Extended Length attribute whose value would fit one length octet.
    ("extended-length", f"{M} 00 1e 02 00 00 00 07 90 64 00 03 78 79 7a",
     Update(attributes=(UnknownAttribute(0x64, 0x80, b"xyz"),))),
    # Each capability in its own Capabilities parameter (what ExaBGP and Cisco send).
    ("capability-per-parameter", f"{M} 00 2b 01 04 fd e9 00 5a 0a 00 00 01 0e 02 06 01 04 00 01 00 01"
     " 02 02 02 00 02 00",
     Open(65001, ID, 90, (Multiprotocol(AFI.IPV4, SAFI.UNICAST), RouteRefreshCapability()))),
    # Trailing bits of a prefix are "irrelevant" (RFC 4271 4.3): 10.1.2.3/16 is 10.1.0.0/16.
    ("prefix-trailing-bits", f"{M} 00 1a 02 00 03 10 0a 01 00 00", Update(withdrawn=(N("10.1.0.0/16"),))),
    ("prefix-host-bits", f"{M} 00 1b 02 00 04 11 0a 01 ff 00 00", Update(withdrawn=(N("10.1.128.0/17"),))),
    # A Reserved octet of MP_REACH_NLRI that is not zero "MUST be ignored upon receipt" (RFC 4760 3).
    ("mp-reserved-octet", f"{M} 00 31 02 00 00 00 1a 40 01 01 00 40 02 00"
     " 80 0e 10 00 02 01 04 c0 00 02 01 07 30 20 01 0d b8 00 01",
     Update(attributes=(Origin(OriginValue.IGP), AsPath(),
                        MpReachNlri(AFI.IPV6, SAFI.UNICAST, (HOP,), (N("2001:db8:1::/48"),))))),
]


@pytest.mark.parametrize(("name", "hexed", "message"), DECODE_ONLY, ids=[n for n, *_ in DECODE_ONLY])
def test_decode_only_forms(name: str, hexed: str, message: Message) -> None:
    data = bytes.fromhex(hexed)
    assert decode(data) == (message, len(data))
    again = encode(message)
    assert decode(again) == (message, len(again))


def test_update_helpers() -> None:
    update = VECTORS[5][3]
    assert isinstance(update, Update)
    assert update.next_hop == HOP
    assert update.communities == (community(65001, 100), NO_EXPORT)
    assert update.end_of_rib is None
    assert update.unreachable == (N("10.1.0.0/16"),)
    mp = VECTORS[7][3]
    assert isinstance(mp, Update)
    assert mp.reachable == (N("2001:db8:1::/48"), N("2001:db8:2::/64"))
    assert mp.next_hop is None
    assert end_of_rib(AFI.IPV6, SAFI.UNICAST).end_of_rib == (AFI.IPV6, SAFI.UNICAST)
    assert Update().end_of_rib == (AFI.IPV4, SAFI.UNICAST)
    assert AsPath((AsPathSegment(SEQ, (1, 2, 3)), AsPathSegment(SET, (4, 5)))).length == 4


def test_open_helpers() -> None:
    message = VECTORS[2][3]
    assert isinstance(message, Open)
    assert message.families == {(AFI.IPV4, SAFI.UNICAST), (AFI.IPV6, SAFI.UNICAST)}
    assert message.four_octet_as
    assert message.capability(GracefulRestart) == GracefulRestart(
        120, families=(GracefulRestartFamily(AFI.IPV4, SAFI.UNICAST, True),))
    bare = Open(65001, ID)
    assert bare.families == {(AFI.IPV4, SAFI.UNICAST)}  # RFC 4760 8: no capability, IPv4 only
    assert not bare.four_octet_as
    assert Open(4200000001, ID, capabilities=(FourOctetAS(4200000001),)).my_as == 23456


def test_propagate_sets_partial_and_drops_non_transitive() -> None:
    """RFC 4271 5: unrecognized optional transitive attributes go on with Partial set; unrecognized
    non-transitive ones are "quietly ignored"; recognized ones are untouched."""
    attrs = (Origin(OriginValue.IGP), UnknownAttribute(0x63, 0xC0, b"t"),
             UnknownAttribute(0x64, 0x80, b"n"), Communities((1,)))
    expected = (Origin(OriginValue.IGP), UnknownAttribute(0x63, 0xE0, b"t"), Communities((1,)))
    assert propagate(attrs) == expected
