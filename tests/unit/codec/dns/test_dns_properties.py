"""Property tests: encode/decode round trips over generated messages, truncation invariants, and fuzzing
(arbitrary or mutated octets decode or raise DNSError, nothing else)."""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.dns import (
    AAAA,
    CAA,
    CNAME,
    HTTPS,
    MX,
    NEED_DATA,
    NS,
    PTR,
    SOA,
    SRV,
    SVCB,
    TXT,
    A,
    ClientSubnet,
    DNSError,
    Edns,
    Header,
    Message,
    Name,
    Option,
    Question,
    Rdata,
    RemoteProtocolError,
    ResourceRecord,
    RRClass,
    RRType,
    StreamDecoder,
    Unknown,
    decode,
    encode,
    encode_tcp,
    peek_question,
)

# Bounded so that the whole DNS suite stays within a few seconds; generating a message costs ~10 ms.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
ROUND_TRIP = settings(max_examples=100, **_COMMON)  # type: ignore[arg-type]
FEW = settings(max_examples=60, **_COMMON)  # type: ignore[arg-type]
FUZZ = settings(max_examples=300, **_COMMON)  # type: ignore[arg-type]

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)

# A pool of related names so that compression has suffixes to find, case variants included.
POOL = [Name.from_text(t) for t in (".", "com", "example.com", "www.example.com", "WWW.Example.COM",
                                    "mail.example.com", "a.b.c.example.com", "example.org")]
labels = st.one_of(
    st.sampled_from([b"www", b"example", b"com", b"EXAMPLE", b"a"]), st.binary(min_size=1, max_size=63)
)
random_names = st.lists(labels, max_size=5).map(Name).filter(lambda n: n.wire_length() <= 255)
names = st.one_of(st.sampled_from(POOL), random_names)

KNOWN = {t.value for t in RRType}
unknown_types = u16.filter(lambda t: t not in KNOWN)

ipv4 = st.ip_addresses(v=4).map(lambda a: IPv4Address(int(a)))
ipv6 = st.ip_addresses(v=6).map(lambda a: IPv6Address(int(a)))


@st.composite
def svcb(draw: st.DrawFn, cls: type[SVCB]) -> SVCB:
    maybe = st.none().__or__
    other = draw(st.dictionaries(st.integers(9, 0xFFFE), st.binary(max_size=12), max_size=3))
    return cls.build(
        draw(u16), draw(names),
        alpn=draw(maybe(st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=3))),
        no_default_alpn=draw(st.booleans()),
        port=draw(maybe(u16)),
        ipv4hint=draw(maybe(st.lists(ipv4, min_size=1, max_size=3))),
        ech=draw(maybe(st.binary(max_size=16))),
        ipv6hint=draw(maybe(st.lists(ipv6, min_size=1, max_size=2))),
        mandatory=draw(maybe(st.lists(st.integers(1, 8), min_size=1, max_size=3, unique=True))),
        other=other,
    )


in_rdata: st.SearchStrategy[Rdata] = st.one_of(
    st.builds(A, ipv4),
    st.builds(AAAA, ipv6),
    st.builds(SRV, u16, u16, u16, names),
    svcb(SVCB),
    svcb(HTTPS),
)
any_class_rdata: st.SearchStrategy[Rdata] = st.one_of(
    st.builds(CNAME, names),
    st.builds(NS, names),
    st.builds(PTR, names),
    st.builds(MX, u16, names),
    st.builds(TXT, st.lists(st.binary(max_size=40), min_size=1, max_size=4).map(tuple)),
    st.builds(SOA, names, names, u32, u32, u32, u32, u32),
    st.builds(CAA, u8, st.binary(min_size=1, max_size=15), st.binary(max_size=40)),
    st.builds(Unknown, unknown_types, st.binary(min_size=1, max_size=40)),
    st.builds(Unknown, u16.filter(lambda t: t not in (RRType.OPT, RRType.TSIG)), st.just(b"")),
)


@st.composite
def records(draw: st.DrawFn) -> ResourceRecord:
    if draw(st.booleans()):
        return ResourceRecord(draw(names), draw(in_rdata), draw(u32), RRClass.IN)
    rclass = draw(st.sampled_from([RRClass.IN, RRClass.CH, RRClass.ANY]))
    return ResourceRecord(draw(names), draw(any_class_rdata), draw(u32), rclass)


