"""Property tests: generated headers round-trip in any chunking; any bytes decode, wait, or raise
the codec's error, nothing else."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.proxy_protocol import (
    NEED_DATA,
    SIGNATURE,
    TLV,
    Command,
    Family,
    ProxyHeader,
    ProxyProtocolError,
    Receiver,
    TLVType,
    Transport,
    decode,
    encode,
    ssl_info,
    ssl_tlv,
)

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ports = st.integers(0, 65535)
v4 = st.tuples(st.ip_addresses(v=4).map(IPv4Address), ports)
v6 = st.tuples(st.ip_addresses(v=6).map(IPv6Address), ports)
unix = st.binary(max_size=108).map(lambda p: p.rstrip(b"\x00"))
utf8 = st.text(max_size=16).map(lambda t: t.encode("utf-8", "replace"))
ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=16)
tlvs = st.lists(st.one_of(
    st.builds(TLV, st.just(TLVType.ALPN), st.binary(max_size=16)),
    st.builds(TLV, st.just(TLVType.AUTHORITY), utf8),
    st.builds(TLV, st.just(TLVType.UNIQUE_ID), st.binary(max_size=128)),
    st.builds(TLV, st.just(TLVType.NOOP), st.binary(max_size=4)),
    st.builds(TLV, st.just(TLVType.NETNS), ascii_text.map(str.encode)),
    st.builds(TLV, st.integers(0xE0, 0xFF), st.binary(max_size=8)),
    st.builds(lambda v, c: ssl_tlv(ssl_info(version=v, cn=c)), ascii_text, st.text(max_size=8)),
), max_size=4).map(tuple)



def _v1(family: Family) -> st.SearchStrategy[ProxyHeader]:
    addresses = v4 if family is Family.INET else v6
    return st.builds(lambda s, d: ProxyHeader(Command.PROXY, family, Transport.STREAM, s, d, version=1),
                     addresses, addresses)


v1_headers = st.one_of(st.just(ProxyHeader(version=1)), _v1(Family.INET), _v1(Family.INET6))
transports = st.sampled_from(list(Transport))
v2_headers = st.one_of(
    st.builds(lambda t: ProxyHeader(Command.LOCAL, tlvs=t), tlvs),
    st.builds(lambda t: ProxyHeader(Command.PROXY, tlvs=t), tlvs),
    st.builds(lambda c, tr, s, d, t: ProxyHeader(c, Family.INET, tr, s, d, t),
              st.sampled_from(list(Command)), transports, v4, v4, tlvs),
    st.builds(lambda tr, s, d, t: ProxyHeader(Command.PROXY, Family.INET6, tr, s, d, t),
              transports, v6, v6, tlvs),
    st.builds(lambda tr, s, d, t: ProxyHeader(Command.PROXY, Family.UNIX, tr, s, d, t),
              transports, unix, unix, tlvs),
)


@FAST
@given(st.one_of(v1_headers, v2_headers), st.booleans(), st.binary(max_size=8), st.integers(1, 40))
def test_round_trip_in_chunks(header: ProxyHeader, checksum: bool, app: bytes, chunk: int) -> None:
    wire = encode(header, checksum=checksum and header.version == 2)
    decoded = decode(wire + app)
    assert decoded is not None
    got, used = decoded
    assert used == len(wire)
    assert got.tlvs[: len(header.tlvs)] == header.tlvs
    if not checksum:
        assert got == header
    receiver = Receiver()
    stream = wire + app
    events = []
    for i in range(0, len(stream), chunk):
        receiver.receive_data(stream[i : i + chunk])
        if receiver.header is None:
            events.append(receiver.next_event())
    assert events[-1] == got
    assert all(e is NEED_DATA for e in events[:-1])
    assert receiver.trailing_data[0] == stream[len(wire) :]


def _decodes_or_raises(data: bytes) -> None:
    try:
        result = decode(data)
    except ProxyProtocolError:
        return
    if result is not None:
        assert 0 < result[1] <= len(data)


PIECES = [b" ", b"\r\n", b"1.2.3.4", b"::1", b"80", b"\x00\x0c", b"\x11"]


@FAST
@given(st.binary(max_size=64))
def test_fuzz_any_bytes(data: bytes) -> None:
    _decodes_or_raises(data)


@FAST
@given(st.sampled_from([SIGNATURE + b"\x21", SIGNATURE + b"\x20", b"PROXY TCP4 ", b"PROXY TCP6 ", b"PROXY "]),
       st.lists(st.one_of(st.binary(max_size=12), st.sampled_from(PIECES)), max_size=8))
def test_fuzz_after_a_valid_start(start: bytes, parts: list[bytes]) -> None:
    _decodes_or_raises(start + b"".join(parts))


@FAST
@given(v2_headers, st.integers(0, 10_000), st.integers(0, 255))
def test_fuzz_mutated_headers(header: ProxyHeader, where: int, byte: int) -> None:
    wire = bytearray(encode(header, checksum=True))
    wire[where % len(wire)] = byte
    _decodes_or_raises(bytes(wire))
