"""SVCB and HTTPS records (RFC 9460): wire checks on SvcParams, typed helpers, ordering, hashing."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest

from pipework.codec.dns import (
    HTTPS,
    SVCB,
    LocalProtocolError,
    Message,
    Name,
    Rdata,
    RemoteProtocolError,
    ResourceRecord,
    RRType,
    SvcParamKey,
    decode,
    encode,
)

EXAMPLE = Name.from_text("example")


def decoded(rtype: int, rdata: bytes) -> Rdata:
    """The RDATA of a one-answer response owned by ``example.`` (class IN)."""
    header = struct.pack("!HHHHHH", 1, 0x8000, 0, 1, 0, 0)
    wire = header + b"\x07example\x00" + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata
    return decode(wire).answer[0].rdata


def n(text: str) -> Name:
    return Name.from_text(text)


SVC_HEAD = b"\x00\x01\x00"  # priority 1, target "."


@pytest.mark.parametrize(
    ("params", "why"),
    [
        (bytes.fromhex("0003 0002 01bb 0001 0003 026832"), "keys out of order"),
        (bytes.fromhex("0003 0002 01bb 0003 0002 01bb"), "duplicate key"),
        (bytes.fromhex("0003 0002 01"), "value past RDATA"),
        (bytes.fromhex("0003 00"), "key header past RDATA"),
        (bytes.fromhex("0000 0003 000100"), "mandatory odd length"),
        (bytes.fromhex("0000 0000"), "mandatory empty"),
        (bytes.fromhex("0000 0002 0000"), "mandatory lists itself"),
        (bytes.fromhex("0000 0004 00030001"), "mandatory not increasing"),
        (bytes.fromhex("0001 0000"), "alpn empty"),
        (bytes.fromhex("0001 0003 00 0168"), "empty alpn-id"),
        (bytes.fromhex("0001 0002 0368"), "alpn-id past value"),
        (bytes.fromhex("0002 0001 00"), "no-default-alpn with a value"),
        (bytes.fromhex("0003 0003 0001bb"), "port of 3 octets"),
        (bytes.fromhex("0004 0005 c000020101"), "ipv4hint of 5 octets"),
        (bytes.fromhex("0006 0000"), "ipv6hint empty"),
    ],
)
def test_malformed_svcparams(params: bytes, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match="RFC 9460"):
        decoded(RRType.HTTPS, SVC_HEAD + params)


def test_svcb_target_overrunning_rdata() -> None:
    with pytest.raises(RemoteProtocolError):
        decoded(RRType.SVCB, b"\x00\x01\x05abc")
    with pytest.raises(RemoteProtocolError):
        decoded(RRType.SVCB, b"\x00\x01")


def test_svcb_helpers() -> None:
    record = HTTPS.build(
        1, n("svc.example"), mandatory=[SvcParamKey.PORT, SvcParamKey.ALPN], alpn=[b"h3", b"h2"],
        no_default_alpn=True, port=8443, ipv4hint=[IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")],
        ech=b"\x00\x04abcd", ipv6hint=[IPv6Address("2001:db8::2")], other={0xFF00: b"private"},
    )
    got = decode(encode(Message(answer=[ResourceRecord(EXAMPLE, record)]))).answer[0].rdata
    assert got == record
    assert isinstance(got, HTTPS)
    assert got.mandatory() == (SvcParamKey.ALPN, SvcParamKey.PORT)
    assert got.alpn() == (b"h3", b"h2")
    assert got.no_default_alpn()
    assert got.port() == 8443
    assert got.ipv4hint() == (IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2"))
    assert got.ipv6hint() == (IPv6Address("2001:db8::2"),)
    assert got.ech() == b"\x00\x04abcd"
    assert got.params[0xFF00] == b"private"


def test_svcb_without_params() -> None:
    record = SVCB(0, n("pool.example"))
    assert (record.alpn(), record.port(), record.ipv4hint(), record.ipv6hint()) == (None,) * 4
    assert (record.mandatory(), record.ech(), record.no_default_alpn()) == (None, None, False)


def test_svcb_encodes_keys_in_increasing_order() -> None:
    record = SVCB(1, Name(), {3: b"\x01\xbb", 1: b"\x02h2"})
    wire = encode(Message(answer=[ResourceRecord(EXAMPLE, record)]))
    assert wire.endswith(bytes.fromhex("0001 0003 026832 0003 0002 01bb"))


def test_svcb_is_hashable_and_typed() -> None:
    a = SVCB(1, Name(), {1: b"\x02h2", 3: b"\x01\xbb"})
    b = SVCB(1, Name(), {3: b"\x01\xbb", 1: b"\x02h2"})
    assert a == b
    assert hash(a) == hash(b)
    assert HTTPS(1, Name(), {}) != SVCB(1, Name(), {})
    assert len({a, b, HTTPS(1, Name(), {})}) == 2


def test_svcb_locally_malformed_values() -> None:
    record = SVCB(1, Name(), {SvcParamKey.PORT: b"\x01"})
    with pytest.raises(LocalProtocolError, match="port"):
        record.port()
    with pytest.raises(LocalProtocolError, match="port"):
        encode(Message(answer=[ResourceRecord(EXAMPLE, record)]))
