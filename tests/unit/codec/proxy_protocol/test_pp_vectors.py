"""Headers from HAProxy's proxy-protocol.txt and laid out by it: fed whole, byte by byte and with
the application's bytes after them; each encodes back to the same bytes."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from pipework.codec.proxy_protocol import (
    MAX_V1_LENGTH,
    NEED_DATA,
    SIGNATURE,
    TLV,
    Command,
    Family,
    ProxyHeader,
    Receiver,
    RemoteProtocolError,
    TLVType,
    Transport,
    decode,
    encode,
)

V4, V6 = IPv4Address, IPv6Address
FFFF = V6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
F39 = b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"  # 39 characters, the longest IPv6 text
TCP4 = ProxyHeader(Command.PROXY, Family.INET, Transport.STREAM, (V4("192.168.0.1"), 56324),
                   (V4("192.168.0.11"), 443), version=1)

# (wire bytes, header). The v1 lines are the spec's own examples (2.1), including its longest.
V1_VECTORS: list[tuple[bytes, ProxyHeader]] = [
    (b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", TCP4),
    (b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",  # 56 chars
     ProxyHeader(Command.PROXY, Family.INET, Transport.STREAM, (V4("255.255.255.255"), 65535),
                 (V4("255.255.255.255"), 65535), version=1)),
    (b"PROXY TCP6 " + F39 + b" " + F39 + b" 65535 65535\r\n",  # 104 chars
     ProxyHeader(Command.PROXY, Family.INET6, Transport.STREAM, (FFFF, 65535), (FFFF, 65535), version=1)),
    (b"PROXY TCP6 2001:db8::1 ::1 0 8080\r\n",
     ProxyHeader(Command.PROXY, Family.INET6, Transport.STREAM, (V6("2001:db8::1"), 0), (V6("::1"), 8080),
                 version=1)),
    (b"PROXY UNKNOWN\r\n", ProxyHeader(version=1)),  # 15 chars
]
# Lines that decode but are written another way: UNKNOWN's tail "must" be ignored.
V1_DECODE_ONLY: list[tuple[bytes, ProxyHeader]] = [
    (b"PROXY UNKNOWN " + F39 + b" " + F39 + b" 65535 65535\r\n",
     ProxyHeader(version=1)),  # the 107-char worst case
    (b"PROXY UNKNOWN anything at all\r\n", ProxyHeader(version=1)),
    (b"PROXY TCP6 FFFF::1 ::FFFF:1.2.3.4 1 2\r\n",  # upper case hex; IPv4-embedded form
     ProxyHeader(Command.PROXY, Family.INET6, Transport.STREAM, (V6("ffff::1"), 1), (V6("::ffff:1.2.3.4"), 2),
                 version=1)),
]

SIG = SIGNATURE.hex(" ")
V2_VECTORS: list[tuple[str, ProxyHeader]] = [
    # \x21 \x11: PROXY, TCP over IPv4; len 12 = 2*4 + 2*2 (spec 2.2)
    (f"{SIG} 21 11 00 0c c0 a8 00 01 c0 a8 00 0b dc 04 01 bb",
     ProxyHeader(Command.PROXY, Family.INET, Transport.STREAM, (V4("192.168.0.1"), 56324),
                 (V4("192.168.0.11"), 443))),
    # \x12: UDP over IPv4
    (f"{SIG} 21 12 00 0c 0a 00 00 01 0a 00 00 02 00 35 00 35",
     ProxyHeader(Command.PROXY, Family.INET, Transport.DGRAM, (V4("10.0.0.1"), 53), (V4("10.0.0.2"), 53))),
    # \x21 \x21: TCP over IPv6, len 36
    (f"{SIG} 21 21 00 24 20 01 0d b8" + " 00" * 11 + " 01 20 01 0d b8" + " 00" * 11 + " 02 00 01 00 02",
     ProxyHeader(Command.PROXY, Family.INET6, Transport.STREAM, (V6("2001:db8::1"), 1),
                 (V6("2001:db8::2"), 2))),
    # \x31: UNIX stream, len 216 = 2*108
    (f"{SIG} 21 31 00 d8 2f 61" + " 00" * 106 + " 00 62" + " 00" * 106,
     ProxyHeader(Command.PROXY, Family.UNIX, Transport.STREAM, b"/a", b"\x00b")),  # \0b: an abstract name
    # \x20 \x00: LOCAL, UNSPEC, no address: HAProxy's health checks
    (f"{SIG} 20 00 00 00", ProxyHeader(Command.LOCAL)),
    # LOCAL with TLVs after zero address bytes, as HAProxy sends with send-proxy-v2-ssl
    (f"{SIG} 20 00 00 0b 05 00 03 61 62 63 04 00 02 00 00",
     ProxyHeader(Command.LOCAL, tlvs=(TLV(TLVType.UNIQUE_ID, b"abc"), TLV(TLVType.NOOP, b"\x00\x00")))),
    # PROXY with TLVs: ALPN "h2", AUTHORITY, NETNS, a custom type 0xE0 and an empty one
    (f"{SIG} 21 11 00 2c 7f 00 00 01 7f 00 00 02 00 50 01 bb 01 00 02 68 32"
     " 02 00 0b 65 78 61 6d 70 6c 65 2e 63 6f 6d 30 00 03 6e 73 31 e0 00 01 ff f8 00 00",
     ProxyHeader(Command.PROXY, Family.INET, Transport.STREAM, (V4("127.0.0.1"), 80), (V4("127.0.0.2"), 443),
                 (TLV(TLVType.ALPN, b"h2"), TLV(TLVType.AUTHORITY, b"example.com"),
                  TLV(TLVType.NETNS, b"ns1"), TLV(0xE0, b"\xff"), TLV(0xF8, b"")))),
]
ALL = [(w, h) for w, h in V1_VECTORS] + [(bytes.fromhex(w), h) for w, h in V2_VECTORS]
IDS = [f"v{h.version}-{h.command.name}-{h.family.name}-{len(w)}" for w, h in ALL]


@pytest.mark.parametrize(("wire", "header"), ALL, ids=IDS)
def test_encode(wire: bytes, header: ProxyHeader) -> None:
    assert encode(header) == wire


@pytest.mark.parametrize(("wire", "header"), ALL + V1_DECODE_ONLY,
                         ids=[*IDS, "v1-long", "v1-tail", "v1-upper"])
def test_decode_whole_and_with_application_bytes(wire: bytes, header: ProxyHeader) -> None:
    assert decode(wire) == (header, len(wire))
    assert decode(bytearray(wire) + b"GET / HTTP/1.1\r\n\r\n") == (header, len(wire))
    assert len(wire) <= MAX_V1_LENGTH or header.version == 2


@pytest.mark.parametrize(("wire", "header"), ALL, ids=IDS)
def test_every_prefix_is_incomplete(wire: bytes, header: ProxyHeader) -> None:
    for end in range(len(wire)):
        assert decode(wire[:end]) is None


@pytest.mark.parametrize(("wire", "header"), ALL, ids=IDS)
def test_receiver_byte_by_byte(wire: bytes, header: ProxyHeader) -> None:
    receiver = Receiver()
    stream = wire + b"\x16\x03\x01"  # a TLS record right behind the header
    for i in range(len(wire) - 1):
        receiver.receive_data(stream[i : i + 1])
        assert receiver.next_event() is NEED_DATA
    receiver.receive_data(stream[len(wire) - 1 :])
    assert receiver.next_event() == header
    assert receiver.header == header
    assert receiver.trailing_data == (b"\x16\x03\x01", False)


def test_receiver_refuses_eof_inside_the_header() -> None:
    receiver = Receiver()
    receiver.receive_data(b"PROXY TCP4 1.2.3.4")
    assert receiver.next_event() is NEED_DATA
    receiver.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="closed 18 bytes into the header"):
        receiver.next_event()
    with pytest.raises(RemoteProtocolError):
        receiver.next_event()


def test_builders() -> None:
    assert ProxyHeader.proxy(("192.168.0.1", 56324), ("192.168.0.11", 443), version=1) == TCP4
    header = ProxyHeader.proxy(("::1", 1), ("::2", 2), transport=Transport.DGRAM)
    assert (header.family, header.transport, header.version) == (Family.INET6, Transport.DGRAM, 2)
    assert ProxyHeader.local() == ProxyHeader(Command.LOCAL)
