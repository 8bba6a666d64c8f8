"""The ``proxy-protocol`` package as an independent peer: headers it builds decode here, headers we
build parse there, both versions, with TLVs and (with its ``crc32c`` dependency) the checksum."""

from __future__ import annotations

import os
import socket
from ipaddress import IPv4Address, IPv6Address

import pytest

# proxy-protocol is optional: without it this module is skipped (an error under
# PIPEWORK_REQUIRE_ALL=1, DESIGN.md 7), so its imports come after the check.
if os.environ.get("PIPEWORK_REQUIRE_ALL") != "1":
    pytest.importorskip("proxyprotocol", reason="proxy-protocol is a peer: pip install proxy-protocol crc32c")

from proxyprotocol import checksum as peer_checksum
from proxyprotocol.result import ProxyResultIPv4, ProxyResultIPv6, ProxyResultLocal, ProxyResultUnknown
from proxyprotocol.tlv import ProxyProtocolSSLTLV, ProxyProtocolTLV
from proxyprotocol.v1 import ProxyProtocolV1
from proxyprotocol.v2 import ProxyProtocolV2

from pipework.codec.proxy_protocol import (
    TLV,
    Command,
    Family,
    ProxyHeader,
    RemoteProtocolError,
    TLVType,
    Transport,
    decode,
    encode,
    ssl_info,
    ssl_tlv,
)

needs_crc = pytest.mark.skipif(
    peer_checksum.crc32c is None and os.environ.get("PIPEWORK_REQUIRE_ALL") != "1",
    reason="the peer computes CRC32C only with the crc32c package: pip install crc32c")
SRC4, DST4 = (IPv4Address("198.51.100.7"), 40000), (IPv4Address("203.0.113.1"), 443)
SRC6, DST6 = (IPv6Address("2001:db8::7"), 40000), (IPv6Address("2001:db8::1"), 443)


def test_their_v1_lines_decode_here() -> None:
    for result, expected in [
        (ProxyResultIPv4(SRC4, DST4), ProxyHeader(Command.PROXY, Family.INET, Transport.STREAM, SRC4, DST4,
                                                  version=1)),
        (ProxyResultIPv6(SRC6, DST6), ProxyHeader(Command.PROXY, Family.INET6, Transport.STREAM, SRC6, DST6,
                                                  version=1)),
        (ProxyResultUnknown(), ProxyHeader(version=1)),
    ]:
        wire = ProxyProtocolV1().pack(result)
        assert decode(wire) == (expected, len(wire))


def test_our_v1_lines_parse_there() -> None:
    for src, dst in [(SRC4, DST4), (SRC6, DST6)]:
        family = Family.INET if src is SRC4 else Family.INET6
        wire = encode(ProxyHeader(Command.PROXY, family, Transport.STREAM, src, dst, version=1))
        result = ProxyProtocolV1().unpack(wire)
        assert (result.source, result.dest) == (src, dst)
    assert isinstance(ProxyProtocolV1().unpack(encode(ProxyHeader(version=1))), ProxyResultUnknown)


def _their_tlv() -> ProxyProtocolTLV:
    ssl = ProxyProtocolSSLTLV(has_ssl=True, verified=True, version="TLSv1.3", cn="client.example",
                              cipher="TLS_AES_128_GCM_SHA256")
    return ProxyProtocolTLV(alpn=b"h2", authority="example.com", unique_id=b"conn-42", ssl=ssl, netns="blue")


@pytest.mark.parametrize("transport", [socket.SOCK_STREAM, socket.SOCK_DGRAM])
def test_their_v2_headers_decode_here(transport: socket.SocketKind) -> None:
    wire = ProxyProtocolV2().pack(ProxyResultIPv6(SRC6, DST6, protocol=transport, tlv=_their_tlv()))
    header, used = decode(wire + b"app") or (None, 0)
    assert header is not None
    assert used == len(wire)
    assert (header.command, header.family, header.source, header.destination) == (
        Command.PROXY, Family.INET6, SRC6, DST6)
    assert header.transport is (Transport.STREAM if transport == socket.SOCK_STREAM else Transport.DGRAM)
    assert (header.alpn, header.authority, header.netns) == (b"h2", "example.com", "blue")
    assert header.unique_id == b"conn-42"
    assert header.ssl is not None
    assert (header.ssl.version, header.ssl.cn, header.ssl.cipher, header.ssl.verify) == (
        "TLSv1.3", "client.example", "TLS_AES_128_GCM_SHA256", 0)
    assert encode(header) == wire  # passed on unchanged, byte for byte


@needs_crc
def test_their_checksum_verifies_here() -> None:
    tlv = ProxyProtocolTLV(alpn=b"h2", auto_crc32c=True)
    wire = ProxyProtocolV2().pack(ProxyResultIPv4(SRC4, DST4, tlv=tlv))
    header = decode(wire)
    assert header is not None
    assert header[0].crc32c is not None
    corrupt = wire[:-1] + bytes([wire[-1] ^ 1])
    with pytest.raises(RemoteProtocolError, match="CRC32C"):
        decode(corrupt)


@needs_crc
def test_our_v2_headers_parse_and_verify_there() -> None:
    # The peer recomputes the checksum over TLVs it re-sorts by type, so ours are in type order
    # here, the CRC32C placeholder included; our encoder fills it in where it stands.
    ours = ProxyHeader(Command.PROXY, Family.INET, Transport.STREAM, SRC4, DST4,
                       (TLV(TLVType.ALPN, b"h2"), TLV(TLVType.AUTHORITY, b"example.com"),
                        TLV(TLVType.CRC32C, bytes(4)), TLV(TLVType.UNIQUE_ID, b"conn-42"),
                        ssl_tlv(ssl_info(version="TLSv1.2", cn="c")), TLV(TLVType.NETNS, b"blue")))
    wire = encode(ours, checksum=True)
    result = ProxyProtocolV2().unpack(wire)  # raises ProxyProtocolChecksumError on a mismatch
    assert (result.source, result.dest) == (SRC4, DST4)
    tlv = result.tlv
    assert (tlv.alpn, tlv.authority, tlv.unique_id, tlv.netns, tlv.crc32c) == (
        b"h2", "example.com", b"conn-42", "blue", decode(wire)[0].crc32c)  # type: ignore[index]
    assert (tlv.ssl.version, tlv.ssl.cn) == ("TLSv1.2", "c")


def test_local_both_ways() -> None:
    wire = ProxyProtocolV2().pack(ProxyResultLocal())  # with a CRC32C TLV when crc32c is installed
    decoded = decode(wire)
    assert decoded is not None
    assert decoded[1] == len(wire)
    assert decoded[0] == ProxyHeader(Command.LOCAL, tlvs=decoded[0].tlvs)
    assert all(t.type == TLVType.CRC32C for t in decoded[0].tlvs)
    assert isinstance(ProxyProtocolV2().unpack(encode(ProxyHeader.local())), ProxyResultLocal)
