"""Messages: header flags, sections, byte vectors, trailing and truncated input, encode limits,
UDP truncation."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest

from pipework.codec.dns import (
    TXT,
    A,
    Edns,
    Header,
    LocalProtocolError,
    Message,
    Name,
    Opcode,
    Question,
    Rcode,
    RemoteProtocolError,
    ResourceRecord,
    RRType,
    Unknown,
    decode,
    decode_prefix,
    encode,
    make_query,
    make_response,
    max_udp_size,
)

QUESTION = bytes.fromhex("03777777 076578616d706c65 03636f6d 00 0001 0001")  # www.example.com. A IN

# A query as dig sends it: ID 0xabcd, RD, one question.
QUERY = bytes.fromhex("abcd 0100 0001 0000 0000 0000") + QUESTION

# Its answer: QR RD RA, two A records whose owner is a pointer to the question name (offset 12).
RESPONSE = (
    bytes.fromhex("abcd 8180 0001 0002 0000 0000")
    + QUESTION
    + bytes.fromhex("c00c 0001 0001 00000e10 0004 c0000201")
    + bytes.fromhex("c00c 0001 0001 00000e10 0004 c0000202")
)

WWW = Name.from_text("www.example.com")


def a_record(name: Name, last_octet: int, ttl: int = 3600) -> ResourceRecord:
    return ResourceRecord(name, A(IPv4Address(f"192.0.2.{last_octet}")), ttl)


def test_decode_query_vector() -> None:
    msg = decode(QUERY)
    assert msg.header == Header(id=0xABCD, rd=True)
    assert msg.question == [Question(WWW, RRType.A, 1)]
    assert msg.answer == msg.authority == msg.additional == []
    assert msg.edns is None
    assert encode(msg) == QUERY


def test_decode_response_vector_and_reencode_identically() -> None:
    msg = decode(RESPONSE)
    assert msg.header == Header(id=0xABCD, qr=True, rd=True, ra=True)
    assert msg.answer == [a_record(WWW, 1), a_record(WWW, 2)]
    assert encode(msg) == RESPONSE  # the owner names compress back to the same pointers


def test_accepts_bytearray_and_memoryview() -> None:
    assert decode(bytearray(RESPONSE)) == decode(memoryview(RESPONSE)) == decode(RESPONSE)


@pytest.mark.parametrize(
    ("bit", "field"),
    [(0x8000, "qr"), (0x0400, "aa"), (0x0200, "tc"), (0x0100, "rd"), (0x0080, "ra"), (0x0040, "z"),
     (0x0020, "ad"), (0x0010, "cd")],
)
def test_each_flag_bit(bit: int, field: str) -> None:
    buf = struct.pack("!HHHHHH", 7, bit, 0, 0, 0, 0)
    header = decode(buf).header
    assert getattr(header, field) is True
    assert sum(getattr(header, f) is True for f in ("qr", "aa", "tc", "rd", "ra", "z", "ad", "cd")) == 1
    assert encode(decode(buf)) == buf


@pytest.mark.parametrize(("opcode", "rcode"), [(0, 0), (Opcode.NOTIFY, 3), (Opcode.UPDATE, 9), (15, 15)])
def test_opcode_and_rcode_fields(opcode: int, rcode: int) -> None:
    buf = struct.pack("!HHHHHH", 1, opcode << 11 | rcode, 0, 0, 0, 0)
    msg = decode(buf)
    assert (msg.header.opcode, msg.header.rcode) == (opcode, rcode)
    assert encode(msg) == buf


def test_trailing_octets() -> None:
    with pytest.raises(RemoteProtocolError, match="after the last record"):
        decode(RESPONSE + b"\x00junk")
    msg, used = decode_prefix(RESPONSE + b"\x00junk")
    assert used == len(RESPONSE)
    assert msg == decode(RESPONSE)


@pytest.mark.parametrize("cut", range(len(RESPONSE)))
def test_every_truncated_prefix_is_refused(cut: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode(RESPONSE[:cut])
    assert info.value.rcode == Rcode.FORMERR


@pytest.mark.parametrize("counts", [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0xFFFF,) * 4])
def test_counts_larger_than_the_data(counts: tuple[int, int, int, int]) -> None:
    with pytest.raises(RemoteProtocolError, match="counts"):
        decode(struct.pack("!HHHHHH", 1, 0, *counts))


def test_counts_plausible_but_records_missing() -> None:
    # ANCOUNT 2 with room for two minimal records, but the octets are one real record.
    buf = bytearray(RESPONSE[: len(RESPONSE) - 16])
    with pytest.raises(RemoteProtocolError):
        decode(bytes(buf))


def test_rdlength_overrun() -> None:
    buf = bytearray(RESPONSE)
    struct.pack_into("!H", buf, len(buf) - 6, 5)  # last record claims 5 RDATA octets, has 4
    with pytest.raises(RemoteProtocolError, match="RDLENGTH"):
        decode(bytes(buf))


def test_rdlength_shorter_than_the_type_needs() -> None:
    buf = bytearray(RESPONSE + b"\x00")
    struct.pack_into("!H", buf, len(buf) - 7, 5)  # an A record of 5 octets
    with pytest.raises(RemoteProtocolError, match="not 4"):
        decode(bytes(buf))


OPT = bytes.fromhex("00 0029 04d0 00000000 0000")  # root, OPT, payload 1232, no flags, no options


def with_additional(base: bytes, *records: bytes, section: int = 3) -> bytes:
    buf = bytearray(base + b"".join(records))
    count_at = 4 + 2 * section
    struct.pack_into("!H", buf, count_at, struct.unpack_from("!H", buf, count_at)[0] + len(records))
    return bytes(buf)


def test_opt_is_lifted_into_edns() -> None:
    msg = decode(with_additional(QUERY, OPT))
    assert msg.edns == Edns(payload=1232)
    assert msg.additional == []
    assert encode(msg) == with_additional(QUERY, OPT)


def test_two_opt_records_refused() -> None:
    with pytest.raises(RemoteProtocolError, match=r"more than one OPT.*6\.1\.1"):
        decode(with_additional(QUERY, OPT, OPT))


def test_opt_outside_additional_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="outside the additional"):
        decode(with_additional(QUERY, OPT, section=1))


def test_opt_with_a_non_root_owner_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="root"):
        decode(with_additional(QUERY, b"\x01a" + OPT))


def test_extended_rcode_merges_and_splits() -> None:
    query = make_query("example.com", edns=Edns())
    response = make_response(query, rcode=Rcode.BADVERS)
    wire = encode(response)
    flags = struct.unpack_from("!H", wire, 2)[0]
    assert flags & 0xF == 0  # BADVERS = 16: low bits 0, upper bits 1 in the OPT TTL
    assert wire[-6] == 1
    assert decode(wire).header.rcode == Rcode.BADVERS


def test_extended_rcode_without_edns_refused() -> None:
    with pytest.raises(LocalProtocolError, match="EDNS"):
        encode(Message(Header(rcode=Rcode.BADVERS)))
    with pytest.raises(LocalProtocolError):
        encode(Message(Header(rcode=0x1000), edns=Edns()))


@pytest.mark.parametrize(
    "message",
    [
        Message(Header(id=0x10000)),
        Message(Header(opcode=16)),
        Message(answer=[ResourceRecord(WWW, A(IPv4Address("192.0.2.1")), ttl=-1)]),
        Message(answer=[ResourceRecord(WWW, TXT(()))]),
        Message(answer=[ResourceRecord(WWW, TXT((b"x" * 256,)))]),
        Message(question=[Question(Name((b"a" * 64,)))]),
        Message(additional=[ResourceRecord(Name(), Unknown(RRType.OPT, b""))]),
        Message(answer=[ResourceRecord(WWW, Unknown(99, b"x" * 65536))]),
        Message(answer=[ResourceRecord(WWW, Unknown(99, b"x" * 40000))] * 2),
    ],
    ids=["id", "opcode", "ttl", "empty-txt", "long-string", "long-label", "opt-rr", "rdlength", "too-big"],
)
def test_encode_refuses(message: Message) -> None:
    with pytest.raises(LocalProtocolError):
        encode(message)


def test_unknown_type_and_empty_rdata_round_trip() -> None:
    msg = Message(
        answer=[
            ResourceRecord(WWW, Unknown(0xFF00, b"\xc0\x0c opaque, never decompressed")),
            ResourceRecord(WWW, Unknown(RRType.A, b""), rclass=255),  # an UPDATE-style delete
        ]
    )
    assert decode(encode(msg)) == msg


# -- UDP truncation (RFC 2181 9, RFC 6891 7) -------------------------------------------------------


def big_response(n: int, edns: Edns | None = None) -> Message:
    query = make_query(WWW, edns=edns)
    response = make_response(query)
    response.answer = [a_record(WWW, i % 250) for i in range(n)]
    return response


def test_fitting_message_is_untouched() -> None:
    msg = big_response(5)
    assert encode(msg, max_size=512) == encode(msg)


def test_truncation_drops_answers_and_sets_tc() -> None:
    msg = big_response(100)
    wire = encode(msg, max_size=512)
    assert len(wire) <= 512
    got = decode(wire)
    assert got.header.tc
    assert 0 < len(got.answer) < 100
    assert got.answer == msg.answer[: len(got.answer)]
    assert len(wire) + 16 > 512  # no room was left for one more record
    assert not msg.header.tc  # the message itself is not changed


def test_truncation_keeps_opt() -> None:
    msg = big_response(200, edns=Edns(payload=4096, dnssec_ok=True))
    msg.authority = [a_record(Name.from_text("ns.example"), 9)]
    wire = encode(msg, max_size=max_udp_size(make_query(WWW, edns=Edns(payload=1232))))
    assert len(wire) <= 1232
    got = decode(wire)
    assert got.header.tc
    assert got.edns is not None
    assert got.edns.dnssec_ok
    assert got.authority == []


def test_truncating_additional_keeps_whole_rrsets_and_no_tc() -> None:
    msg = big_response(2)
    ns1, ns2 = Name.from_text("ns1.example.net"), Name.from_text("ns2.example.net")
    msg.additional = [a_record(ns1, i) for i in range(3)] + [a_record(ns2, i) for i in range(40)]
    size = len(encode(Message(msg.header, msg.question, msg.answer, [], msg.additional[:3])))
    wire = encode(msg, max_size=size + 16 * 5)  # room for 5 of the 40 records of ns2
    got = decode(wire)
    assert not got.header.tc  # RFC 2181 9: extra information is not worth a retry over TCP
    assert got.answer == msg.answer
    assert got.additional == msg.additional[:3]


def test_truncation_with_nothing_but_the_question() -> None:
    msg = big_response(3)
    wire = encode(msg, max_size=12 + len(QUESTION))
    got = decode(wire)
    assert got.header.tc
    assert got.answer == []
    assert got.question == msg.question


def test_max_size_too_small_for_the_question() -> None:
    with pytest.raises(LocalProtocolError, match="header, question and OPT"):
        encode(big_response(1, edns=Edns()), max_size=30)


def test_opt_goes_before_a_final_tsig() -> None:
    tsig = ResourceRecord(Name.from_text("key.example"), Unknown(RRType.TSIG, b"\x00signature"), rclass=255)
    msg = make_query(WWW, edns=Edns())
    msg.additional = [tsig]
    wire = encode(msg)
    assert wire.endswith(b"\x00signature")
    assert wire.index(b"\x00\x00\x29") < wire.index(b"\x03key")
    got = decode(wire)
    assert got.additional == [tsig]
    assert got.edns == Edns()


def test_max_udp_size() -> None:
    assert max_udp_size(make_query(WWW)) == 512
    assert max_udp_size(make_query(WWW, edns=Edns(payload=1232))) == 1232
    assert max_udp_size(make_query(WWW, edns=Edns(payload=100))) == 512  # RFC 6891 6.2.5


def test_make_response_copies_what_rfcs_say() -> None:
    query = make_query("Example.COM", RRType.AAAA, id=77, edns=Edns(payload=4096, dnssec_ok=True))
    query.header.cd = True
    response = make_response(query, Rcode.NXDOMAIN)
    assert response.header == Header(id=77, qr=True, rd=True, cd=True, rcode=Rcode.NXDOMAIN)
    assert response.question == query.question
    assert response.edns is not None
    assert response.edns.dnssec_ok
    assert make_response(make_query(WWW)).edns is None
