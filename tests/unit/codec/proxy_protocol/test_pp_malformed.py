"""Headers the spec says to refuse raise RemoteProtocolError with the right Reason, as early as the
bytes allow; headers the versions cannot carry raise LocalProtocolError."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from pipework.codec.proxy_protocol import (
    SIGNATURE,
    TLV,
    Command,
    Family,
    LocalProtocolError,
    ProxyHeader,
    ProxyProtocolError,
    Reason,
    Receiver,
    RemoteProtocolError,
    TLVType,
    Transport,
    decode,
    encode,
)

SIG = SIGNATURE.hex(" ")
INET = "7f 00 00 01 7f 00 00 02 00 50 01 bb"  # 127.0.0.1:80 -> 127.0.0.2:443


def v2(ver_cmd: str, fam: str, body: str) -> bytes:
    raw = bytes.fromhex(body)
    return bytes.fromhex(f"{SIG} {ver_cmd} {fam}") + len(raw).to_bytes(2, "big") + raw


# (bytes, reason, why)
BAD: list[tuple[bytes, Reason, str]] = [
    (b"GET / HTTP/1.1\r\n", Reason.SIGNATURE, "no header: never guess (spec 2)"),
    (b"\x16\x03\x01", Reason.SIGNATURE, "a TLS ClientHello"),
    (b"PROX ", Reason.SIGNATURE, "refused before the line ends"),
    (b"PROXYTCP4", Reason.SIGNATURE, "'exactly one space' after PROXY"),
    (b"\r\n\r\n\x00\r\nQUIX", Reason.SIGNATURE, "a broken v2 signature"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", Reason.LINE, "a lone LF"),
    (b"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", Reason.LINE, "a lone CR inside"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", Reason.LINE, "CR not followed by LF"),
    (b"PROXY UNKNOWN " + b"x" * 100, Reason.LINE, "no CRLF in 107 bytes"),
    (b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", Reason.LINE, "two spaces"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", Reason.LINE, "a port missing"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", Reason.LINE, "a field too many"),
    (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", Reason.FAMILY, "no TCP5"),
    (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", Reason.FAMILY, "the protocol word is upper case"),
    (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", Reason.FAMILY, "v1 has no UDP"),
    (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", Reason.ADDRESS, "heading zeroes in IPv4 (octal confusion)"),
    (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", Reason.ADDRESS, "an IPv4 number over 255"),
    (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", Reason.ADDRESS, "IPv6 under TCP4"),
    (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", Reason.ADDRESS, "IPv4 under TCP6"),
    (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", Reason.ADDRESS, "an IPv6 zone"),
    (b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", Reason.ADDRESS, "more than 128 bits"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", Reason.ADDRESS, "heading zeroes in a port"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", Reason.ADDRESS, "a port over 65535"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", Reason.ADDRESS, "a signed port"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", Reason.ADDRESS, "a negative port"),
    (bytes.fromhex(f"{SIG} 11"), Reason.VERSION, "version 1 in the binary format, seen at byte 13"),
    (v2("31", "11", INET), Reason.VERSION, "'the receiver must only accept' version 2"),
    (v2("22", "11", INET), Reason.COMMAND, "command 2 is unassigned"),
    (v2("2f", "11", INET), Reason.COMMAND, "command 15"),
    (v2("21", "41", INET), Reason.FAMILY, "family 4 'must be rejected as invalid'"),
    (v2("21", "13", INET), Reason.FAMILY, "transport 3"),
    (v2("21", "11", "7f 00 00 01"), Reason.ADDRESS, "PROXY with no room for its addresses"),
    (v2("21", "21", INET), Reason.ADDRESS, "12 bytes cannot hold IPv6 addresses"),
    (v2("21", "11", INET + " 01 00"), Reason.TLV, "two bytes after the addresses"),
    (v2("21", "11", INET + " 01 00 05 68 32"), Reason.TLV, "a TLV that runs past the header"),
    (v2("21", "11", INET + " 03 00 02 00 00"), Reason.TLV, "a 16-bit CRC32C"),
    (v2("21", "11", INET + " 03 00 04 00 00 00 00 03 00 04 00 00 00 00"), Reason.TLV, "two CRC32C TLVs"),
    (v2("21", "11", INET + " 05 00 81" + " 41" * 129), Reason.TLV, "a unique ID over 128 bytes"),
    (v2("21", "11", INET + " 02 00 02 c3 28"), Reason.TLV, "an authority that is not UTF-8"),
    (v2("21", "11", INET + " 30 00 01 e9"), Reason.TLV, "a netns that is not US-ASCII"),
    (v2("21", "11", INET + " 20 00 04 01 00 00 00"), Reason.TLV, "an SSL TLV shorter than client+verify"),
    (v2("21", "11", INET + " 20 00 08 01 00 00 00 00 21 00 09"), Reason.TLV, "an SSL sub-TLV past its end"),
    (v2("21", "11", INET + " 20 00 09 01 00 00 00 00 21 00 01 ff"), Reason.TLV, "an SSL version not ASCII"),
    (v2("21", "11", INET + " 03 00 04 12 34 56 78"), Reason.CHECKSUM, "a CRC32C that does not match"),
]


@pytest.mark.parametrize(("wire", "reason", "why"), BAD, ids=[w for _, _, w in BAD])
def test_refused(wire: bytes, reason: Reason, why: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode(wire)
    assert info.value.reason is reason
    assert isinstance(info.value, ProxyProtocolError)
    receiver = Receiver()
    receiver.receive_data(wire)
    with pytest.raises(RemoteProtocolError):
        receiver.next_event()


def test_checksum_verification_can_be_skipped() -> None:
    wire = v2("21", "11", INET + " 03 00 04 12 34 56 78")
    result = decode(wire, verify_checksum=False)
    assert result is not None
    assert result[0].crc32c == 0x12345678


def test_local_with_a_short_block_is_discarded_whole() -> None:
    # "Receivers MUST always consider this field to skip the appropriate number of bytes".
    wire = v2("20", "11", "01 02 03")
    assert decode(wire + b"app") == (ProxyHeader(Command.LOCAL, Family.INET, Transport.STREAM), len(wire))


def test_size_limit_is_checked_on_the_head() -> None:
    head = bytes.fromhex(f"{SIG} 21 11 ff ff")  # announces 65535 more bytes
    assert decode(head) is None
    with pytest.raises(RemoteProtocolError, match="exceeds the limit of 536") as info:
        decode(head, max_size=536)  # e.g. the smallest TCP segment, as the spec's design goal
    assert info.value.reason is Reason.TOO_LONG


def test_configured_versions_only() -> None:
    with pytest.raises(RemoteProtocolError, match="accepts \\[2\\]") as info:
        decode(b"PROXY UNKNOWN\r\n", versions={2})
    assert info.value.version == 1
    with pytest.raises(RemoteProtocolError):
        decode(v2("20", "00", ""), versions={1})
    with pytest.raises(LocalProtocolError):
        Receiver(versions={3})
    with pytest.raises(LocalProtocolError):
        Receiver(versions=())


def test_receiver_misuse() -> None:
    receiver = Receiver()
    receiver.receive_data(b"PROXY UNKNOWN\r\n")
    assert receiver.next_event() == ProxyHeader(version=1)
    with pytest.raises(LocalProtocolError, match="already returned"):
        receiver.next_event()
    receiver.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        receiver.receive_data(b"more")


IP4 = (IPv4Address("192.0.2.1"), 1)
IP6 = (IPv6Address("2001:db8::1"), 1)
UNSENDABLE: list[tuple[ProxyHeader, str]] = [
    (ProxyHeader(Command.LOCAL, version=1), "v1 has no LOCAL"),
    (ProxyHeader(Command.PROXY, Family.UNIX, Transport.STREAM, b"/a", b"/b", version=1), "v1 has no UNIX"),
    (ProxyHeader(Command.PROXY, Family.INET, Transport.DGRAM, IP4, IP4, version=1), "v1 has no UDP"),
    (ProxyHeader(version=1, tlvs=(TLV(1, b"h2"),)), "v1 has no TLVs"),
    (ProxyHeader(Command.PROXY, Family.INET, Transport.STREAM, IP6, IP4), "IPv6 under INET"),
    (ProxyHeader(Command.PROXY, Family.INET6, Transport.STREAM, IP6, None), "a missing address"),
    (ProxyHeader(Command.PROXY, Family.INET, Transport.STREAM, (IP4[0], 70000), IP4), "a port over 65535"),
    (ProxyHeader(Command.PROXY, Family.UNSPEC, source=IP4), "UNSPEC with an address"),
    (ProxyHeader(Command.PROXY, Family.UNIX, Transport.STREAM, b"x" * 109, b"/b"), "a UNIX path over 108"),
    (ProxyHeader(tlvs=(TLV(TLVType.UNIQUE_ID, b"x" * 129),)), "a unique ID over 128"),
    (ProxyHeader(tlvs=(TLV(256, b""),)), "a TLV type over 255"),
    (ProxyHeader(tlvs=(TLV(0xE0, b"x" * 65536),)), "a TLV value over 65535"),
    (ProxyHeader(tlvs=(TLV(0xE0, b"x" * 65000), TLV(0xE1, b"x" * 1000))), "a header over 65535"),
    (ProxyHeader(version=3), "no version 3"),
]


@pytest.mark.parametrize(("header", "why"), UNSENDABLE, ids=[w for _, w in UNSENDABLE])
def test_unsendable(header: ProxyHeader, why: str) -> None:
    with pytest.raises(LocalProtocolError):
        encode(header)


def test_no_checksum_in_v1() -> None:
    with pytest.raises(LocalProtocolError):
        encode(ProxyHeader(version=1), checksum=True)
