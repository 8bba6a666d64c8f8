"""dnspython as the independent peer: its wire octets decode to the values we expect, our octets parse
in dnspython to the messages it builds itself, and both compress names the same way."""

from __future__ import annotations

import os
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest

# dnspython is optional: without it this module is skipped (an error under PIPEWORK_REQUIRE_ALL=1,
# as for missing system tools, DESIGN.md 7), so its imports come after the check.
if os.environ.get("PIPEWORK_REQUIRE_ALL") != "1":
    pytest.importorskip("dns.message", reason="dnspython is the peer: pip install dnspython")

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
from hypothesis import given, settings
from hypothesis import strategies as st

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
    ClientSubnet,
    Edns,
    Header,
    Message,
    Name,
    Option,
    Question,
    Rcode,
    Rdata,
    ResourceRecord,
    RRType,
    Unknown,
    decode,
    encode,
    make_query,
    make_response,
)


def n(text: str) -> Name:
    return Name.from_text(text)


# (owner, type, dnspython text form, the value our codec must decode it to)
CASES: list[tuple[str, str, str, Rdata]] = [
    ("example.com.", "A", "192.0.2.1", A(IPv4Address("192.0.2.1"))),
    ("example.com.", "AAAA", "2001:db8::1", AAAA(IPv6Address("2001:db8::1"))),
    ("www.example.com.", "CNAME", "example.com.", CNAME(n("example.com"))),
    ("example.com.", "NS", "ns1.example.com.", NS(n("ns1.example.com"))),
    ("1.2.0.192.in-addr.arpa.", "PTR", "host.example.com.", PTR(n("host.example.com"))),
    ("example.com.", "MX", "10 mail.example.com.", MX(10, n("mail.example.com"))),
    ("example.com.", "TXT", '"v=spf1 -all" "" "a\\"quote"', TXT((b"v=spf1 -all", b"", b'a"quote'))),
    ("_sip._tcp.example.com.", "SRV", "10 60 5060 sip.example.com.", SRV(10, 60, 5060, n("sip.example.com"))),
    (
        "example.com.", "SOA", "ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300",
        SOA(n("ns1.example.com"), n("hostmaster.example.com"), 2024010101, 7200, 3600, 1209600, 300),
    ),
    ("example.com.", "CAA", '128 issue "ca.example.net; a=42"', CAA(128, b"issue", b"ca.example.net; a=42")),
    (
        "example.com.", "HTTPS",
        '1 . alpn="h2,h3" port=8443 ipv4hint=192.0.2.1,192.0.2.2 ech="AARhYmNk" ipv6hint=2001:db8::1',
        HTTPS.build(1, Name(), alpn=[b"h2", b"h3"], port=8443,
                    ipv4hint=[IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")], ech=b"\x00\x04abcd",
                    ipv6hint=[IPv6Address("2001:db8::1")]),
    ),
    (
        "_dns.example.com.", "SVCB",
        "1 dns.example.com. mandatory=alpn,port alpn=dot no-default-alpn port=53",
        SVCB.build(1, n("dns.example.com"), mandatory=[1, 3], alpn=[b"dot"], no_default_alpn=True, port=53),
    ),
    ("alias.example.com.", "HTTPS", "0 pool.example.net.", HTTPS(0, n("pool.example.net"))),
    ("example.com.", "HINFO", '"cpu" "os"', Unknown(RRType.HINFO, b"\x03cpu\x02os")),
    ("example.com.", "TYPE65280", r"\# 3 010203", Unknown(65280, b"\x01\x02\x03")),
]


def peer_response() -> dns.message.Message:
    """A dnspython response with one answer of every type, plus authority and glue."""
    query = dns.message.make_query("example.com", "A", use_edns=0, want_dnssec=True, payload=1232)
    response = dns.message.make_response(query)
    for owner, rtype, text, _ in CASES:
        response.answer.append(dns.rrset.from_text(owner, 300, "IN", rtype, text))
    response.authority.append(dns.rrset.from_text("example.com.", 3600, "IN", "NS", "ns1.example.com."))
    response.additional.append(dns.rrset.from_text("ns1.example.com.", 3600, "IN", "A", "192.0.2.53"))
    return response


def our_response(query_id: int) -> Message:
    response = make_response(make_query("example.com", id=query_id, edns=Edns(payload=1232, dnssec_ok=True)))
    response.header.aa = False
    response.answer = [ResourceRecord(n(owner), value, 300) for owner, _, _, value in CASES]
    response.authority = [ResourceRecord(n("example.com"), NS(n("ns1.example.com")), 3600)]
    response.additional = [ResourceRecord(n("ns1.example.com"), A(IPv4Address("192.0.2.53")), 3600)]
    return response


def test_peer_query_with_ecs_decodes() -> None:
    cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"\x01" * 8)
    options = [dns.edns.ECSOption("198.51.100.0", 24), cookie]
    query = dns.message.make_query("WWW.Example.com", "AAAA", use_edns=0, payload=4096, want_dnssec=True,
                                   options=options)
    wire = query.to_wire()
    msg = decode(wire)
    assert msg.header == Header(id=query.id, rd=True)
    assert msg.question == [Question(n("WWW.Example.com"), RRType.AAAA, 1)]
    ecs = ClientSubnet(IPv4Network("198.51.100.0/24"))
    assert msg.edns == Edns(4096, 0, True, 0, [ecs, Option(10, b"\x01" * 8)])
    assert encode(msg) == wire


