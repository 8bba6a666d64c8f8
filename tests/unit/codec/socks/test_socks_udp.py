"""The UDP request header of RFC 1928 7: vectors, round trips, and the datagrams a relay must drop."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from pipework.codec.socks import (
    END_OF_FRAGMENTS,
    Address,
    LocalProtocolError,
    RemoteProtocolError,
    UDPDatagram,
    decode_udp,
    encode_udp,
)

VECTORS = [
    ("00 00 00 01 c0 00 02 01 00 35 ab cd", UDPDatagram(Address(IPv4Address("192.0.2.1"), 53), b"\xab\xcd")),
    ("00 00 00 03 0b 65 78 61 6d 70 6c 65 2e 63 6f 6d 00 35", UDPDatagram(Address("example.com", 53), b"")),
    ("00 00 00 04" + " 00" * 15 + " 01 01 bb 51", UDPDatagram(Address(IPv6Address(1), 443), b"Q")),
]


@pytest.mark.parametrize(("hexed", "datagram"), VECTORS)
def test_vectors_both_ways(hexed: str, datagram: UDPDatagram) -> None:
    wire = bytes.fromhex(hexed)
    assert encode_udp(datagram) == wire
    assert decode_udp(wire) == datagram
    assert decode_udp(memoryview(wire)) == datagram


@pytest.mark.parametrize(("hexed", "why"), [
    ("", "empty"),
    ("00 00 00", "no ATYP"),
    ("00 01 00 01 7f 00 00 01 00 35", "RSV is X'0000'"),
    ("00 00 00 01 7f 00 00", "address cut short"),
    ("00 00 00 01 7f 00 00 01 00", "port cut short"),
    ("00 00 00 09 7f 00 00 01 00 35", "no ATYP 9"),
    ("00 00 00 03 00 00 35", "empty domain name"),
    ("00 00 01 01 7f 00 00 01 00 35", "a fragment, which we MUST drop"),
])
def test_datagrams_to_drop(hexed: str, why: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_udp(bytes.fromhex(hexed))
    assert info.value.reply_code is None  # UDP has no way to refuse: the relay drops it


def test_fragments_on_request() -> None:
    wire = bytes.fromhex("00 00 81 01 7f 00 00 01 00 35 ff")
    datagram = decode_udp(wire, fragments=True)
    assert datagram.frag == END_OF_FRAGMENTS | 1
    assert encode_udp(datagram) == wire


def test_unsendable() -> None:
    with pytest.raises(LocalProtocolError):
        encode_udp(UDPDatagram(Address("x", 1), b"", frag=256))
    with pytest.raises(LocalProtocolError):
        encode_udp(UDPDatagram(Address("x", 70000), b""))
