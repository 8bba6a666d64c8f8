"""RDATA: a wire vector per type, class-specific types, RFC 3597 unknowns, malformed RDATA, SVCB params."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest

from pipework.codec.dns import (
    AAAA,
    CAA,
    CNAME,
    HTTPS,
    MX,
    NS,
    PTR,
    SOA,
    SRV,
    SVCB,
    TXT,
    A,
    LocalProtocolError,
    Message,
    Name,
    Rdata,
    RemoteProtocolError,
    ResourceRecord,
    RRClass,
    RRType,
    Unknown,
    decode,
    encode,
)

EXAMPLE = Name.from_text("example")


def one_record(rtype: int, rdata: bytes, rclass: int = RRClass.IN) -> bytes:
    """A response whose single answer, owned by ``example.`` at offset 12, has this RDATA."""
    header = struct.pack("!HHHHHH", 1, 0x8000, 0, 1, 0, 0)
    return header + b"\x07example\x00" + struct.pack("!HHIH", rtype, rclass, 60, len(rdata)) + rdata


def decoded(rtype: int, rdata: bytes, rclass: int = RRClass.IN) -> Rdata:
    return decode(one_record(rtype, rdata, rclass)).answer[0].rdata


def n(text: str) -> Name:
    return Name.from_text(text)


VECTORS: list[tuple[int, bytes, Rdata]] = [
    (RRType.A, bytes.fromhex("c0000201"), A(IPv4Address("192.0.2.1"))),
    (RRType.AAAA, bytes.fromhex("20010db8000000000000000000000001"), AAAA(IPv6Address("2001:db8::1"))),
    (RRType.CNAME, b"\x03www\xc0\x0c", CNAME(n("www.example"))),
    (RRType.NS, b"\x03ns1\xc0\x0c", NS(n("ns1.example"))),
    (RRType.PTR, b"\xc0\x0c", PTR(n("example"))),
    (RRType.MX, b"\x00\x0a\x04mail\xc0\x0c", MX(10, n("mail.example"))),
    (RRType.TXT, b"\x05hello\x00\x05world", TXT((b"hello", b"", b"world"))),
    (RRType.SRV, b"\x00\x0a\x00\x3c\x13\xc4\x03sip\x07example\x00", SRV(10, 60, 5060, n("sip.example"))),
    (
        RRType.SOA,
        b"\x03ns1\xc0\x0c\x0ahostmaster\xc0\x0c" + struct.pack("!IIIII", 2024010101, 7200, 3600, 1209600, 60),
        SOA(n("ns1.example"), n("hostmaster.example"), 2024010101, 7200, 3600, 1209600, 60),
    ),
    (RRType.CAA, b"\x80\x05issueca.example", CAA(0x80, b"issue", b"ca.example")),
    (
        RRType.HTTPS,
        bytes.fromhex("0001 00 0001 0006 026832 026833 0003 0002 01bb 0004 0004 c0000201")
        + bytes.fromhex("0006 0010 20010db8000000000000000000000001"),
        HTTPS.build(1, Name(), alpn=[b"h2", b"h3"], port=443, ipv4hint=[IPv4Address("192.0.2.1")],
                    ipv6hint=[IPv6Address("2001:db8::1")]),
    ),
    (RRType.SVCB, b"\x00\x00\x03svc\x07example\x00", SVCB(0, n("svc.example"))),  # AliasMode
    (99, b"\x01\x02\x03", Unknown(99, b"\x01\x02\x03")),
    (RRType.HINFO, b"\x03cpu\x02os", Unknown(RRType.HINFO, b"\x03cpu\x02os")),
]


@pytest.mark.parametrize(("rtype", "wire", "value"), VECTORS, ids=[str(v[0]) for v in VECTORS])
def test_vector(rtype: int, wire: bytes, value: Rdata) -> None:
    assert decoded(rtype, wire) == value
    msg = Message(answer=[ResourceRecord(EXAMPLE, value, 60)])
    msg.header.id, msg.header.qr = 1, True
    assert encode(msg) == one_record(rtype, wire)  # compression (or not) exactly as in the vector


def test_rtype_comes_from_the_rdata() -> None:
    assert ResourceRecord(EXAMPLE, MX(1, EXAMPLE)).rtype == RRType.MX
    assert ResourceRecord(EXAMPLE, Unknown(1234, b"")).rtype == 1234


@pytest.mark.parametrize("rtype", [RRType.A, RRType.AAAA, RRType.SRV, RRType.SVCB, RRType.HTTPS])
def test_class_specific_types_outside_in_stay_unknown(rtype: int) -> None:
    # RFC 1035 3.4.1 vs CHAOS: an A in class CH is a name and an address, not 4 octets.
    rdata = b"\x07example\x00\x01\x02"
    assert decoded(rtype, rdata, RRClass.CH) == Unknown(rtype, rdata)
    msg = decode(one_record(rtype, rdata, RRClass.CH))
    assert encode(msg) == one_record(rtype, rdata, RRClass.CH)


def test_class_generic_types_decode_in_any_class() -> None:
    assert decoded(RRType.CNAME, b"\xc0\x0c", RRClass.CH) == CNAME(EXAMPLE)


def test_empty_rdata_is_unknown() -> None:
    assert decoded(RRType.CNAME, b"", RRClass.ANY) == Unknown(RRType.CNAME, b"")
    assert decoded(RRType.TXT, b"") == Unknown(RRType.TXT, b"")


@pytest.mark.parametrize(
    ("rtype", "wire"),
    [
        (RRType.A, b"\x01\x02\x03"),
        (RRType.A, b"\x01\x02\x03\x04\x05"),
        (RRType.AAAA, b"\x00" * 15),
        (RRType.CNAME, b"\xc0\x0c\x00"),  # octet after the name
        (RRType.CNAME, b"\x05ab"),  # label overruns RDLENGTH and the message
        (RRType.CNAME, b"\xc0\x40"),  # pointer forward
        (RRType.NS, b"\x01a"),
        (RRType.PTR, b"\xc0"),
        (RRType.MX, b"\x00\x01"),
        (RRType.MX, b"\x00\x01\xc0\x0c\x00"),
        (RRType.TXT, b"\x05abc"),
        (RRType.SRV, b"\x00" * 6),
        (RRType.SRV, b"\x00" * 6 + b"\x01a\x00\x00"),
        (RRType.SOA, b"\xc0\x0c\xc0\x0c" + b"\x00" * 19),
        (RRType.SOA, b"\xc0\x0c\xc0\x0c" + b"\x00" * 21),
        (RRType.CAA, b"\x00\x00x"),  # RFC 8659 4.1: tag length MUST be at least 1
        (RRType.CAA, b"\x00\x09issue"),
        (RRType.CAA, b"\x00"),
    ],
)
def test_malformed_rdata(rtype: int, wire: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decoded(rtype, wire)
    assert info.value.rcode == 1


def test_local_caa_checks() -> None:
    with pytest.raises(LocalProtocolError):
        encode(Message(answer=[ResourceRecord(EXAMPLE, CAA(0, b"", b"x"))]))
    with pytest.raises(LocalProtocolError):
        encode(Message(answer=[ResourceRecord(EXAMPLE, CAA(256, b"issue", b"x"))]))