client_subnets = st.one_of(
    st.builds(lambda a, p, s: ClientSubnet(IPv4Network((a, p), strict=False), s), ipv4, st.integers(0, 32),
              st.integers(0, 32)),
    st.builds(lambda a, p, s: ClientSubnet(IPv6Network((a, p), strict=False), s), ipv6, st.integers(0, 128),
              st.integers(0, 128)),
)
generic_options = st.builds(Option, u16.filter(lambda c: c != 8), st.binary(max_size=20))
edns = st.builds(
    Edns, u16, u8, st.booleans(), st.integers(0, 0x7FFF),
    st.lists(st.one_of(client_subnets, generic_options), max_size=3),
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    opt = draw(st.none() | edns)
    header = Header(
        id=draw(u16), qr=draw(st.booleans()), opcode=draw(st.integers(0, 15)), aa=draw(st.booleans()),
        tc=draw(st.booleans()), rd=draw(st.booleans()), ra=draw(st.booleans()), z=draw(st.booleans()),
        ad=draw(st.booleans()), cd=draw(st.booleans()),
        rcode=draw(st.integers(0, 0xFFF if opt is not None else 0xF)),
    )
    question = draw(st.lists(st.builds(Question, names, u16, u16), max_size=2))
    answer, authority, additional = (draw(st.lists(records(), max_size=3)) for _ in range(3))
    return Message(header, question, answer, authority, additional, opt)


@ROUND_TRIP
@given(messages())
def test_round_trip(message: Message) -> None:
    wire = encode(message)
    assert decode(wire) == message
    assert encode(decode(wire)) == wire


@FEW
@given(messages(), st.integers(12, 700))
def test_truncation_invariants(message: Message, max_size: int) -> None:
    try:
        wire = encode(message, max_size=max_size)
    except DNSError:
        # Only when even the header, question and OPT record do not fit.
        bare = Message(message.header, message.question, edns=message.edns)
        assert len(encode(bare)) > max_size
        return
    assert len(wire) <= max_size
    got = decode(wire)
    assert got.question == message.question
    assert got.edns == message.edns
    assert got.answer == message.answer[: len(got.answer)]
    assert got.authority == message.authority[: len(got.authority)]
    assert got.additional == message.additional[: len(got.additional)]
    dropped_required = len(got.answer) < len(message.answer) or len(got.authority) < len(message.authority)
    assert got.header.tc == (message.header.tc or dropped_required)
    if wire != encode(message):
        assert dropped_required or len(got.additional) < len(message.additional)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_octets(buf: bytes) -> None:
    check_decodes_or_refuses(buf)


@FEW
@given(messages(), st.data())
def test_fuzz_mutated_messages(message: Message, data: st.DataObject) -> None:
    wire = bytearray(encode(message))
    for _ in range(data.draw(st.integers(1, 4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(u8)
    cut = data.draw(st.integers(0, len(wire)))
    check_decodes_or_refuses(bytes(wire[:cut]))
    check_decodes_or_refuses(bytes(wire))


def check_decodes_or_refuses(buf: bytes) -> None:
    try:
        message = decode(buf)
    except RemoteProtocolError as exc:
        assert exc.rcode == 1  # noqa: PT017 (a fuzz target: most inputs do not raise)
    else:
        # Whatever we accept, we can write back, and it reads the same.
        assert decode(encode(message)) == message
        if message.question:
            first = message.question[0]
            assert peek_question(buf) == (first.name, first.qtype, first.qclass)
    try:
        peek_question(buf)
    except RemoteProtocolError:
        pass


# Pipelined messages of every section and EDNS, for the split test (generating them per example
# would cost more than the splitting being tested).
PIPELINE = [
    Message(Header(id=1, rd=True), [Question(POOL[3])], edns=Edns(options=[Option(10, b"12345678")])),
    Message(Header(id=2, qr=True), [Question(POOL[2], RRType.MX)],
            [ResourceRecord(POOL[2], MX(10, POOL[5]), 300)], [ResourceRecord(POOL[2], NS(POOL[3]))],
            [ResourceRecord(POOL[5], A(IPv4Address("192.0.2.1")))]),
    Message(Header(id=3, qr=True, rcode=3), [Question(POOL[6], RRType.HTTPS)],
            [ResourceRecord(POOL[6], HTTPS.build(1, Name(), alpn=[b"h3"], port=443))]),
]


@ROUND_TRIP
@given(st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_stream_any_split(sizes: list[int]) -> None:
    stream = b"".join(encode_tcp(m) for m in PIPELINE)
    decoder = StreamDecoder()
    got: list[Message] = []
    pos = 0
    for size in itertools.cycle(sizes):
        if pos >= len(stream):
            break
        decoder.receive_data(stream[pos : pos + size])
        pos += size
        while (event := decoder.next_event()) is not NEED_DATA:
            assert isinstance(event, Message)
            got.append(event)
    assert got == PIPELINE


@FUZZ
@given(st.lists(st.binary(min_size=1, max_size=40), max_size=8))
def test_fuzz_stream(chunks: list[bytes]) -> None:
    decoder = StreamDecoder()
    try:
        for chunk in [*chunks, b""]:
            decoder.receive_data(chunk)
            while (event := decoder.next_event()) is not NEED_DATA:
                if not isinstance(event, Message):
                    return
    except DNSError:
        pass