def test_peer_ipv6_ecs_with_scope_decodes() -> None:
    query = dns.message.make_query("example.com", "A", use_edns=0,
                                   options=[dns.edns.ECSOption("2001:db8:1234::", 48, 40)])
    edns = decode(query.to_wire()).edns
    assert edns is not None
    assert edns.client_subnet == ClientSubnet(IPv6Network("2001:db8:1234::/48"), 40)


def test_peer_response_of_every_type_decodes() -> None:
    peer = peer_response()
    wire = peer.to_wire()
    msg = decode(wire)
    assert msg.header.qr
    assert msg.header.rd
    assert [rr.rdata for rr in msg.answer] == [value for *_, value in CASES]
    assert [rr.name for rr in msg.answer] == [n(owner) for owner, *_ in CASES]
    assert {rr.ttl for rr in msg.answer} == {300}
    assert msg.authority == [ResourceRecord(n("example.com"), NS(n("ns1.example.com")), 3600)]
    assert msg.additional == [ResourceRecord(n("ns1.example.com"), A(IPv4Address("192.0.2.53")), 3600)]
    assert msg.edns == Edns(peer.payload, dnssec_ok=bool(peer.ednsflags & dns.flags.DO))
    # Same compression decisions as dnspython: the octets come back identical.
    assert encode(msg) == wire


def test_our_response_parses_in_dnspython() -> None:
    peer = peer_response()
    ours = encode(our_response(peer.id))
    parsed = dns.message.from_wire(ours)
    assert parsed == peer
    assert [rrset.ttl for rrset in parsed.answer] == [300] * len(CASES)
    assert parsed.edns == 0
    assert parsed.payload == 1232
    assert parsed.ednsflags & dns.flags.DO  # we copy DO (RFC 3225 3)
    assert len(ours) == len(peer.to_wire())


def test_our_query_with_ecs_parses_in_dnspython() -> None:
    ecs = ClientSubnet(IPv6Network("2001:db8:abcd::/48"), 0)
    ours = make_query("Mixed.Case.example", RRType.HTTPS, id=4242, edns=Edns(1400, options=[ecs]))
    parsed = dns.message.from_wire(encode(ours))
    assert parsed.id == 4242
    assert parsed.flags & dns.flags.RD
    assert parsed.question[0].name.to_text() == "Mixed.Case.example."
    assert parsed.question[0].rdtype == dns.rdatatype.HTTPS
    assert parsed.payload == 1400
    (option,) = parsed.options
    assert isinstance(option, dns.edns.ECSOption)
    assert (option.address, option.srclen, option.scopelen) == ("2001:db8:abcd::", 48, 0)


def test_extended_rcode_both_ways() -> None:
    query = dns.message.make_query("example.com", "A", use_edns=0)
    peer = dns.message.make_response(query)
    peer.set_rcode(dns.rcode.BADVERS)
    assert decode(peer.to_wire()).header.rcode == Rcode.BADVERS
    ours = make_response(decode(query.to_wire()), Rcode.BADVERS)
    assert dns.message.from_wire(encode(ours)).rcode() == dns.rcode.BADVERS


def test_truncated_response_parses_in_dnspython() -> None:
    ours = our_response(7)
    ours.answer *= 4
    wire = encode(ours, max_size=512)
    parsed = dns.message.from_wire(wire)
    assert parsed.flags & dns.flags.TC
    assert parsed.edns == 0  # the OPT record survives truncation
    assert len(wire) <= 512


def test_names_compress_like_dnspython() -> None:
    peer = dns.message.make_response(dns.message.make_query("a.very.long.name.example.com", "MX"))
    for i in range(5):
        peer.answer.append(dns.rrset.from_text("a.very.long.name.example.com.", 60, "IN", "MX",
                                               f"{i} mx{i}.long.name.example.com."))
    wire = peer.to_wire()
    msg = decode(wire)
    assert encode(msg) == wire
    assert len(wire) < 200  # would be ~330 octets uncompressed


LDH = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
label_text = st.text(LDH, min_size=1, max_size=20)
name_text = st.lists(label_text, min_size=1, max_size=4).map(lambda labels: ".".join(labels) + ".")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(name_text, st.just("A"), st.ip_addresses(v=4).map(str)),
            st.tuples(name_text, st.just("AAAA"), st.ip_addresses(v=6).map(str)),
            st.tuples(name_text, st.just("MX"), st.tuples(st.integers(0, 65535), name_text).map(
                lambda t: f"{t[0]} {t[1]}")),
            st.tuples(name_text, st.just("CNAME"), name_text),
            st.tuples(name_text, st.just("TXT"), st.lists(label_text, min_size=1, max_size=3).map(
                lambda parts: " ".join(f'"{p}"' for p in parts))),
        ),
        max_size=6,
    )
)
def test_generated_records_agree_with_dnspython(records: list[tuple[str, str, str]]) -> None:
    peer = dns.message.make_response(dns.message.make_query("example.com", "A"))
    for owner, rtype, text in records:
        peer.answer.append(dns.rrset.from_text(owner, 60, "IN", rtype, text))
    wire = peer.to_wire()
    msg = decode(wire)
    assert dns.message.from_wire(encode(msg)) == dns.message.from_wire(wire)
    assert encode(msg) == wire


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=10), max_size=4))
def test_name_text_matches_dnspython(labels: list[bytes]) -> None:
    name = Name(labels)
    assert name.to_text() == dns.name.Name([*labels, b""]).to_text()
    assert Name.from_text(dns.name.Name([*labels, b""]).to_text()) == name
