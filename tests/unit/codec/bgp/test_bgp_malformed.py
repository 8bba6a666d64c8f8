"""Octets that break BGP raise RemoteProtocolError carrying the NOTIFICATION RFC 4271 section 6 names.

Messages BGP cannot carry raise LocalProtocolError from the encoder.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_network

import pytest

from pipework.codec.bgp import (
    AFI,
    SAFI,
    AsPath,
    AsPathSegment,
    BGPError,
    Communities,
    ErrorCode,
    FourOctetAS,
    GracefulRestart,
    LocalProtocolError,
    Message,
    MpReachNlri,
    MultiExitDisc,
    NextHop,
    Notification,
    Open,
    Origin,
    OriginValue,
    RemoteProtocolError,
    RouteRefresh,
    SegmentType,
    StreamDecoder,
    UnknownAttribute,
    UnknownCapability,
    Update,
    decode,
    encode,
)

M = "ff" * 16
ORIGIN, AS_PATH, NEXT_HOP = "40 01 01 00", "40 02 06 02 01 00 00 fd e9", "40 03 04 c0 00 02 01"
GOOD = f"{ORIGIN} {AS_PATH} {NEXT_HOP}"


def message(kind: int, body: str) -> str:
    octets = bytes.fromhex(body)
    return f"{M} {19 + len(octets):04x} {kind:02x} {octets.hex()}"


def update(attributes: str, nlri: str = "", withdrawn: str = "") -> str:
    w, a = bytes.fromhex(withdrawn), bytes.fromhex(attributes)
    return message(2, f"{len(w):04x} {w.hex()} {len(a):04x} {a.hex()} {nlri}")


def open_(head: str = "04 fd e9 00 b4 0a 00 00 01", params: str = "") -> str:
    p = bytes.fromhex(params)
    return message(1, f"{head} {len(p):02x} {p.hex()}")


# (why, four_octet_as, hex, code, subcode, NOTIFICATION data as hex or None for "not checked")
BAD: list[tuple[str, bool, str, int, int, str | None]] = [
    # RFC 4271 6.1, Message Header Error: the data is the bad length field or type octet.
    ("marker not all ones", True, "fe" + "ff" * 15 + " 00 13 04", 1, 1, ""),
    ("length under 19", True, f"{M} 00 12 04", 1, 2, "00 12"),
    ("length over 4096", True, f"{M} 10 01 02", 1, 2, "10 01"),
    ("unknown type", True, f"{M} 00 13 06", 1, 3, "06"),
    ("type 0", True, f"{M} 00 13 00", 1, 3, "00"),
    ("KEEPALIVE with a body", True, f"{M} 00 14 04 00", 1, 2, "00 14"),
    ("OPEN under 29", True, f"{M} 00 1c 01 04 fd e9 00 b4 0a 00 00 01", 1, 2, "00 1c"),
    ("UPDATE under 23", True, f"{M} 00 16 02 00 00 00", 1, 2, "00 16"),
    ("NOTIFICATION under 21", True, f"{M} 00 14 03 06", 1, 2, "00 14"),
    ("ROUTE-REFRESH under 23", True, f"{M} 00 16 05 00 01 00", 1, 2, "00 16"),
    ("ROUTE-REFRESH over 23", True, f"{M} 00 18 05 00 01 00 01 00", 1, 2, "00 18"),
    # RFC 7313 5: for BoRR/EoRR the data is the whole message.
    ("BoRR over 23", True, f"{M} 00 18 05 00 01 01 01 00", 7, 1, f"{M} 00 18 05 00 01 01 01 00"),
    # RFC 4271 6.2, OPEN Message Error.
    ("version 3", True, open_("03 fd e9 00 b4 0a 00 00 01"), 2, 1, "00 04"),
    ("hold time 1", True, open_("04 fd e9 00 01 0a 00 00 01"), 2, 6, ""),
    ("hold time 2", True, open_("04 fd e9 00 02 0a 00 00 01"), 2, 6, ""),
    ("BGP identifier 0", True, open_("04 fd e9 00 b4 00 00 00 00"), 2, 3, ""),
    ("AS 0", True, open_("04 00 00 00 b4 0a 00 00 01"), 2, 2, ""),
    ("4-octet AS 0", True, open_(params="02 06 41 04 00 00 00 00"), 2, 2, ""),
    ("parameters length past the end", True, f"{M} 00 1d 01 04 fd e9 00 b4 0a 00 00 01 05", 1, 2, "00 1d"),
    ("parameters length short of the end", True, f"{M} 00 1f 01 04 fd e9 00 b4 0a 00 00 01 00 02 00",
     1, 2, "00 1f"),
    ("authentication parameter", True, open_(params="01 02 00 00"), 2, 4, ""),
    ("parameter header cut", True, open_(params="02"), 2, 0, ""),
    ("parameter past the parameters", True, f"{M} 00 1f 01 04 fd e9 00 b4 0a 00 00 01 02 02 05", 2, 0, ""),
    ("capability past its parameter", True, open_(params="02 04 01 06 00 01"), 2, 0, ""),
    ("capability header cut", True, open_(params="02 01 01"), 2, 0, ""),
    ("Multiprotocol of 3 octets", True, open_(params="02 05 01 03 00 01 00"), 2, 0, ""),
    ("Route Refresh of 1 octet", True, open_(params="02 03 02 01 00"), 2, 0, ""),
    ("4-octet AS of 2 octets", True, open_(params="02 04 41 02 fd e9"), 2, 0, ""),
    ("Graceful Restart of 3 octets", True, open_(params="02 05 40 03 00 78 00"), 2, 0, ""),
    # RFC 4271 6.3, UPDATE Message Error: the data is the whole offending attribute.
    ("withdrawn length past the end", True, f"{M} 00 17 02 00 05 00 00", 3, 1, ""),
    ("withdrawn length leaves no attribute length", True, f"{M} 00 17 02 00 02 08 0a", 3, 1, ""),
    ("attribute length past the end", True, f"{M} 00 17 02 00 00 00 05", 3, 1, ""),
    ("withdrawn prefix /33", True, update("", withdrawn="21 0a 00 00 00 00"), 3, 10, ""),
    ("withdrawn prefix cut", True, update("", withdrawn="18 0a 00"), 3, 10, ""),
    ("NLRI prefix cut", True, update(GOOD, "18 0a 01"), 3, 10, ""),
    ("NLRI prefix /40", True, update(GOOD, "28 0a 01 02 03 04"), 3, 10, ""),
    ("attribute header cut", True, update("40 01"), 3, 1, ""),
    ("extended attribute header cut", True, update("50 01 00"), 3, 1, ""),
    ("attribute past the attributes", True, update("40 01 05 00"), 3, 5, "40 01 05 00"),
    ("ORIGIN twice", True, update(f"{ORIGIN} 40 01 01 01"), 3, 1, "40 01 01 01"),
    ("ORIGIN flagged optional", True, update("c0 01 01 00"), 3, 4, "c0 01 01 00"),
    ("ORIGIN flagged partial", True, update("60 01 01 00"), 3, 4, "60 01 01 00"),
    ("ORIGIN not transitive", True, update("00 01 01 00"), 3, 4, "00 01 01 00"),
    ("MED flagged transitive", True, update("c0 04 04 00 00 00 01"), 3, 4, "c0 04 04 00 00 00 01"),
    ("MP_REACH flagged partial", True, update("a0 0e 03 00 02 01"), 3, 4, "a0 0e 03 00 02 01"),
    ("COMMUNITIES not transitive", True, update("80 08 04 00 01 00 02"), 3, 4, "80 08 04 00 01 00 02"),
    ("unrecognized well-known", True, update("40 63 01 00"), 3, 2, "40 63 01 00"),
    ("ORIGIN of 2 octets", True, update("40 01 02 00 00"), 3, 5, "40 01 02 00 00"),
    ("ORIGIN 3", True, update("40 01 01 03"), 3, 6, "40 01 01 03"),
    ("NEXT_HOP of 5 octets", True, update("40 03 05 c0 00 02 01 00"), 3, 5, "40 03 05 c0 00 02 01 00"),
    ("NEXT_HOP 0.0.0.0", True, update("40 03 04 00 00 00 00"), 3, 8, "40 03 04 00 00 00 00"),
    ("NEXT_HOP multicast", True, update("40 03 04 e0 00 00 01"), 3, 8, "40 03 04 e0 00 00 01"),
    ("MED of 3 octets", True, update("80 04 03 00 00 01"), 3, 5, "80 04 03 00 00 01"),
    ("LOCAL_PREF of 3 octets", True, update("40 05 03 00 00 01"), 3, 5, "40 05 03 00 00 01"),
    ("ATOMIC_AGGREGATE with a value", True, update("40 06 01 00"), 3, 5, "40 06 01 00"),
    ("AGGREGATOR of 6 on a 4-octet session", True, update("c0 07 06 fd e9 c0 00 02 01"), 3, 5,
     "c0 07 06 fd e9 c0 00 02 01"),
    ("AGGREGATOR of 8 on a 2-octet session", False, update("c0 07 08 00 00 fd e9 c0 00 02 01"), 3, 5,
     "c0 07 08 00 00 fd e9 c0 00 02 01"),
    ("AS4_AGGREGATOR of 6", True, update("c0 12 06 fd e9 c0 00 02 01"), 3, 5, "c0 12 06 fd e9 c0 00 02 01"),
    ("COMMUNITIES of 6 octets", True, update("c0 08 06 00 01 00 02 00 03"), 3, 9,
     "c0 08 06 00 01 00 02 00 03"),
    ("COMMUNITIES empty", True, update("c0 08 00"), 3, 9, "c0 08 00"),
    ("AS_PATH segment type 5", True, update("40 02 04 05 01 fd e9", ""), 3, 11, ""),
    ("AS_PATH segment past the attribute", True, update("40 02 04 02 02 fd e9"), 3, 11, ""),
    ("AS_PATH segment of no AS", True, update("40 02 02 02 00"), 3, 11, ""),
    ("AS_PATH segment header cut", True, update("40 02 01 02"), 3, 11, ""),
    ("2-octet AS_PATH on a 4-octet session", True, update("40 02 04 02 01 fd e9"), 3, 11, ""),
    ("AS4_PATH segment cut", True, update("c0 11 04 02 01 fd e9"), 3, 9, "c0 11 04 02 01 fd e9"),
    ("MP_REACH next hop of 5", True, update("80 0e 0a 00 02 01 05 00 00 00 00 00 00"), 3, 9,
     "80 0e 0a 00 02 01 05 00 00 00 00 00 00"),
    ("MP_REACH next hop past the attribute", True, update("80 0e 06 00 02 01 10 20 01"), 3, 9,
     "80 0e 06 00 02 01 10 20 01"),
    ("MP_REACH shorter than its fields", True, update("80 0e 04 00 02 01 10"), 3, 9, "80 0e 04 00 02 01 10"),
    ("MP_REACH prefix /129", True, update(f"{ORIGIN} {AS_PATH} 80 0e 0a 00 01 01 04 c0 00 02 01 00 81"),
     3, 9, "80 0e 0a 00 01 01 04 c0 00 02 01 00 81"),
    ("MP_UNREACH shorter than its fields", True, update("80 0f 02 00 02"), 3, 9, "80 0f 02 00 02"),
    ("MP_UNREACH prefix cut", True, update("80 0f 05 00 02 01 30 20"), 3, 9, "80 0f 05 00 02 01 30 20"),
    ("NLRI without ORIGIN", True, update(f"{AS_PATH} {NEXT_HOP}", "08 0a"), 3, 3, "01"),
    ("NLRI without AS_PATH", True, update(f"{ORIGIN} {NEXT_HOP}", "08 0a"), 3, 3, "02"),
    ("NLRI without NEXT_HOP", True, update(f"{ORIGIN} {AS_PATH}", "08 0a"), 3, 3, "03"),
    ("MP_REACH without ORIGIN", True, update(f"{AS_PATH} 80 0e 09 00 01 01 04 c0 00 02 01 00"), 3, 3, "01"),
]


@pytest.mark.parametrize(("why", "four", "hexed", "code", "subcode", "data"), BAD, ids=[b[0] for b in BAD])
def test_decode_raises_the_notification(why: str, four: bool, hexed: str, code: int, subcode: int,
                                        data: str | None) -> None:
    octets = bytes.fromhex(hexed)
    with pytest.raises(RemoteProtocolError) as info:
        decode(octets, four_octet_as=four)
    assert (info.value.code, info.value.subcode) == (code, subcode), str(info.value)
    if data is not None:
        assert info.value.data == bytes.fromhex(data)


@pytest.mark.parametrize(("why", "four", "hexed", "code", "subcode", "data"), BAD, ids=[b[0] for b in BAD])
def test_stream_queues_the_notification_then_raises(why: str, four: bool, hexed: str, code: int, subcode: int,
                                                    data: str | None) -> None:
    decoder = StreamDecoder(four_octet_as=four)
    decoder.receive_data(bytes.fromhex(f"{M} 00 13 04") + bytes.fromhex(hexed))
    assert decoder.next_event() is not None  # the KEEPALIVE before the bad message
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    sent = decoder.data_to_send()
    assert sent == encode(Notification.from_error(info.value))
    assert decode(sent) == (Notification(code, subcode, info.value.data), len(sent))
    assert decoder.data_to_send() == b""  # once
    with pytest.raises(RemoteProtocolError):  # and the decoder stays failed
        decoder.next_event()


def test_unknown_families_stay_raw() -> None:
    """MP attributes of families without prefix NLRI (here L2VPN EVPN, AFI 25 SAFI 70) pass whole."""
    evpn = "80 0e 0e 00 19 46 04 c0 00 02 01 00 02 03 01 02 03"
    got = decode(bytes.fromhex(update(f"{ORIGIN} {AS_PATH} {evpn}")))
    assert got is not None
    mp = got[0].attributes[2]  # type: ignore[union-attr]
    assert mp == UnknownAttribute(14, 0x80, bytes.fromhex("00 19 46 04 c0 00 02 01 00 02 03 01 02 03"))
    assert encode(got[0]) == bytes.fromhex(update(f"{ORIGIN} {AS_PATH} {evpn}"))


def test_stream_eof_inside_a_message_sends_nothing() -> None:
    decoder = StreamDecoder()
    decoder.receive_data(bytes.fromhex(f"{M} 00 13"))
    assert decoder.next_event().name == "NEED_DATA"  # type: ignore[union-attr]
    decoder.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="inside a message"):
        decoder.next_event()
    assert decoder.data_to_send() == b""


HOP = IPv4Address("192.0.2.1")
ID = IPv4Address("10.0.0.1")
MANDATORY = (Origin(OriginValue.IGP), AsPath.sequence(65001), NextHop(HOP))
NET = ip_network("10.0.0.0/8")

# (why, four_octet_as, message): the encoder refuses what BGP cannot carry or a peer would refuse.
UNSENDABLE: list[tuple[str, bool, Message]] = [
    ("hold time 2", True, Open(65001, ID, 2)),
    ("hold time over 16 bits", True, Open(65001, ID, 65536)),
    ("version 3", True, Open(65001, ID, version=3)),
    ("AS 0", True, Open(0, ID)),
    ("4-octet AS without the capability", True, Open(4200000001, ID)),
    ("capability disagrees with the AS", True, Open(65001, ID, capabilities=(FourOctetAS(65002),))),
    ("identifier 0.0.0.0", True, Open(65001, IPv4Address(0))),
    ("parameters over 255 octets", True,
     Open(65001, ID, capabilities=(UnknownCapability(99, b"x" * 200),) * 2)),
    ("capability over 253 octets", True, Open(65001, ID, capabilities=(UnknownCapability(99, b"x" * 254),))),
    ("restart time over 12 bits", True, Open(65001, ID, capabilities=(GracefulRestart(4096),))),
    ("4-octet AS on a 2-octet session", False, Update((), (Origin(OriginValue.IGP), AsPath.sequence(70000),
                                                           NextHop(HOP)), (NET,))),
    ("segment of 256 ASes", True, Update((), (Origin(OriginValue.IGP), AsPath.sequence(*range(1, 257)),
                                              NextHop(HOP)), (NET,))),
    ("empty segment", True, Update((), (Origin(OriginValue.IGP),
                                        AsPath((AsPathSegment(SegmentType.AS_SET, ()),)), NextHop(HOP)),
                                   (NET,))),
    ("missing NEXT_HOP", True, Update((), MANDATORY[:2], (NET,))),
    ("missing ORIGIN", True, Update((), MANDATORY[1:], (NET,))),
    ("attribute twice", True, Update((), (*MANDATORY, Origin(OriginValue.EGP)), (NET,))),
    ("NEXT_HOP 0.0.0.0", True, Update((), (*MANDATORY[:2], NextHop(IPv4Address(0))), (NET,))),
    ("MED over 32 bits", True, Update((), (*MANDATORY, MultiExitDisc(1 << 32)), (NET,))),
    ("empty COMMUNITIES", True, Update(attributes=(Communities(()),))),
    ("IPv6 prefix in IPv4 NLRI", True, Update((), MANDATORY, (ip_network("2001:db8::/32"),))),
    ("three next hops", True, Update(attributes=(*MANDATORY[:2], MpReachNlri(
        AFI.IPV6, SAFI.UNICAST, (IPv6Address("2001:db8::1"),) * 3, (ip_network("2001:db8::/32"),))))),
    ("MP family without prefixes", True, Update(attributes=(*MANDATORY[:2], MpReachNlri(25, 70, (HOP,))))),
    ("type code over 255", True, Update(attributes=(UnknownAttribute(300, 0xC0, b""),))),
    ("over 4096 octets", True, Update((), MANDATORY, tuple(ip_network(f"10.{i // 256}.{i % 256}.0/24")
                                                           for i in range(1100)))),
    ("NOTIFICATION code over 255", True, Notification(256)),
    ("ROUTE-REFRESH AFI over 16 bits", True, RouteRefresh(1 << 16)),
]


@pytest.mark.parametrize(("why", "four", "message"), UNSENDABLE, ids=[u[0] for u in UNSENDABLE])
def test_encode_refuses(why: str, four: bool, message: Message) -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode(message, four_octet_as=four)
    assert isinstance(info.value, BGPError)
    assert info.value.code in set(ErrorCode)


def test_encode_refuses_what_is_not_a_message() -> None:
    with pytest.raises(TypeError):
        encode("KEEPALIVE")  # type: ignore[arg-type]


def test_error_family() -> None:
    with pytest.raises(TypeError):
        BGPError("no side", 1)
    err = RemoteProtocolError("bad", 3, 5, bytearray(b"\x40"))
    assert (err.code, err.subcode, err.data, str(err)) == (ErrorCode.UPDATE_MESSAGE_ERROR, 5, b"@", "bad")
    assert err.subcode.name == "ATTRIBUTE_LENGTH_ERROR"  # type: ignore[attr-defined]
    assert "RemoteProtocolError('bad'" in repr(err)
    assert Notification.from_error(err) == Notification(3, 5, b"@")
    assert RemoteProtocolError("x", 99, 7).code == 99  # codes no registry knows stay ints
    assert RemoteProtocolError("x", 6, 99).subcode == 99
    assert Notification(2, 6).subcode.name == "UNACCEPTABLE_HOLD_TIME"  # type: ignore[attr-defined]
