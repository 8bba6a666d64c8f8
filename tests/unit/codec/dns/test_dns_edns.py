"""EDNS(0): the OPT record's fields (RFC 6891 6.1) and the Client Subnet option (RFC 7871 6)."""

from __future__ import annotations

import struct
from ipaddress import IPv4Network, IPv6Network

import pytest

from pipework.codec.dns import (
    ClientSubnet,
    Edns,
    EdnsOptionCode,
    LocalProtocolError,
    Message,
    Option,
    RemoteProtocolError,
    decode,
    encode,
    make_query,
)


def with_opt(rdata: bytes, payload: int = 4096, ttl: int = 0) -> bytes:
    """An empty query (ID 1) whose additional section holds one OPT record."""
    header = struct.pack("!HHHHHH", 1, 0, 0, 0, 0, 1)
    return header + b"\x00" + struct.pack("!HHIH", 41, payload, ttl, len(rdata)) + rdata


ECS_V4 = bytes.fromhex("0008 0007 0001 18 00 c00002")  # 192.0.2.0/24, scope 0
ECS_V6 = bytes.fromhex("0008 000b 0002 38 30 20010db8abcdef")  # 2001:db8:abcd:ef00::/56, scope 48
COOKIE = bytes.fromhex("000a 0008 0102030405060708")


def test_opt_fields() -> None:
    # TTL: extended rcode 0, version 0, DO set, one reserved Z bit set (kept as received).
    wire = with_opt(ECS_V4 + ECS_V6 + COOKIE, payload=1232, ttl=0x0000_8001)
    edns = decode(wire).edns
    assert edns == Edns(
        payload=1232, version=0, dnssec_ok=True, z=1,
        options=[
            ClientSubnet(IPv4Network("192.0.2.0/24")),
            ClientSubnet(IPv6Network("2001:db8:abcd:ef00::/56"), 48),
            Option(EdnsOptionCode.COOKIE, bytes.fromhex("0102030405060708")),
        ],
    )
    assert edns.client_subnet == ClientSubnet(IPv4Network("192.0.2.0/24"))
    assert encode(decode(wire)) == wire


def test_version_and_extended_rcode() -> None:
    wire = with_opt(b"", ttl=0x0101_0000)  # extended rcode 1 (BADVERS with header 0), version 1
    msg = decode(wire)
    assert msg.edns is not None
    assert msg.edns.version == 1
    assert msg.header.rcode == 16
    assert encode(msg) == wire


def test_client_subnet_absent() -> None:
    assert Edns().client_subnet is None
    assert Edns(options=[Option(3, b"")]).client_subnet is None


@pytest.mark.parametrize(
    ("network", "wire"),
    [
        (IPv4Network("0.0.0.0/0"), "0001 00 00"),
        (IPv4Network("10.1.0.0/16"), "0001 10 00 0a01"),
        (IPv4Network("192.0.2.128/25"), "0001 19 00 c0000280"),
        (IPv4Network("192.0.2.7/32"), "0001 20 00 c0000207"),
        (IPv6Network("2001:db8::/32"), "0002 20 00 20010db8"),
        (IPv6Network("::/0"), "0002 00 00"),
    ],
)
def test_client_subnet_vectors(network: IPv4Network | IPv6Network, wire: str) -> None:
    data = bytes.fromhex(wire)
    assert ClientSubnet.from_wire(data) == ClientSubnet(network)
    assert ClientSubnet(network).to_wire() == data


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("0001 18", "shorter than 4"),
        ("0003 08 00 0a", "unknown family"),
        ("0001 21 00 0a000000ff", "IPv4 prefix over 32"),
        ("0001 18 21 c00002", "IPv4 scope over 32"),
        ("0002 81 00" + "00" * 17, "IPv6 prefix over 128"),
        ("0001 18 00 c0000200", "too many address octets"),
        ("0001 18 00 c000", "too few address octets"),
        ("0001 17 00 c00003", "bits set past the prefix"),
    ],
)
def test_client_subnet_malformed(data: str, why: str) -> None:
    raw = bytes.fromhex(data)
    option = struct.pack("!HH", 8, len(raw)) + raw
    with pytest.raises(RemoteProtocolError, match="RFC 7871") as info:
        decode(with_opt(option))
    assert info.value.rcode == 1, why


@pytest.mark.parametrize("rdata", ["000a", "000a 0004 0102", "0008 0007 0001 18 00 c000"])
def test_options_overrunning_rdata(rdata: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode(with_opt(bytes.fromhex(rdata)))


@pytest.mark.parametrize(
    "edns",
    [
        Edns(version=256),
        Edns(z=0x8000),
        Edns(payload=70000),
        Edns(options=[ClientSubnet(IPv4Network("10.0.0.0/8"), scope_prefix=33)]),
        Edns(options=[Option(12, bytes(65536))]),
    ],
)
def test_encode_refuses(edns: Edns) -> None:
    with pytest.raises(LocalProtocolError):
        encode(Message(edns=edns))


def test_query_with_client_subnet_round_trips() -> None:
    query = make_query("example.com", edns=Edns(options=[ClientSubnet(IPv6Network("2001:db8::/48"))]))
    assert decode(encode(query)) == query
